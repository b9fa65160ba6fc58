# AnimeGAN WebUI: the web app on a CPU.
#   cp -r ../shared/weights/* weights/      # weight files into the build context (verified against weights/manifest.json)
#   docker build -t animegan-webui .
#   docker run -p 7860:7860 animegan-webui  # then open http://localhost:7860
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860

# OpenCV's shared-library needs; nothing else is installed from apt.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The same two steps as `make setup` (see Makefile). PyTorch's CPU index lets pip pick the CPU-only build of
# the pinned torch/torchvision (2.14.1+cpu matches ==2.14.1); pass --build-arg TORCH_INDEX_URL= to use PyPI's.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements.txt \
 && pip install --no-deps --no-build-isolation -r requirements-nodeps.txt

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin anime

COPY animegan/ animegan/
COPY examples/ examples/
COPY app.py pyproject.toml ./
COPY docker/prepare.py docker/prepare.py
# Weights from the build context; docker/prepare.py fails the build if a style's weight file is missing or corrupt.
COPY weights/ weights/

ENV PYTHONPATH=/app \
    ANIMEGAN_PREVIEW_DIR=/app/previews \
    ANIMEGAN_MODEL_CACHE_DIR=/app/models \
    ANIMEGAN_CACHE_DIR=/tmp/animegan/results \
    ANIMEGAN_DOWNLOAD_DIR=/tmp/animegan/weights \
    GRADIO_TEMP_DIR=/tmp/gradio
# Also builds the fast models (ONNX export, checked INT8: `python -m animegan prepare`) so the first request uses them.
RUN python docker/prepare.py && chown -R anime:anime /app/previews /app/models

USER anime
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)" || exit 1
CMD ["python", "app.py"]
