# `make run` sets everything up once (cached) and starts the app; `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Weights are found through the manifest + this search path (never committed, never downloaded in tests).
export ANIMEGAN_WEIGHTS_PATH ?= $(abspath ../shared/weights)
export ANIMEGAN_TEST_PHOTOS ?= $(abspath ../shared/photos)
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup run test lint bench system clean
.PHONY: browser-runtime

setup: $(VENV)/.installed
setup: browser-runtime

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (torch wheels here are for CPython 3.11)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Private mode's browser runtime: onnxruntime-web from the lockfile; the app serves only these files (one folder).
ORT_DIST := browser_runtime/node_modules/onnxruntime-web/dist
browser-runtime: browser_runtime/vendor/.installed
browser_runtime/vendor/.installed: browser_runtime/package.json browser_runtime/package-lock.json
	cd browser_runtime && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf browser_runtime/vendor && mkdir -p browser_runtime/vendor
	cp $(ORT_DIST)/ort.min.mjs $(ORT_DIST)/ort-wasm-simd-threaded.jsep.mjs $(ORT_DIST)/ort-wasm-simd-threaded.jsep.wasm browser_runtime/vendor/
	touch $@

# Debian packages the tests need: Chromium for the browser tests, ffmpeg for video.
system:
	@command -v chromium >/dev/null && command -v ffmpeg >/dev/null || { \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    chromium fonts-noto-color-emoji ffmpeg; }

# `prepare` builds the fast models (ONNX export, checked INT8) once; later runs find them cached.
run: setup
	$(PY) -m animegan prepare
	$(PY) app.py

test: setup system
	$(PY) -m ruff check .
	$(PY) -m pytest

bench: setup
	$(PY) bench/speed.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
	rm -rf browser_runtime/node_modules browser_runtime/vendor
