"""Batch uploads: zip expansion under limits, safe unique output names, the outputs zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from animegan import ImageTooLargeError, Settings, expand_uploads
from animegan.batch import write_zip
from animegan.jobs import output_name


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "pink").save(buf, "PNG")
    return buf.getvalue()


def settings(**changes: int) -> Settings:
    return Settings().with_(**changes)


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd.png", "passwd_hayao.png"),
    ("..\\..\\windows\\evil.jpg", "evil_hayao.png"),
    ("/abs/path/photo.jpeg", "photo_hayao.png"),
    ("holiday.zip/trip/..hidden.png", "hidden_hayao.png"),
    ("ü ñ 写真.JPG", "u_n_hayao.png"),
    ("....", "image_hayao.png"),
    ("", "image_hayao.png"),
])
def test_output_names_are_safe(name: str, expected: str) -> None:
    out = output_name(name, "hayao")
    assert out == expected
    assert "/" not in out and "\\" not in out and not out.startswith(".")


def test_output_names_are_unique_case_insensitively() -> None:
    taken: set[str] = set()
    names = [output_name(n, "cute", taken) for n in ("a.png", "dir/a.jpg", "A.png", "a-2.png")]
    assert names == ["a_cute.png", "a-2_cute.png", "A-3_cute.png", "a-2-2_cute.png"]


def test_expand_files_and_zip(tmp_path: Path) -> None:
    photo = tmp_path / "cat.png"
    photo.write_bytes(png_bytes())
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../escape.png", png_bytes())
        zf.writestr("trip/day1/b.JPG", png_bytes())
        zf.writestr("__MACOSX/trip/._b.JPG", b"junk")
        zf.writestr(".DS_Store", b"junk")
        zf.writestr("notes.txt", b"hello")
        zf.writestr("empty/", b"")
    items = expand_uploads([photo, archive], settings())
    names = [i.name for i in items]
    assert names == ["cat.png", "set.zip/../../escape.png", "set.zip/trip/day1/b.JPG", "set.zip/notes.txt"]
    assert items[0].data == photo.read_bytes() and items[1].data == png_bytes()
    assert items[3].data is None and "not an image file type" in items[3].error


def test_zip_bomb_and_oversized_members_are_refused_by_name(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\0" * (5 << 20))  # 5 MiB of zeros deflate ~1000×
        zf.writestr("ok.png", png_bytes())
    items = {i.name: i for i in expand_uploads([archive], settings(max_upload_mb=1))}
    assert items["bomb.zip/zeros.png"].data is None and "over the 1 MB limit" in items["bomb.zip/zeros.png"].error
    assert items["bomb.zip/ok.png"].data is not None
    items = {i.name: i for i in expand_uploads([archive], settings(max_upload_mb=10))}
    assert "zip bomb" in items["bomb.zip/zeros.png"].error


def test_damaged_zip_is_one_failed_item(tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a.png", png_bytes())
    data = good.read_bytes()
    archive.write_bytes(data[:30] + b"\0" * 10 + data[40:])  # corrupt the member's header
    items = expand_uploads([archive], settings())
    assert len(items) == 1 and items[0].data is None and items[0].error


def test_batch_limits(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"{i}.png"
        f.write_bytes(png_bytes())
        files.append(f)
    with pytest.raises(ImageTooLargeError, match="more than 2 images"):
        expand_uploads(files, settings(batch_max_files=2))
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf:
        for i in range(3):
            zf.writestr(f"{i}.png", b"\x89PNG" + bytes(range(256)) * 2048)  # 512 KiB each, incompressible enough
    with pytest.raises(ImageTooLargeError, match="more than 1 MB after unzipping"):
        expand_uploads([big], settings(batch_max_mb=1))


def test_write_zip(tmp_path: Path) -> None:
    a, b = tmp_path / "a_cute.png", tmp_path / "b_cute.png"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    dest = write_zip([a, b], tmp_path / "out.zip")
    assert dest is not None
    with zipfile.ZipFile(dest) as zf:
        assert zf.namelist() == ["a_cute.png", "b_cute.png"] and zf.read("b_cute.png") == b"2"
    assert write_zip([], tmp_path / "none.zip") is None
