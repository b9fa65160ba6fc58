"""The upstream originals in ``../shared/weights/anime/original`` and the shipped file each one converts to.

tfjs models are zipped there (upstream serves ``model.json`` and the shard as two files): :meth:`ConvertCase.inputs`
extracts the two members as the two files a download would give. Used by ``tests/models/test_convert.py`` and
``bench/convert_speed.py``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SHARED

ANIME = Path(SHARED) / "weights" / "anime"
ORIGINAL = ANIME / "original"


@dataclass(frozen=True)
class ConvertCase:
    """One conversion of a real upstream file; ``sources`` maps roles to files in ``original/``
    (``ZIP:MEMBER`` for a file inside a zip there)."""

    id: str
    conversion: str
    sources: dict[str, str]
    shipped: str
    style: str
    """The registry style that runs the shipped file (its spec gives names, size rule, value range)."""
    result_sha256: str
    """SHA-256 of the converted file with the pinned libraries (the manifest pins the same)."""

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
V1_SHA256 = {
    "hayao": "002d98b71fbc6f469846d05cff2e1fc6649e919cad9e026ce58a29dac7c881d2",
    "shinkai": "fe41a04ba9aa1905b3e349d4eec3885039fca8a682cedfb15d6aba6e391b8e7d",
    "paprika": "86e406f5f39c4d732b196b421d8338b6019e42bf7f7477b0510e099a00b32744",
    "charge": "c205f69ad7793dd4dfc98cd6b370e48625acbe324dc7f034a46732657a431d4f",
    "iblard": "f112e9458c4b16355387b283373aaa6c6dcfa0ecea2cc21b55a593536f6020f8",
    "strange_daddy": "a1ee6c869e85d05d418e0aaae3e2b0e27f3b3ab322ce58b1d36b7a0411ac0124",
}
V1_FILES = {"Hayao": "hayao", "Shinkai": "shinkai", "Paprika": "paprika", "Charge": "charge", "Iblard": "iblard",
            "StrangeDaddy": "strange_daddy"}

CASES = (
    ConvertCase("v2_hayao", "tflite-int8-animeganv2", {"model": "animeganv2_hayao_256x256_integer_quant.tflite"},
                "animeganv2_hayao_bryandlee_generator.pt", "hayao",
                "a59475f616c7fdc5c9b19b7c75e7b084e5180ac3ff234dd4905c5b9147e66ccc"),
    ConvertCase("v3_hayao36", "tflite-onnx", {"model": "AnimeGANv3_Hayao_36_QUANTIZED_fp16.tflite"},
                "animeganv3_hayao36_512x512.onnx", "hayao_v3",
                "903ce2f36f02dc397eaa0fbeae3463b07ac568f1b23a127b920a5895d1e10d47"),
    ConvertCase("v3_shinkai37", "tf-graph-onnx", {"model": "AnimeGANv3_Shinkai_37.pb"}, "animeganv3_shinkai37.onnx",
                "shinkai", "84f2e5ba5d70d8db52a4b02ee740d025c59010bb0e9576e183cdafa59694592f"),
    *(ConvertCase(f"v1_{V1_FILES[name]}", "tfjs-onnx", _tfjs(f"AnimeGANv1_{name}_tfjs_uint8.zip"),
                  f"animeganv1_{V1_FILES[name]}.onnx", style, V1_SHA256[V1_FILES[name]]) for style, name in V1_STYLES.items()),
    ConvertCase("whitebox", "tfjs-onnx", _tfjs("WhiteBox_Cartoonization_tfjs_float16.zip"), "whitebox_cartoonization.onnx",
                "cartoon", "a88622f2c266cb6a6ee25363f47ce9401b29101dc9f80028e0cc7a10a67556f4"),
)
