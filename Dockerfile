# AnimeGAN WebUI: the web app on a CPU (README, "Docker"). The build downloads and verifies the weights.
#   docker build -t animegan-webui .                                                   # full: CPU-only PyTorch
#   docker build --build-arg RUNTIME=lite --build-arg TORCH_INDEX_URL= -t animegan-webui .   # PyPI only: no torch
#   docker run --rm -p 7860:7860 animegan-webui                                        # open http://localhost:7860

# ---- runtime: what the image runs (no apt packages: headless OpenCV) ---------------------------------------------
FROM python:3.11-slim AS runtime
# full: CPU-only PyTorch in the image, every feature. lite: no torch at all (upscaling and `--backend torch` are
# unavailable), for where only PyPI is reachable: its torch is the CUDA build, 4 GB of GPU libraries that cannot
# run here, so it is only used to build the models and is not kept.
ARG RUNTIME=full
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app
COPY requirements.txt requirements-torch.txt requirements-nodeps.txt docker/install-torch.sh ./
RUN case "$RUNTIME" in full|lite) ;; *) echo "RUNTIME must be full or lite, not '$RUNTIME'"; exit 1 ;; esac \
 && pip install -q -r requirements.txt \
 && if [ "$RUNTIME" = full ]; then ./install-torch.sh; fi

# ---- build: verify the weights, build the derived models and previews (only those are kept) ----------------------
FROM runtime AS build
ARG RUNTIME=full
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN if [ "$RUNTIME" = lite ]; then ./install-torch.sh; fi
COPY animegan/ animegan/
COPY examples/ examples/
COPY docker/prepare.py docker/prepare.py
# Weight files already in the build context's weights/ are used as they are (verified against the manifest).
COPY weights/ weights/
ENV PYTHONPATH=/app \
    ANIMEGAN_MODEL_CACHE_DIR=/app/models \
    ANIMEGAN_PREVIEW_DIR=/app/previews \
    ANIMEGAN_DOWNLOAD_DIR=/app/weights
# The rest come from their public sources, verified, converted locally where needed (README, "Weights"); `lite`
# cannot upscale, so it takes no upscaler. ANIMEGAN_WEIGHTS_MIRROR=http://host:port fetches through a mirror.
ARG ANIMEGAN_WEIGHTS_MIRROR=
ARG WEIGHTS=
RUN ANIMEGAN_WEIGHTS_MIRROR="$ANIMEGAN_WEIGHTS_MIRROR" python -m animegan weights --download \
      ${WEIGHTS:-$([ "$RUNTIME" = lite ] && echo anime face || echo all)} \
 && rm -rf /app/weights/.sources
# Fails the build with the manifest's fix-it message if a style's weight file is missing or corrupt; builds every
# derived model (ONNX exports, checked INT8 as animegan/backends/int8_speed.json says, statistics graphs, the fast
# upscalers' onnxruntime models) and the previews, one log line each.
RUN python docker/prepare.py && chmod -R a+rX /app/weights /app/models /app/previews

# ---- the app -----------------------------------------------------------------------------------------------------
FROM runtime
ENV PYTHONPATH=/app \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_TEMP_DIR=/tmp/gradio \
    ANIMEGAN_WEIGHTS_PATH=/weights \
    ANIMEGAN_MODEL_CACHE_DIR=/app/models \
    ANIMEGAN_PREVIEW_DIR=/app/previews \
    ANIMEGAN_CACHE_DIR=/tmp/animegan/results \
    ANIMEGAN_DOWNLOAD_DIR=/tmp/animegan/weights \
    HOME=/tmp
COPY animegan/ animegan/
COPY examples/ examples/
COPY app.py ./
COPY --from=build /app/weights/ weights/
COPY --from=build /app/models/ models/
COPY --from=build /app/previews/ previews/
# Any UID may run it (`--user 12345:0`, OpenShift): /app is root's and readable by all, and nothing under it is
# written at run time, only /tmp and the volumes of README, "Docker" (/cache is writable by group 0, so a
# named volume mounted there is too).
RUN useradd --uid 1000 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin anime \
 && install -d -m 0775 -o root -g 0 /cache
USER 1000:0
EXPOSE 7860
# app.py stops on SIGTERM (`docker stop`) in about a second, cancelling the request in flight.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py"]
