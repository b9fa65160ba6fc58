"""build_app on a server without weights: every control is disabled with its reason, none is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from animegan import Engine, LocalService, Settings

gr = pytest.importorskip("gradio")


def component(config: dict[str, Any], elem_id: str) -> dict[str, Any]:
    for c in config["components"]:
        if c.get("props", {}).get("elem_id") == elem_id:
            return c["props"]
    raise AssertionError(f"no component #{elem_id}")


def test_no_weights_shows_styles_disabled_with_reason(tmp_path: Path) -> None:
    import app

    settings = Settings.from_env({"ANIMEGAN_WEIGHTS_PATH": str(tmp_path / "empty"), "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"),
                                  "ANIMEGAN_CACHE_DIR": str(tmp_path / "cache"), "ANIMEGAN_PREVIEW_DIR": str(tmp_path / "prev")})
    demo = app.build_app(LocalService(Engine(settings)))
    config = demo.get_config_file()
    off = component(config, "styles-off")["value"]
    assert "Not available on this server" in off and "Miyazaki (Hayao)" in off
    assert "animeganv2_hayao_bryandlee_generator.pt" in off and "ANIMEGAN_WEIGHTS_PATH" in off, "the reason says how to fix it"
    assert component(config, "run-btn")["interactive"] is False
    assert component(config, "style-gallery")["value"] in (None, [])
    names = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility", "public") == "public" and d.get("api_name")}
    assert {"stylize", "batch"} <= names


def test_command_line_arguments(tmp_path: Path) -> None:
    import app

    args = app.parse_args(["--share", "--auth", "me:secret", "--max-side", "512", "--port", "7999"], Settings())
    assert (args.share, args.auth, args.max_side, args.port) == (True, "me:secret", 512, 7999)
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", "no-colon"], Settings())


def contrast(fg: str, bg: str) -> float:
    def luminance(hex_color: str) -> float:
        channels = [int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_theme_text_meets_wcag_aa() -> None:
    from webui import theme

    pink = theme.SAKURA
    pairs = {
        "body text on cream": (theme.INK, theme.CREAM),
        "muted text on cream": (theme.MUTED, theme.CREAM),
        "muted text on cards": (theme.MUTED, theme.CARD),
        "primary button text": ("#ffffff", pink.c600),
        "block labels": (pink.c800, pink.c50),
        "links on cream": (pink.c700, theme.CREAM),
        "title": (pink.c800, theme.CREAM),
    }
    low = {name: round(contrast(fg, bg), 2) for name, (fg, bg) in pairs.items() if contrast(fg, bg) < 4.5}
    assert not low, f"below WCAG AA 4.5:1: {low}"
