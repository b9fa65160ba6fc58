"""The style registry: every user-facing style is one frozen :class:`StyleSpec`.

Adding a style means one ``STYLES.add(...)`` here and one line in ``weights/manifest.json``.
UI choices, CLI choices and the model tests are generated from this registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypedDict, TypeVar

from .errors import AnimeGANError, UnknownStyleError

Cost = Literal["fast", "medium", "slow"]


@dataclass(frozen=True)
class SizeRule:
    """Input sizes a model accepts: any multiple of ``multiple_of`` (at least ``min_side``), or one fixed size."""

    multiple_of: int = 8
    fixed: tuple[int, int] | None = None
    min_side: int = 32

    def padded(self, height: int, width: int) -> tuple[int, int]:
        """Smallest accepted (H, W) that contains ``height × width`` (the fixed size for fixed models)."""
        if self.fixed:
            return self.fixed
        m = self.multiple_of

        def up(n: int) -> int:
            return max(-(-max(n, self.min_side) // m) * m, m)

        return up(height), up(width)


@dataclass(frozen=True)
class StyleSpec:
    """Facts about one style. Layout and value range describe the model's own input/output tensors."""

    id: str
    label: str
    description: str
    weights: str
    family: str
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    value_range: tuple[float, float] = (-1.0, 1.0)
    size: SizeRule = field(default_factory=SizeRule)
    input_name: str | None = None
    output_name: str | None = None
    grade: str | None = None
    """A colour grade from :mod:`animegan.grades` that is part of the style (always applied)."""
    face_style: str | None = None
    """Style used for faces in face-aware mode (None: this style's own model)."""
    cost: Cost = "medium"
    tile_margin: int = 128
    """Context (px) each full-resolution tile gets beyond its blended area: covers the receptive field."""
    fp32_tail: str | None = None
    """The graph's tensor after which OpenVINO computes in fp32 even at bf16 (a tail that bf16 breaks, such as
    White-box's guided filter, whose variances cancel to NaN); None: the whole graph at the chosen precision."""
    default_side: int | None = None
    """Processing size (longer side, px) for a request that does not set one, for a style too slow for the
    process default (``Settings.max_side``); an explicit ``max_side`` always wins. None: the process default."""


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


SpecT = TypeVar("SpecT", bound=_Identified)


class Registry(Generic[SpecT]):
    """Ordered, duplicate-free collection of frozen specs keyed by a lowercase slug ``id``.

    ``kind`` names the entries in messages; ``unknown`` is the error :meth:`get` raises.
    """

    def __init__(self, kind: str, unknown: type[AnimeGANError]) -> None:
        self.kind = kind
        self._unknown = unknown
        self._specs: dict[str, SpecT] = {}

    def add(self, spec: SpecT) -> SpecT:
        if spec.id in self._specs:
            raise ValueError(f"{self.kind} id {spec.id!r} is registered twice")
        if spec.id != spec.id.lower() or not spec.id.replace("_", "").isalnum():
            raise ValueError(f"{self.kind} id {spec.id!r} must be a lowercase slug")
        self._specs[spec.id] = spec
        return spec

    def get(self, spec_id: str) -> SpecT:
        """The spec for ``spec_id``. Raises the registry's ``unknown`` error listing the valid ids."""
        try:
            return self._specs[spec_id]
        except KeyError:
            raise self._unknown(f"unknown {self.kind} {spec_id!r}; choose one of: {', '.join(self._specs)}") from None

    def ids(self) -> list[str]:
        return list(self._specs)

    def __iter__(self) -> Iterator[SpecT]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, spec_id: object) -> bool:
        return spec_id in self._specs


STYLES: Registry[StyleSpec] = Registry("style", UnknownStyleError)


class _V1Facts(TypedDict):
    """What every AnimeGAN v1 export shares: its tensor names and its cost."""

    input_name: str
    output_name: str
    cost: Cost


_V1: _V1Facts = {"input_name": "generator_input:0", "output_name": "generator/G_MODEL/Tanh:0", "cost": "slow"}

