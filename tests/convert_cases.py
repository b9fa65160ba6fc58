"""The upstream originals in ``../shared/weights/anime/original`` and the file each one converts to.

tfjs models are zipped there (upstream serves ``model.json`` and the shard as two files): :meth:`ConvertCase.inputs`
extracts the two members as the two files a download would give. Used by ``tests/models/test_convert.py`` and
``bench/convert_speed.py``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from animegan.convert import ROLES
from animegan.settings import MANIFEST_PATH
from animegan.weights import load_manifest
from tests.conftest import SHARED

ANIME = Path(SHARED) / "weights" / "anime"
ORIGINAL = ANIME / "original"
MANIFEST = load_manifest(MANIFEST_PATH)


@dataclass(frozen=True)
class ConvertCase:
    """One conversion of real upstream files; ``sources`` maps roles to files in ``original/``
    (``ZIP:MEMBER`` for a file inside a zip there, ``FOLDER/FILE`` for one in a folder there)."""

    id: str
    conversion: str
    sources: dict[str, str]
    shipped: str
    style: str
    """The registry style that runs the shipped file (its spec gives names, size rule, value range)."""

    @property
    def result_sha256(self) -> str:
        """SHA-256 of the converted file with the pinned libraries, as the manifest pins it for this conversion."""
        (sha,) = [s.sha256 for s in MANIFEST[self.shipped].sources if s.convert == self.conversion]
        assert sha is not None
        return sha

    def inputs(self, tmp: Path) -> dict[str, Path]:
        """The conversion's input files; zip members are extracted under ``tmp``."""
        out = {}
        for role, source in self.sources.items():
            if ":" not in source:
                out[role] = ORIGINAL / source
                continue
            archive, member = source.split(":")
            target = tmp / Path(archive).stem / member
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(ORIGINAL / archive) as z:
                    target.write_bytes(z.read(member))
            out[role] = target
        return out


def _tfjs(archive: str) -> dict[str, str]:
    return {"model.json": f"{archive}:model.json", "weights.bin": f"{archive}:group1-shard1of1.bin"}


V1_STYLES = {"hayao_v1": "Hayao", "shinkai_v1": "Shinkai", "paprika": "Paprika", "charge": "Charge",
             "iblard": "Iblard", "ink": "StrangeDaddy"}
V1_FILES = {"Hayao": "hayao", "Shinkai": "shinkai", "Paprika": "paprika", "Charge": "charge", "Iblard": "iblard",
            "StrangeDaddy": "strange_daddy"}

CASES = (
    ConvertCase("v2_hayao", "tflite-int8-animeganv2", {"model": "animeganv2_hayao_256x256_integer_quant.tflite"},
                "animeganv2_hayao_bryandlee_generator.pt", "hayao"),
    ConvertCase("v3_hayao36", "tflite-onnx", {"model": "AnimeGANv3_Hayao_36_QUANTIZED_fp16.tflite"},
                "animeganv3_hayao36_512x512.onnx", "hayao_v3"),
    ConvertCase("v3_shinkai37", "tf-graph-onnx", {"model": "AnimeGANv3_Shinkai_37.pb"}, "animeganv3_shinkai37.onnx",
                "shinkai"),
    *(ConvertCase(f"v1_{V1_FILES[name]}", "tfjs-onnx", _tfjs(f"AnimeGANv1_{name}_tfjs_uint8.zip"),
                  f"animeganv1_{V1_FILES[name]}.onnx", style) for style, name in V1_STYLES.items()),
    ConvertCase("whitebox", "tfjs-onnx", _tfjs("WhiteBox_Cartoonization_tfjs_float16.zip"), "whitebox_cartoonization.onnx",
                "cartoon"),
)
"""Conversions whose result ../shared ships: the converted file must run like it."""
PYTORCH_CASES = (
    ConvertCase("cartoongan_hosoda", "cartoongan-onnx", {f: f"cartoongan_hosoda/{f}" for f in ROLES["cartoongan-onnx"]},
                "cartoongan_hosoda.onnx", "hosoda"),
)
"""Conversions whose result ../shared does not ship (only the originals): the converted file must run like our
PyTorch build of the network loaded with the same originals (:mod:`animegan.archs`)."""
