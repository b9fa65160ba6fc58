"""Headless Chromium as the browser tests and ``bench/browser.py`` launch it, and private mode's stylize call."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
"""Debian's Chromium, headless, with no background connections (the machine has no route out) and a fake camera."""


def page_stylize(page: Any, png: bytes, style: str, max_side: int | None = None) -> tuple[np.ndarray, float]:
    """``window.animeganLocal.stylize`` on a PNG: the result's RGB and the seconds the call took."""
    result = page.evaluate("""async ([b64, style, maxSide]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
        const c = document.createElement('canvas'); c.width = bitmap.width; c.height = bitmap.height;
        const g = c.getContext('2d'); g.drawImage(bitmap, 0, 0);
        const input = g.getImageData(0, 0, c.width, c.height);
        const t0 = performance.now();
        const out = await window.animeganLocal.stylize(input, style, maxSide ? {maxSide} : {});
        const ms = performance.now() - t0;
        if (!(out instanceof ImageData)) throw new Error('stylize did not return an ImageData');
        g.putImageData(out, 0, 0);
        return {url: c.toDataURL('image/png'), ms, w: out.width, h: out.height};
    }""", [base64.b64encode(png).decode(), style, max_side])
    data = base64.b64decode(result["url"].split(",", 1)[1])
    out = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert out.shape[:2] == (result["h"], result["w"])
    return out, result["ms"] / 1000
