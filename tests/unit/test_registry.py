"""The style registry's rules and the manifest's consistency with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from animegan import STYLES, StyleSpec, StylizeOptions, UnknownStyleError
from animegan.errors import InvalidOptionError
from animegan.settings import MANIFEST_PATH
from animegan.styles import Registry

PROMISED_IDS = {"hayao", "shinkai", "paprika", "cute", "cyberpunk", "cartoon",
                "hayao_v1", "shinkai_v1", "charge", "iblard", "ink"}


def test_promised_style_ids_exist_in_stable_order() -> None:
    assert set(STYLES.ids()) >= PROMISED_IDS
    assert STYLES.ids()[:6] == ["hayao", "shinkai", "paprika", "cute", "cyberpunk", "cartoon"]


def test_unknown_style_lists_valid_ids() -> None:
    with pytest.raises(UnknownStyleError) as info:
        STYLES.get("ghibli")
    assert "'ghibli'" in str(info.value) and "hayao" in str(info.value) and "cyberpunk" in str(info.value)


def test_registry_rejects_duplicates_and_bad_ids() -> None:
    reg: Registry[StyleSpec] = Registry("style", UnknownStyleError)
    spec = StyleSpec(id="x", label="X", description="d", weights="w.onnx", family="f")
    reg.add(spec)
    with pytest.raises(ValueError, match="twice"):
        reg.add(spec)
    with pytest.raises(ValueError, match="slug"):
        reg.add(StyleSpec(id="Bad Id", label="X", description="d", weights="w.onnx", family="f"))


def test_every_style_weight_is_in_the_manifest_with_a_checksum() -> None:
    models = {m["file"]: m for m in json.loads(Path(MANIFEST_PATH).read_text())["models"]}
    for spec in STYLES:
        assert spec.weights in models, spec.id
        assert len(models[spec.weights]["sha256"] or "") == 64, spec.id
        assert spec.description and spec.label


def test_face_styles_refer_to_registered_styles() -> None:
    for spec in STYLES:
        assert spec.face_style is None or spec.face_style in STYLES


def test_cyberpunk_is_a_grade_on_an_anime_model() -> None:
    assert STYLES.get("cyberpunk").grade == "neon"
    assert all(s.grade is None for s in STYLES if s.id != "cyberpunk")


@pytest.mark.parametrize(
    "kwargs",
    [{"style": "nope"}, {"style": "hayao", "max_side": 10}, {"style": "hayao", "upscale": 5},
     {"style": "hayao", "face": "maybe"}, {"style": "hayao", "strength": 1.5}, {"style": "hayao", "backend": "gpu"}],
)
def test_options_are_checked_when_built(kwargs: dict[str, object]) -> None:
    with pytest.raises((InvalidOptionError, UnknownStyleError)):
        StylizeOptions(**kwargs)  # type: ignore[arg-type]


def test_max_side_defaults_to_the_styles_own_size_and_an_explicit_one_wins() -> None:
    assert StylizeOptions(style="hosoda").max_side == STYLES.get("hosoda").default_side == 512
    assert StylizeOptions(style="hayao").max_side == 1024
    assert StylizeOptions(style="hosoda", max_side=768).max_side == 768
    assert StylizeOptions(style="hosoda", max_side=None).max_side is None
