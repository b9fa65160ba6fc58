"""Safe output file names derived from user-supplied names (no path traversal, no collisions)."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(name: str, fallback: str = "image", max_len: int = 80) -> str:
    """A file-name stem made only of ``[A-Za-z0-9._-]`` from any user-given name or path.

    Directory parts, leading dots and the extension are dropped: ``../../etc/passwd.png`` → ``passwd``.
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = _UNSAFE.sub("_", stem).strip("._-")[:max_len]
    return stem or fallback


def unique_name(stem: str, suffix: str, taken: set[str]) -> str:
    """``stem + suffix``, or ``stem-2 + suffix``… if taken; records the chosen name in ``taken``."""
    name, n = f"{stem}{suffix}", 1
    while name.lower() in taken:
        n += 1
        name = f"{stem}-{n}{suffix}"
    taken.add(name.lower())
    return name
