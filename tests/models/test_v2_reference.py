"""The v2 PyTorch generator agrees with an independent path: the same weights exported to ONNX by
torch's own exporter and run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from animegan import Engine, StylizeOptions
from animegan.archs.animeganv2 import Generator
from animegan.backends.torch_backend import load_state_dict
from animegan.imageio import Picture

TOLERANCE = 2e-3  # in [0, 1] pixel units; this export measured ~4e-4 max error against the reference


@pytest.mark.slow
def test_v2_hayao_matches_onnxruntime(engine: Engine, photos: Path, tmp_path: Path) -> None:
    model = Generator().eval()
    model.load_state_dict(load_state_dict(engine.weights.resolve("animeganv2_hayao_bryandlee_generator.pt")), strict=True)
    onnx_path = tmp_path / "hayao.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 256, 256),), str(onnx_path), input_names=["x"], output_names=["y"],
                      dynamo=True, optimize=True, verbose=False)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    im = Image.open(photos / "portrait_obama_official.jpg").convert("RGB").resize((256, 256), Image.LANCZOS)
    rgb = np.asarray(im, np.float32) / 255
    (y,) = session.run(None, {"x": (rgb * 2 - 1).transpose(2, 0, 1)[None]})
    independent = np.clip((y[0].transpose(1, 2, 0) + 1) / 2, 0, 1)

    # onnxruntime fp32: this checks the pipeline around the generator; the faster backends are held to fp32 elsewhere
    ours = engine.stylize(Picture(rgb=rgb, mode="RGB", size=(256, 256)), StylizeOptions(style="hayao", backend="onnx")).rgb
    err = np.abs(ours - independent)
    assert err.max() < TOLERANCE, f"max |diff| {err.max():.5f}, mean {err.mean():.6f}"
    assert np.abs(ours - rgb).mean() > 0.03  # and it really is stylized
