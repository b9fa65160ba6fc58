"""The real CLI in a subprocess, on real folders of photos."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, WEIGHTS_PATH

pytestmark = pytest.mark.e2e


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_THREADS": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", "animegan", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_help_explains_every_option() -> None:
    out = run_cli("stylize", "--help").stdout
    for flag in ("--style", "--max-side", "--full-res", "--face", "--upscale", "--json", "--output"):
        assert flag in out


def test_version_and_styles_json() -> None:
    assert run_cli("--version").stdout.startswith("animegan ")
    styles = json.loads(run_cli("styles", "--json").stdout)
    ids = [s["id"] for s in styles]
    assert ids[:5] == ["hayao", "shinkai", "paprika", "cute", "cyberpunk"]
    assert all({"id", "name", "available", "description", "license"} <= s.keys() for s in styles)
    assert all(s["available"] for s in styles if s["id"] in ("hayao", "cute", "ink"))


def test_folder_with_a_bad_file(tmp_path: Path, photos: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("portrait_old_man_test2.jpg", "landscape_beach_small_256.jpg", "gray_two_people_L.png"):
        shutil.copy(photos / name, src)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    (src / "notes.txt").write_text("ignored: not an image extension")
    out = tmp_path / "out"
    proc = run_cli("stylize", str(src), "-o", str(out), "--style", "cute", "--json")
    assert proc.returncode == 1, proc.stderr  # one input failed, the rest done
    rows = {Path(r["input"]).name: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"portrait_old_man_test2.jpg", "landscape_beach_small_256.jpg", "gray_two_people_L.png", "broken.jpg"}
    assert rows["broken.jpg"]["error"] and rows["broken.jpg"]["output"] is None
    for name in ("portrait_old_man_test2.jpg", "landscape_beach_small_256.jpg", "gray_two_people_L.png"):
        r = rows[name]
        assert r["error"] is None and r["style"] == "cute" and r["seconds"] > 0
        produced = Image.open(r["output"])
        assert produced.size == Image.open(photos / name).size == (r["width"], r["height"])
        assert Path(r["output"]).parent == out and Path(r["output"]).name.endswith("_cute.png")


def test_single_file_to_named_output_and_glob(tmp_path: Path, photos: Path) -> None:
    target = tmp_path / "deep" / "anime.jpg"
    proc = run_cli("stylize", str(photos / "portrait_facecrop_kpop_5.jpg"), "-o", str(target), "--style", "hayao",
                   "--max-side", "256")
    assert proc.returncode == 0, proc.stderr
    assert Image.open(target).format == "JPEG" and Image.open(target).size == (862, 853)
    proc = run_cli("stylize", str(photos / "gray_*.png"), "-o", str(tmp_path / "g"), "--style", "ink", "--max-side", "128")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["gray_cameraman_L_ink.png", "gray_two_people_L_ink.png"]


def test_exit_codes(tmp_path: Path, photos: Path) -> None:
    photo = str(photos / "landscape_beach_small_256.jpg")
    unknown = run_cli("stylize", photo, "-o", str(tmp_path / "x.png"), "--style", "ghibli")
    assert unknown.returncode == 2 and "unknown style 'ghibli'" in unknown.stderr and "hayao" in unknown.stderr
    missing = run_cli("stylize", photo, "-o", str(tmp_path / "x.png"), "--style", "hayao",
                      env={"ANIMEGAN_WEIGHTS_PATH": str(tmp_path)})
    assert missing.returncode == 3 and "animeganv2_hayao_bryandlee_generator.pt" in missing.stderr
    nothing = run_cli("stylize", str(tmp_path / "nope*.jpg"), "-o", str(tmp_path / "o"), "--style", "cute")
    assert nothing.returncode == 4 and "no input files" in nothing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr + nothing.stderr


def test_style_all_writes_every_available_style_fastest_first(tmp_path: Path, photos: Path) -> None:
    photo = photos / "landscape_beach_small_256.jpg"
    out = tmp_path / "all"
    proc = run_cli("stylize", str(photo), "--style", "all", "-o", str(out), "--max-side", "128", "--json", "--backend", "onnx")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    styles = json.loads(run_cli("styles", "--json").stdout)
    available = {s["id"]: s for s in styles if s["available"]}
    assert [r["style"] for r in rows] and {r["style"] for r in rows} == set(available)
    costs = ["fast", "medium", "slow"]
    order = [costs.index(available[r["style"]]["cost"]) for r in rows]
    assert order == sorted(order), "the fastest styles come first"
    for r in rows:
        assert r["error"] is None and Path(r["output"]) == out / f"landscape_beach_small_256_{r['style']}.png"
        assert Image.open(r["output"]).size == Image.open(photo).size
    refused = run_cli("stylize", str(photo), "--style", "all", "-o", str(tmp_path / "one.png"))
    assert refused.returncode == 2 and "must be a directory" in refused.stderr