STYLES.add(StyleSpec(
    id="hayao", label="Miyazaki (Hayao)", family="AnimeGANv2",
    description="Studio Ghibli look: soft painted skies, warm greens, gentle outlines (AnimeGANv2, PyTorch).",
    weights="animeganv2_hayao_bryandlee_generator.pt", layout="NCHW", face_style="cute",
))
STYLES.add(StyleSpec(
    id="shinkai", label="Shinkai", family="AnimeGANv3",
    description="Makoto Shinkai look: crisp lines, luminous blue skies, vivid light (AnimeGANv3).",
    weights="animeganv3_shinkai37.onnx", input_name="AnimeGANv3_input:0",
    output_name="generator_1/main/out_layer:0", face_style="cute",
))
STYLES.add(StyleSpec(
    id="paprika", label="Paprika", family="AnimeGAN v1",
    description="Satoshi Kon's Paprika: saturated, warm, high-contrast colours (AnimeGAN v1).",
    weights="animeganv1_paprika.onnx", face_style="cute", **_V1,
))
STYLES.add(StyleSpec(
    id="cute", label="Portrait (Cute)", family="AnimeGANv3 tiny",
    description="Portrait model: soft skin, bigger eyes, pastel tones; best on faces (AnimeGANv3 tiny).",
    weights="animeganv3_tiny_cute.onnx", size=SizeRule(multiple_of=16), input_name="AnimeGANv3_input:0",
    output_name="generator/main/out_layer:0", cost="fast",
))
STYLES.add(StyleSpec(
    id="cyberpunk", label="Cyberpunk", family="AnimeGANv3 + grade",
    description="Shinkai model plus our own neon colour grade: blue-violet shadows, magenta highlights.",
    weights="animeganv3_shinkai37.onnx", input_name="AnimeGANv3_input:0",
    output_name="generator_1/main/out_layer:0", grade="neon", face_style="cute",
))
STYLES.add(StyleSpec(
    id="cartoon", label="Cartoon (White-box)", family="White-box Cartoonization",
    description="Not anime: flat-shaded Western cartoon look with clean regions (White-box Cartoonization).",
    weights="whitebox_cartoonization.onnx", input_name="input_photo:0", output_name="final_output:0", face_style="cute",
    fp32_tail="Transpose__414:0",  # the generator's output: the guided filter after it runs in fp32
))
STYLES.add(StyleSpec(
    id="hayao_v3", label="Hayao v3", family="AnimeGANv3",
    description="AnimeGANv3 Hayao: stronger Ghibli colours; runs at a fixed 512×512 and is resized back.",
    weights="animeganv3_hayao36_512x512.onnx", size=SizeRule(fixed=(512, 512)),
    input_name="AnimeGANv3_input", output_name="generator_1/main/out_layer", face_style="cute",
))
STYLES.add(StyleSpec(
    id="hayao_v1", label="Hayao v1", family="AnimeGAN v1",
    description="The original AnimeGAN Hayao model: painterly with a greenish cast (AnimeGAN v1).",
    weights="animeganv1_hayao.onnx", face_style="cute", **_V1,
))
STYLES.add(StyleSpec(
    id="shinkai_v1", label="Shinkai v1", family="AnimeGAN v1",
    description="The original AnimeGAN Shinkai model: darker and flatter (AnimeGAN v1).",
    weights="animeganv1_shinkai.onnx", face_style="cute", **_V1,
))
STYLES.add(StyleSpec(
    id="charge", label="Charge", family="AnimeGAN v1",
    description="Pale blue-and-white comic look (AnimeGAN v1 community model).",
    weights="animeganv1_charge.onnx", face_style="cute", **_V1,
))
STYLES.add(StyleSpec(
    id="iblard", label="Iblard", family="AnimeGAN v1",
    description="Purple painterly fantasy look; visible artefacts, the weakest model (AnimeGAN v1 community model).",
    weights="animeganv1_iblard.onnx", face_style="cute", **_V1,
))
STYLES.add(StyleSpec(
    id="ink", label="Ink sketch", family="AnimeGAN v1",
    description="Black-and-white ink drawing (AnimeGAN v1 'strange_daddy' community model).",
    weights="animeganv1_strange_daddy.onnx", **_V1,
))
STYLES.add(StyleSpec(
    id="hosoda", label="Hosoda (Summer Wars)", family="CartoonGAN",
    description="Mamoru Hosoda look (Summer Wars, Wolf Children): clean outlines, flat pastel shading (CartoonGAN).",
    # the graph takes RGB: the released network is BGR, and the conversion reorders its first and last convolutions
    weights="cartoongan_hosoda.onnx", size=SizeRule(multiple_of=4), cost="slow", default_side=512,
))
