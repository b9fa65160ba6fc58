#!/bin/sh
# PyTorch and what runs on it, as `make setup` installs them (see Makefile): requirements-torch.txt, then the
# packages whose metadata asks for more than they use. TORCH_INDEX_URL (PyTorch's CPU index by default in the
# Dockerfile) lets pip take the CPU-only build of the pinned torch/torchvision (2.14.1+cpu matches ==2.14.1);
# empty, pip takes PyPI's torch (the CUDA build).
set -eu
pip install -q ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements-torch.txt
pip install -q --no-deps --no-build-isolation -r requirements-nodeps.txt
# PyTorch's own C++ unit tests and headers (~125 MB in the CPU wheel) serve only testing PyTorch and compiling
# extensions (or torch.compile, which this project does not use).
torch_dir=$(python -c "import importlib.util; print(importlib.util.find_spec('torch').submodule_search_locations[0])")
rm -rf "$torch_dir/test" "$torch_dir/include"
