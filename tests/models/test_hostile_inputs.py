"""Every hostile or odd input gives a correct result or a clear, specific message — never a crash."""

from __future__ import annotations

import io
import re
import socket

import numpy as np
import pytest
from PIL import Image

from animegan import AnimeGANError, Engine, StylizeOptions, encode
from tests.hostile import CORPUS, expected_size

OPTIONS = StylizeOptions(style="cute", max_side=256)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_input(engine: Engine, name: str) -> None:
    data, expect = CORPUS[name]
    if expect == "ok":
        out = Image.open(io.BytesIO(encode(engine.stylize_file(data, OPTIONS))))
        assert out.size == expected_size(name, data)
        assert np.asarray(out).size > 0
    else:
        with pytest.raises(AnimeGANError) as info:
            engine.stylize_file(data, OPTIONS)
        message = str(info.value)
        assert re.search(expect, message), message
        assert "Traceback" not in message and len(message) < 300


def test_icc_profile_is_kept(engine: Engine) -> None:
    data, _ = CORPUS["icc_profile.png"]
    out = Image.open(io.BytesIO(encode(engine.stylize_file(data, OPTIONS))))
    assert out.info.get("icc_profile") == Image.open(io.BytesIO(data)).info["icc_profile"]


def test_stylize_makes_no_network_connections(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading models and stylizing never reaches for the network (weights are local and verified)."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        attempts.append(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", spy)
    fresh = Engine(engine.settings)  # loads models from scratch
    for style in ("hayao", "shinkai", "paprika"):
        fresh.stylize_file(CORPUS["three_by_two.png"][0], StylizeOptions(style=style))
    assert attempts == []
