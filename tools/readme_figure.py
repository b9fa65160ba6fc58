"""Render docs/results.jpg for the README: each example photo beside several styles, made by the engine.

    .venv/bin/python tools/readme_figure.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from animegan import Engine, StylizeOptions, to_pil

REPO = Path(__file__).resolve().parent.parent
PHOTOS = ["astronaut.png", "chelsea_cat.png", "coffee.png"]
STYLE_IDS = ["hayao", "shinkai", "cute", "cyberpunk", "paprika", "cartoon"]
CELL = 220


def main() -> None:
    engine = Engine()
    columns = ["original", *STYLE_IDS]
    sheet = Image.new("RGB", (CELL * len(columns), (CELL + 22) * len(PHOTOS)), (255, 248, 240))
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(PHOTOS):
        src = Image.open(REPO / "examples" / name).convert("RGB")
        y = row * (CELL + 22)
        for col, style in enumerate(columns):
            if style == "original":
                im = src.copy()
            else:
                im = to_pil(engine.stylize_file(REPO / "examples" / name, StylizeOptions(style=style)))
            im.thumbnail((CELL, CELL))
            x = col * CELL
            sheet.paste(im, (x + (CELL - im.width) // 2, y + 22 + (CELL - im.height) // 2))
            draw.text((x + 6, y + 5), style, fill=(160, 40, 90))
    out = REPO / "docs" / "results.jpg"
    sheet.save(out, quality=85, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
