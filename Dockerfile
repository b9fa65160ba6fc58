# AnimeGAN WebUI: the web app on a CPU, every feature, no PyTorch at run time (docs/docker.md).
#   docker build -t animegan-webui .                  # downloads and verifies the weights (files in weights/ are used)
#   docker run --rm -p 7860:7860 animegan-webui       # open http://localhost:7860
# Everything comes from PyPI, Debian and npm. ARG TORCH_INDEX_URL (e.g. PyTorch's CPU index) only speeds up the
# build stage: torch there builds the models and is not kept.

# ---- runtime: what the image runs (onnxruntime, OpenVINO, Gradio; no apt packages: headless OpenCV) ---------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app
COPY requirements.txt ./
# Trimmed: what never runs on a CPU (OpenVINO's GPU and NPU plugins) and its readers of formats other than ONNX.
RUN pip install -q -r requirements.txt \
 && cd "$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/openvino/libs" \
 && rm -f libopenvino_intel_gpu_plugin.so libopenvino_intel_npu_plugin.so \
          libopenvino_tensorflow_frontend.so* libopenvino_tensorflow_lite_frontend.so* libopenvino_pytorch_frontend.so* \
          libopenvino_jax_frontend.so* libopenvino_paddle_frontend.so* libopenvino_gguf_frontend.so*

# ---- build: PyTorch (to export the models), npm (the browser runtime), then the weights and every derived model ---
FROM runtime AS build
ARG TORCH_INDEX_URL=
COPY requirements-torch.txt requirements-nodeps.txt docker/install-torch.sh ./
RUN ./install-torch.sh
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make npm > /dev/null
COPY browser_runtime/package.json browser_runtime/package-lock.json browser_runtime/
COPY Makefile ./
RUN make browser-runtime
COPY animegan/ animegan/
COPY examples/ examples/
COPY docker/prepare.py docker/prepare.py
# Weight files already in the build context's weights/ are used as they are (verified against the manifest).
COPY weights/ weights/
ENV PYTHONPATH=/app \
    ANIMEGAN_MODEL_CACHE_DIR=/app/models \
    ANIMEGAN_MEASURE_DIR=/tmp/build-measurements \
    ANIMEGAN_PREVIEW_DIR=/app/previews \
    ANIMEGAN_DOWNLOAD_DIR=/app/weights
# The rest come from their public sources, verified, converted locally where needed (README, "Weights");
# ANIMEGAN_WEIGHTS_MIRROR=http://host:port fetches through a mirror. A missing optional upscaler is left out.
ARG ANIMEGAN_WEIGHTS_MIRROR=
# One log line per model: the ONNX exports, the checked INT8 models, the statistics graphs, every upscaler's models.
RUN ANIMEGAN_WEIGHTS_MIRROR="$ANIMEGAN_WEIGHTS_MIRROR" python docker/prepare.py --download \
 && rm -rf /app/weights/.sources /app/models/*.lock \
 && chmod -R a+rX /app/weights /app/models /app/previews

# ---- the app -----------------------------------------------------------------------------------------------------
FROM runtime
ENV PYTHONPATH=/app \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_TEMP_DIR=/tmp/gradio \
    ANIMEGAN_WEIGHTS_PATH=/weights \
    ANIMEGAN_MODEL_CACHE_DIR=/app/models \
    ANIMEGAN_MEASURE_DIR=/tmp/animegan/measured \
    ANIMEGAN_PREVIEW_DIR=/app/previews \
    ANIMEGAN_CACHE_DIR=/tmp/animegan/results \
    ANIMEGAN_DOWNLOAD_DIR=/tmp/animegan/weights \
    HOME=/tmp
COPY animegan/ animegan/
COPY browser_runtime/__init__.py browser_runtime/installable.py browser_runtime/serving.py browser_runtime/
COPY browser_runtime/static/ browser_runtime/static/
COPY --from=build /app/browser_runtime/vendor/ browser_runtime/vendor/
COPY examples/ examples/
COPY app.py ./
COPY webui/ webui/
COPY --from=build /app/weights/ weights/
COPY --from=build /app/models/ models/
COPY --from=build /app/previews/ previews/
# Any UID may run it (`--user 12345:0`, OpenShift): /app is root's and readable by all, and nothing under it is
# written at run time, only /tmp (the backends measured on this CPU, at first use) and the volumes of
# docs/docker.md (/cache is writable by group 0, so a named volume mounted there is too).
RUN useradd --uid 1000 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin anime \
 && install -d -m 0775 -o root -g 0 /cache
USER 1000:0
EXPOSE 7860
# app.py stops on SIGTERM (`docker stop`) in about a second, cancelling the request in flight.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py"]
