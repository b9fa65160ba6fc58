# `make run` sets everything up once (cached) and starts the app; `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Weights are found through the manifest + a search path (never committed; tests never reach the internet).
# The project's own machines keep every verified file in ../shared/weights; elsewhere `make run` downloads them.
export ANIMEGAN_WEIGHTS_PATH ?= $(if $(wildcard ../shared/weights),$(abspath ../shared/weights))
export ANIMEGAN_TEST_PHOTOS ?= $(abspath ../shared/photos)
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup setup-dev mobile mobile-tools run test test-fast lint bench system clean browser-runtime podman docker-base docker-test docker-clean

setup: $(VENV)/.installed
setup: browser-runtime

# requirements.txt is the runtime, requirements-torch.txt PyTorch and what runs on it, the weight installer and its
# converters (README, "Docker"), requirements-ray.txt the optional cluster engine (README, "Scaling out").
$(VENV)/.installed: requirements.txt requirements-torch.txt requirements-ray.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (torch wheels here are for CPython 3.11)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@# an older set-up installed OpenCV's GUI build, which shares the cv2 folder with the headless one
	! $(PY) -m pip show -q opencv-python 2>/dev/null || $(PY) -m pip uninstall -q -y opencv-python opencv-python-headless
	$(PY) -m pip install -q -r requirements.txt -r requirements-torch.txt -r requirements-ray.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Private mode's browser runtime: onnxruntime-web from the lockfile; the app serves only these files (one folder).
ORT_DIST := browser_runtime/node_modules/onnxruntime-web/dist
# The WebGPU + WebAssembly build (where the browser has WebGPU) and the WebAssembly-only one (half the size).
ORT_FILES := ort.min.mjs ort-wasm-simd-threaded.jsep.mjs ort-wasm-simd-threaded.jsep.wasm \
	ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm
browser-runtime: browser_runtime/vendor/.installed
browser_runtime/vendor/.installed: browser_runtime/package.json browser_runtime/package-lock.json Makefile
	cd browser_runtime && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf browser_runtime/vendor && mkdir -p browser_runtime/vendor
	cp $(addprefix $(ORT_DIST)/,$(ORT_FILES)) browser_runtime/vendor/
	touch $@

# Test and lint tools, on top of the set-up.
setup-dev: setup $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Mobile exports (docs/mobile.md): pnnx, ncnn and LiteRT in .venv; TensorFlow, for the TFLite converter, in its own
# environment (its numpy and protobuf pins differ from ours).
MOBILE_VENV ?= .venv-mobile
mobile: $(VENV)/.mobile-installed mobile-tools

$(VENV)/.mobile-installed: $(VENV)/.installed requirements-mobile.txt
	$(PY) -m pip install -q -r requirements-mobile.txt
	touch $@

mobile-tools: $(MOBILE_VENV)/.installed
$(MOBILE_VENV)/.installed: requirements-mobile-tools.txt
	[ -x $(MOBILE_VENV)/bin/python ] || $(PYTHON) -m venv $(MOBILE_VENV)
	$(MOBILE_VENV)/bin/python -m pip install -q -r requirements-mobile-tools.txt
	touch $@

# Debian packages the tests need: Chromium for the browser tests, ffmpeg for video, nginx for the proxy tests.
system:
	@command -v chromium >/dev/null && command -v ffmpeg >/dev/null || { \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    chromium fonts-noto-color-emoji ffmpeg; }
	@command -v nginx >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nginx; }

# Weights missing from the search path are downloaded from their public sources and verified (offline: the app
# starts anyway and says what is missing); `prepare` builds the fast models once; later runs find both in place.
run: setup
	-$(PY) -m animegan weights --download all
	$(PY) -m animegan prepare
	$(PY) app.py

# Everything, the Docker image built and run with podman included (docker-base installs podman where it is missing).
test: setup-dev mobile system docker-base lint
	ANIMEGAN_DOCKER_TEST=1 $(PY) -m pytest

# ruff, and mypy over animegan/ and app.py (configured in pyproject.toml).
lint: setup-dev
	$(PY) -m ruff check .
	$(PY) -m mypy

# The edit–test loop (2–3 minutes on 2 cores, on the set-up `make test` made): ruff, mypy, the unit tests and the model tests
# not marked `slow`. A model test is `slow` when it takes more than ~5 s on 2 cores: every-photo sweeps, conversions of
# the upstream originals, OpenVINO and int8 builds, the big upscalers, 4K and tiled-vs-untiled comparisons.
# CI runs everything (`make test`).
test-fast: lint
	$(PY) -m pytest tests/unit tests/models -m "not slow"

bench: setup
	$(PY) bench/speed.py

clean:
	rm -rf $(VENV) $(MOBILE_VENV) .pytest_cache test-artifacts
	rm -rf browser_runtime/node_modules browser_runtime/vendor

# ---- The Docker image, built and run for real with podman (README, "Docker"); as root. ----
# Podman keeps its images in /var/lib/containers/storage (docker/podman/storage.conf).
export CONTAINERS_CONF := $(abspath docker/podman/containers.conf)
export CONTAINERS_STORAGE_CONF := $(abspath docker/podman/storage.conf)
SHARED ?= $(abspath ../shared)

podman:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap uidmap \
	    fuse-overlayfs slirp4netns containernetworking-plugins; }

# No image registry is reachable from our machines: python:3.11-slim is made locally once, then reused.
docker-base: podman
	docker/make-base-image.sh $(SHARED)/tools/make-python-base.sh

# Builds the image (weights from ../shared/weights), runs it hardened, checks it, then removes the container.
docker-test: setup-dev docker-base
	ANIMEGAN_DOCKER_TEST=1 $(PY) -m pytest tests/docker -v -p no:cacheprovider

# The test image, its build cache (untagged layers) and the base image.
docker-clean:
	-podman rm -f animegan-test-hardened
	-podman volume rm -f animegan-test-cache
	-podman rmi -f localhost/animegan-webui:test docker.io/library/python:3.11-slim
	podman image prune -f
