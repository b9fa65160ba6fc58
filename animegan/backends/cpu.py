"""What this CPU is: its name, its vector flags, whether it has native bf16, and a signature for cached choices."""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of CPUs that run bf16 dot products natively (AMD Zen 4 and later, Intel Cooper Lake, Sapphire
Rapids and later)."""
VECTOR_PREFIXES = ("avx", "amx", "fma", "sse", "f16c", "vnni")


def _field(text: str, name: str) -> str:
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.split(":", 1)[0].strip() == name), "")


@functools.cache
def _cpuinfo(path: Path = CPUINFO) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def cpu_flags(path: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (Linux's ``/proc/cpuinfo``; empty elsewhere)."""
    return frozenset(_field(_cpuinfo(path), "flags").split())


def cpu_name(path: Path = CPUINFO) -> str:
    """The CPU's model name, e.g. ``AMD EPYC 9R14 96-Core Processor`` (the platform's processor name elsewhere)."""
    return _field(_cpuinfo(path), "model name") or platform.processor() or platform.machine()


def native_bf16(path: Path = CPUINFO) -> bool:
    """Whether this CPU has native bfloat16 arithmetic."""
    return bool(NATIVE_BF16_FLAGS & cpu_flags(path))


def vector_flags(path: Path = CPUINFO) -> list[str]:
    """The flags that decide how fast a model runs (vector and matrix instructions), sorted."""
    return sorted(f for f in cpu_flags(path) if f.startswith(VECTOR_PREFIXES))


def signature(threads: int, path: Path = CPUINFO) -> str:
    """A short hash of what a measured backend choice depends on: the CPU's name, its vector flags, the machine
    and the thread count. The same CPU gives the same signature, so it finds its own cached choice."""
    text = "\n".join([cpu_name(path), platform.machine(), " ".join(vector_flags(path)), f"threads={threads}"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]
