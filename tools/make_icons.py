"""Draw the installable app's icons: ``browser_runtime/static/icons/`` (pink on cream, 192 and 512 px).

    .venv/bin/python tools/make_icons.py          # write them
    .venv/bin/python tools/make_icons.py --check  # fail if the committed ones differ from what this draws

``icon-*.png`` ("any"): a cream rounded square on transparent; ``maskable-*.png`` ("maskable"): full-bleed cream,
everything that matters inside the central circle of 40 % radius that every launcher mask keeps.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
ICON_DIR = REPO / "browser_runtime" / "static" / "icons"
CREAM, PINK, DEEP, WHITE = (255, 248, 239), (240, 72, 122), (185, 31, 80), (255, 253, 249)
SIZES = (192, 512)
SUPERSAMPLE = 4


def sparkle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple[int, int, int]) -> None:
    """A four-pointed star of outer radius ``r``."""
    points = []
    for k in range(8):
        angle = math.pi / 4 * k - math.pi / 2
        radius = r if k % 2 == 0 else r * 0.28
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=fill)


def icon(size: int, maskable: bool) -> Image.Image:
    s = size * SUPERSAMPLE
    im = Image.new("RGBA", (s, s), (*CREAM, 255) if maskable else (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    if not maskable:
        draw.rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.22, fill=(*CREAM, 255))
    scale = 0.8 if maskable else 1.0  # the maskable art fits the 40 % safe circle
    c = s / 2
    disc = s * 0.36 * scale
    draw.ellipse((c - disc, c - disc, c + disc, c + disc), fill=(*PINK, 255))
    ring = disc * 0.86
    draw.ellipse((c - ring, c - ring, c + ring, c + ring), outline=(*WHITE, 255), width=max(1, round(s * 0.012)))
    sparkle(draw, c - disc * 0.12, c + disc * 0.05, disc * 0.62, (*WHITE, 255))
    sparkle(draw, c + disc * 0.45, c - disc * 0.45, disc * 0.24, (*WHITE, 255))
    sparkle(draw, c + disc * 0.42, c + disc * 0.50, disc * 0.13, (*DEEP, 255))
    return im.resize((size, size), Image.Resampling.LANCZOS)


def icons() -> dict[str, bytes]:
    """File name → PNG bytes of every icon."""
    out = {}
    for size in SIZES:
        for maskable in (False, True):
            buf = io.BytesIO()
            icon(size, maskable).save(buf, "PNG", optimize=True)
            out[f"{'maskable' if maskable else 'icon'}-{size}.png"] = buf.getvalue()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare with the committed files")
    args = p.parse_args()
    drawn = icons()
    if args.check:
        stale = [name for name, data in drawn.items() if not (ICON_DIR / name).is_file()
                 or (ICON_DIR / name).read_bytes() != data]
        if stale:
            print(f"stale icons (run tools/make_icons.py): {', '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in drawn.items():
        (ICON_DIR / name).write_bytes(data)
        print(f"{ICON_DIR / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
