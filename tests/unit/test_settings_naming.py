"""Settings from the environment, and safe output names."""

from __future__ import annotations

from pathlib import Path

import pytest

from animegan import InvalidOptionError, Settings
from animegan.naming import safe_stem, unique_name


def test_settings_from_env() -> None:
    s = Settings.from_env({"ANIMEGAN_WEIGHTS_PATH": "/a:/b", "ANIMEGAN_THREADS": "3", "ANIMEGAN_MAX_SIDE": "768"})
    assert Path("/a") in s.weights_path and Path("/b") in s.weights_path
    assert s.weights_path.index(Path("/a")) < s.weights_path.index(Path("/b"))
    assert s.download_dir in s.weights_path
    assert (s.threads, s.max_side) == (3, 768)


@pytest.mark.parametrize(("name", "value"), [("ANIMEGAN_THREADS", "two"), ("ANIMEGAN_MAX_SIDE", "10")])
def test_settings_reject_bad_numbers(name: str, value: str) -> None:
    with pytest.raises(InvalidOptionError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("../../etc/passwd.png", "passwd"),
        ("..\\..\\windows\\evil.jpg", "evil"),
        ("my photo (1).JPG", "my_photo_1"),
        (".hidden", "hidden"),
        ("....", "image"),
        ("ünïcödé.png", "unicode"),
        ("a" * 300 + ".png", "a" * 80),
    ],
)
def test_safe_stem(name: str, stem: str) -> None:
    assert safe_stem(name) == stem


def test_unique_name_avoids_collisions_case_insensitively() -> None:
    taken: set[str] = set()
    assert [unique_name(s, ".png", taken) for s in ("a", "A", "a")] == ["a.png", "A-2.png", "a-3.png"]
