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

.PHONY: setup run test lint bench system clean
.PHONY: browser-runtime

setup: $(VENV)/.installed
setup: browser-runtime

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
$(VENV)/.installed: requirements-ray.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (torch wheels here are for CPython 3.11)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -r requirements-ray.txt
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
	@command -v nginx >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nginx; }

# Weights missing from the search path are downloaded from their public sources and verified (offline: the app
# starts anyway and says what is missing); `prepare` builds the fast models once; later runs find both in place.
run: setup
	-$(PY) -m animegan weights --download all
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
