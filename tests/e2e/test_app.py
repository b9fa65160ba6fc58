"""The real app through its named API (gradio_client), on real photos."""

from __future__ import annotations

import io
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from animegan import Engine
from animegan.quality import psnr
from tests.e2e.conftest import Server, start_app, stop_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(app_server: Server) -> Client:
    return Client(app_server.url, verbose=False)


def stylize(client: Client, photo: Path, style: str, **options: object) -> tuple[list[str], str, str]:
    options = {"max_side": 384, **options}
    pair, download, status = client.predict(handle_file(str(photo)), style, api_name="/stylize", **options)
    return pair, download, status


def as_float(im: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    im = im.convert("RGB")
    return np.asarray(im.resize(size) if size else im, dtype=np.float32) / 255


def test_stylize_returns_full_size_png_and_aligned_comparison(client: Client, photos: Path, artifacts: Path) -> None:
    photo = photos / "portrait_obama_official.jpg"
    pair, download, status = stylize(client, photo, "cute")
    result = Image.open(download)
    original = Image.open(photo)
    assert Path(download).name == "portrait_obama_official_cute.png"
    assert (result.format, result.size, result.mode) == ("PNG", original.size, "RGB")
    similarity = psnr(as_float(result), as_float(original))
    assert 10 < similarity < 30, f"result is not a stylized version of the photo (PSNR {similarity:.1f} dB)"
    left, right = (Image.open(p) for p in pair)
    assert left.size == right.size == result.size
    assert psnr(as_float(left), as_float(original)) > 35, "the slider's left image must be the original"
    assert psnr(as_float(right), as_float(result)) > 35, "the slider's right image must be the result"
    assert "Portrait (Cute)" in status and "910×1137" in status
    result.save(artifacts / "api_result.png")

    _, again, status2 = stylize(client, photo, "cute")
    assert "from cache" in status2
    assert Path(again).read_bytes() == Path(download).read_bytes()
    _, _, status3 = stylize(client, photo, "cute", max_side=320)
    assert "from cache" not in status3, "a changed option must not hit the cache"


def test_stylize_keeps_alpha(client: Client, photos: Path) -> None:
    photo = photos / "alpha_children_rgba.png"
    _, download, _ = stylize(client, photo, "shinkai", max_side=256)
    result, source = Image.open(download), Image.open(photo)
    assert result.mode == "RGBA" and result.size == source.size
    assert np.array_equal(np.asarray(result.getchannel("A")), np.asarray(source.getchannel("A")))


def test_errors_are_clear_messages(client: Client, photos: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((photos / "portrait_obama_official.jpg").read_bytes()[:3000])
    with pytest.raises(AppError, match="the image header is damaged"):
        stylize(client, truncated, "cute")
    with pytest.raises(AppError, match="nope is not in the list of choices"):
        stylize(client, photos / "landscape_beach_small_256.jpg", "nope")


def test_unavailable_options_are_refused_or_work(client: Client, photos: Path, engine: Engine) -> None:
    photo = photos / "landscape_beach_small_256.jpg"
    for name, options in (("faces", {"face": "on"}), ("upscale", {"upscale": 2})):
        state = engine.features()[name]
        if state.available:
            _, download, _ = stylize(client, photo, "cute", max_side=256, **options)
            assert Image.open(download).size[0] >= 256
        else:
            with pytest.raises(AppError, match="unavailable"):
                stylize(client, photo, "cute", max_side=256, **options)


def test_batch_reports_bad_files_and_zips_the_rest(client: Client, photos: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image, despite the name")
    archive = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(photos / "still_coffee_cup.png", "../../escape.png")
        zf.write(photos / "gray_cameraman_L.png", "trip/day1/portrait_obama_official.png")
        zf.writestr("README.txt", "hello")
    files = [photos / "portrait_obama_official.jpg", photos / "landscape_beach_small_256.jpg", bad, archive]
    gallery, zip_path, table = client.predict([handle_file(str(f)) for f in files], "cute", max_side=256, api_name="/batch")
    rows = {r[0]: r for r in table["data"]}
    assert rows["broken.jpg"][1].endswith("failed") and "not an image file" in rows["broken.jpg"][2]
    assert "skipped" in rows["holiday.zip/README.txt"][2]
    ok = [name for name, status, _ in table["data"] if status.endswith("done")]
    assert sorted(ok) == sorted(["portrait_obama_official.jpg", "landscape_beach_small_256.jpg", "holiday.zip/../../escape.png",
                                 "holiday.zip/trip/day1/portrait_obama_official.png"])
    assert len(gallery) == 4
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(["portrait_obama_official_cute.png", "landscape_beach_small_256_cute.png", "escape_cute.png",
                                "portrait_obama_official-2_cute.png"])
        cup = Image.open(io.BytesIO(zf.read("escape_cute.png")))
        assert cup.size == Image.open(photos / "still_coffee_cup.png").size
        gray = Image.open(io.BytesIO(zf.read("portrait_obama_official-2_cute.png")))
        assert gray.mode == "L", "a grey photo comes back grey"


def test_share_offline_fails_gracefully(tmp_path: Path) -> None:
    start = time.monotonic()
    server = start_app(tmp_path, "--share")
    try:
        deadline = time.monotonic() + 30
        while "share link" not in server.output().lower() and time.monotonic() < deadline:
            time.sleep(0.5)
        log = server.output()
        assert "add --auth USER:PASS" in log, "--share without --auth must warn"
        if "gradio.live" not in log:
            assert "Could not create the public share link" in log, log[-3000:]
        with urllib.request.urlopen(server.url, timeout=10) as resp:
            assert resp.status == 200, "the local server keeps serving"
        assert time.monotonic() - start < 240
    finally:
        stop_app(server)


def test_auth_requires_login(tmp_path: Path, photos: Path) -> None:
    server = start_app(tmp_path, "--auth", "sakura:petals")
    try:
        with pytest.raises(ValueError):
            Client(server.url, verbose=False)
        client = Client(server.url, auth=("sakura", "petals"), verbose=False)
        _, download, _ = stylize(client, photos / "landscape_beach_small_256.jpg", "cute", max_side=256)
        assert Image.open(download).size == (256, 256)
    finally:
        stop_app(server)
