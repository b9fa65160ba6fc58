"""``torch-bf16``: the v2 generator compiled ahead of time by TorchInductor, convolutions in bfloat16.

On a CPU with native bfloat16 instructions (AVX512-BF16 or AMX: AMD Zen 4, Intel Sapphire Rapids and later)
oneDNN runs bf16 convolutions about twice as fast as fp32, and Inductor fuses every normalization, activation
and padding around them (docs/speed.md, "Fourth round"). The package (a ``.pt2`` with a compiled ``.so``) is built
once per weight file by ``python -m animegan prepare`` (about a minute on two cores), checked against the fp32
export like an INT8 build and cached as a derived model; it then loads in 0.02 s (plus torch's import). Without native bf16 it
still runs, emulated and slower, so ``auto`` takes it only on such a CPU. This module is optional: deleting it
(and its name in :mod:`animegan.backends`) leaves every other backend as it is.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import FloatArray, GlobalNormBackend

NAME = "torch-bf16"
SUFFIX = ".pt2"
ALIGN, MIN_SIDE, MAX_SIDE = 8, 32, 16384
"""The package takes heights and widths that are multiples of ``ALIGN`` in this range (the v2 styles' size rule);
:meth:`CompiledBackend.run` reflect-pads other sizes and crops the result."""
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of CPUs that run bf16 dot products natively."""


@functools.cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux's ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    return frozenset(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bfloat16 arithmetic."""
    return bool(NATIVE_BF16_FLAGS & cpu_flags(cpuinfo))


def kind(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The derived-model kind of a package built here: Inductor compiles for the vector instructions of the CPU it
    builds on, so the kind names them (a short hash) and a model cache shared with another CPU builds its own."""
    vector = " ".join(sorted(f for f in cpu_flags(cpuinfo) if f.startswith(("avx", "amx", "fma", "sse", "f16c"))))
    return f"{NAME}-{hashlib.sha256(vector.encode()).hexdigest()[:8]}"


def build(generator: Any, dst: Path, fp32: GlobalNormBackend, threads: int) -> dict[str, Any]:
    """Compile ``generator`` (NCHW, fp32 weights) as an NHWC bf16 AOTInductor package at ``dst`` (dynamic height
    and width), then the quality guard against ``fp32`` (its fp32 export) on the example photos; returns the record
    facts."""
    import torch
    import torch._inductor.config as inductor

    from ..archs.layout import Bf16, Nhwc
    from . import derived
    from .torch_backend import set_torch_threads

    set_torch_threads(threads)
    model = Bf16(Nhwc(generator.eval())).eval()
    feeds = [(img * 2 - 1)[None].astype(np.float32) for img in derived.calibration_images()]
    blocks_h, blocks_w = (torch.export.Dim(n, min=MIN_SIDE // ALIGN, max=MAX_SIDE // ALIGN) for n in ("h", "w"))
    shapes = {"x": {1: ALIGN * blocks_h, 2: ALIGN * blocks_w}}  # free sizes give guards export cannot prove
    with torch.inference_mode():
        program = torch.export.export(model, (torch.from_numpy(feeds[0]),), dynamic_shapes=shapes)
    with inductor.patch(freezing=True):  # weights become constants: oneDNN prepacks them, fuses pointwise ops
        torch._inductor.aoti_compile_and_package(program, package_path=str(dst))
    return derived.quality_guard(fp32, CompiledBackend(dst, threads, lambda: fp32), feeds, (-1.0, 1.0))


class CompiledBackend:
    """Runs a ``torch-bf16`` package, loaded (with torch) on the first :meth:`run`: a full-resolution job, whose tiles
    go through ``global_norm`` (the fp32 statistics graph, opened on first use, so tiles match the untiled result),
    never pays torch's ≈ 0.5 GB. Calls are serialized (one compiled model instance; two cores gain nothing from two)."""

    name = NAME

    def __init__(self, path: Path, threads: int, global_norm: Callable[[], GlobalNormBackend]) -> None:
        self.path, self.threads = path, threads
        self._runner: Any = None
        self._lock = threading.Lock()
        self._global_norm = global_norm
        self._stats_backend: GlobalNormBackend | None = None

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        import torch

        from .torch_backend import set_torch_threads

        h, w = x_nhwc.shape[1:3]
        pad_h, pad_w = (max(MIN_SIDE, -(-n // ALIGN) * ALIGN) - n for n in (h, w))  # up to the package's grid
        if pad_h or pad_w:
            x_nhwc = np.pad(x_nhwc, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc, dtype=np.float32))
        with self._lock, torch.inference_mode():
            if self._runner is None:
                set_torch_threads(self.threads)
                # the C++ loader under torch._inductor.aoti_load_package: 0.02 s, where importing Inductor takes 1.4 s
                self._runner = torch._C._aoti.AOTIModelPackageLoader(str(self.path), "model", False, 1, -1)
            (y,) = self._runner.boxed_run([x])
        return np.ascontiguousarray(y.numpy()[:, :h, :w], dtype=np.float32)

    def _stats(self) -> GlobalNormBackend:
        with self._lock:
            if self._stats_backend is None:
                self._stats_backend = self._global_norm()
        return self._stats_backend

    def norm_stats(self, x_nhwc: FloatArray) -> FloatArray:
        return self._stats().norm_stats(x_nhwc)

    def run_with_stats(self, x_nhwc: FloatArray, stats: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._stats().run_with_stats(x_nhwc, stats)
