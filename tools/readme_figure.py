"""Render the README's figures with the engine.

    .venv/bin/python tools/readme_figure.py              # docs/results.jpg: each example photo beside six styles
    .venv/bin/python tools/readme_figure.py --all-styles  # docs/all_styles.jpg: one photo in every available style
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from animegan import Engine, StylizeOptions, to_pil

REPO = Path(__file__).resolve().parent.parent
PHOTOS = ["astronaut.png", "chelsea_cat.png", "coffee.png"]
STYLE_IDS = ["hayao", "shinkai", "cute", "cyberpunk", "paprika", "cartoon"]
ALL_STYLES_PHOTO = "astronaut.png"
CELL = 220
LABEL = 22
BACKGROUND, INK = (255, 248, 240), (160, 40, 90)


def cell(sheet: Image.Image, draw: ImageDraw.ImageDraw, im: Image.Image, x: int, y: int, label: str) -> None:
    im = im.copy()
    im.thumbnail((CELL, CELL))
    sheet.paste(im, (x + (CELL - im.width) // 2, y + LABEL + (CELL - im.height) // 2))
    draw.text((x + 6, y + 5), label, fill=INK)


def results(engine: Engine) -> Path:
    columns = ["original", *STYLE_IDS]
    sheet = Image.new("RGB", (CELL * len(columns), (CELL + LABEL) * len(PHOTOS)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(PHOTOS):
        photo = REPO / "examples" / name
        for col, style in enumerate(columns):
            im = Image.open(photo).convert("RGB") if style == "original" else \
                to_pil(engine.stylize_file(photo, StylizeOptions(style=style)))
            cell(sheet, draw, im, col * CELL, row * (CELL + LABEL), style)
    return save(sheet, "results.jpg")


def all_styles(engine: Engine, columns: int = 7) -> Path:
    """The photo, then every available style (registry order), each labelled with its id; ``*`` marks the styles
    whose weights carry no non-commercial terms."""
    photo = REPO / "examples" / ALL_STYLES_PHOTO
    styles = [s for s in engine.styles() if s.available]
    cells = [("original", Image.open(photo).convert("RGB"))]
    for s in styles:
        free = "non-commercial" not in s.license.lower()
        cells.append((s.item.id + (" *" if free else ""), to_pil(engine.stylize_file(photo, StylizeOptions(style=s.item.id)))))
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (CELL * columns, (CELL + LABEL) * rows), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (label, im) in enumerate(cells):
        cell(sheet, draw, im, (i % columns) * CELL, (i // columns) * (CELL + LABEL), label)
    return save(sheet, "all_styles.jpg")


def save(sheet: Image.Image, name: str) -> Path:
    out = REPO / "docs" / name
    sheet.save(out, quality=85, optimize=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-styles", action="store_true", help="every available style on one photo")
    args = parser.parse_args()
    engine = Engine()
    print(all_styles(engine) if args.all_styles else results(engine))


if __name__ == "__main__":
    main()
