"""Forms of the v2 generator tried in issue 16, timed against the shipped fp32 export in one process:
``python bench/generator_variants.py [--side 512] [--runs 5] [--photo NAME]``.

Prints JSON: per variant the median seconds at ``side``², the ratio to the fp32 export (alternated runs) and
the PSNR against the exact fp32 PyTorch generator on one real photo. None of these is on the product path
(docs/speed.md, "Third round"); they are kept so the comparison can be repeated on a quiet machine.

* ``export``: the shipped fp32 ONNX export (GroupNorm as exported).
* ``constant``: every GroupNorm replaced by the per-channel affine of *this* photo's statistics, γ folded into
  the weights (onnxruntime fuses every convolution with its LeakyReLU): the speed ceiling, right for one photo.
* ``strided``: the same folding with per-photo statistics from a strided (``--stride``) copy of each convolution
  and the bias as a dynamic input of the convolution (onnxruntime then cannot use its NCHWc kernels).
* ``split``: one onnxruntime session per convolution (NCHWc, no bias) with exact statistics, affine, LeakyReLU,
  residual, resize and the next reflection pad fused in numba kernels between them (only if numba is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import Engine  # noqa: E402
from animegan.archs.animeganv2 import ConvNormLReLU, Generator, InvertedResBlock  # noqa: E402
from animegan.archs.layout import Nhwc  # noqa: E402
from animegan.backends.derived import image_dims  # noqa: E402
from animegan.backends.onnx_backend import open_session, run  # noqa: E402
from animegan.backends.torch_backend import load_state_dict  # noqa: E402
from animegan.imageio import decode  # noqa: E402
from animegan.quality import psnr  # noqa: E402
from animegan.resample import resize  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or REPO.parent / "shared" / "photos")


class Folded(nn.Module):
    """The generator with γ folded into each convolution and the bias ``σβ − γμ`` (``σ`` carried as a scalar).

    ``given`` (per layer: mean, variance of the exact model) makes the statistics constants; else they come
    from the layer's convolution evaluated at every ``stride``-th output pixel."""

    def __init__(self, g: Generator, stride: int, given: list[tuple[float, float]] | None = None) -> None:
        super().__init__()
        self.g, self.stride, self.given = g.eval(), stride, given
        self.layer = 0

    def cnl(self, z: torch.Tensor, s: torch.Tensor, m: nn.Sequential, act: bool = True,
            resid: torch.Tensor | None = None, s_resid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pad, conv, gn = m[0], m[1], m[2]
        zp = pad(z)
        cb = None if conv.bias is None else conv.bias * s
        st = conv.stride[0]
        if self.given is None:
            sample = F.conv2d(zp, conv.weight, cb, stride=st * self.stride, groups=conv.groups)
            var, mu = torch.var_mean(sample, correction=0)
        else:
            mean, variance = self.given[self.layer]
            mu, var = mean * s, variance * s * s
        self.layer += 1
        sig = torch.sqrt(var + s * s * gn.eps)
        b = sig * gn.bias - gn.weight * mu + (0 if cb is None else gn.weight * cb)
        y = F.conv2d(zp, conv.weight * gn.weight.view(-1, 1, 1, 1), b, stride=st, groups=conv.groups)
        if resid is not None and s_resid is not None:
            y = y + (sig / s_resid) * resid
        return (F.leaky_relu(y, 0.2) if act else y), sig

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.layer = 0
        g, s, y = self.g, torch.tensor(1.0), x
        for m in g.block_a:
            y, s = self.cnl(y, s, m)
        half = y.shape[-2:]
        for m in g.block_b:
            y, s = self.cnl(y, s, m)
        for m in g.block_c:
            if isinstance(m, InvertedResBlock):
                h, s1 = self.cnl(y, s, m.layers[0])
                h, s2 = self.cnl(h, s1, m.layers[1])
                last = nn.Sequential(nn.Identity(), m.layers[2], m.layers[3])
                y, s = self.cnl(h, s2, last, act=False, resid=y if m.residual else None, s_resid=s)
            else:
                y, s = self.cnl(y, s, m)
        y = F.interpolate(y, size=half, mode="bilinear", align_corners=True)
        for m in g.block_d:
            y, s = self.cnl(y, s, m)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)
        for m in g.block_e:
            y, s = self.cnl(y, s, m)
        return torch.tanh(F.conv2d(y, g.out_layer[0].weight) / s)


def export(model: nn.Module, dst: Path) -> Path:
    x = torch.rand(1, 128, 128, 3) * 2 - 1
    h, w = image_dims()
    program = torch.onnx.export(Nhwc(model).eval(), (x,), dynamo=True, dynamic_shapes={"x": {1: h, 2: w}},
                                input_names=["x"], output_names=["y"], optimize=True, verbose=False)
    assert program is not None
    program.save(str(dst))
    return dst


def split_runner(g: Generator, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """One NCHWc convolution session per layer; normalization and everything between them in numba."""
    import numba as nb
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    @nb.njit(inline="always")
    def refl(i: int, n: int) -> int:
        return -i if i < 0 else (2 * n - 2 - i if i >= n else i)

    @nb.njit(parallel=True, fastmath=True)
    def moments(u: np.ndarray) -> tuple[float, float]:
        c_count = u.shape[0]
        s, q = np.zeros(c_count), np.zeros(c_count)
        for c in nb.prange(c_count):
            flat = u[c].ravel()
            a = 0.0
            b = 0.0
            for v in flat:
                a += v
                b += v * v
            s[c], q[c] = a, b
        return s.sum(), q.sum()

    @nb.njit(parallel=True, fastmath=True)
    def affine_pad(u: np.ndarray, a: np.ndarray, b: np.ndarray, slope: float, res: np.ndarray, use_res: bool,
                   out: np.ndarray, pt: int, pl: int) -> None:
        c_count, h, w = u.shape
        for c in nb.prange(c_count):
            for r in range(out.shape[1]):
                sr = refl(r - pt, h)
                row = out[c, r]
                if use_res:
                    for j in range(w):
                        v = u[c, sr, j] * a[c] + b[c] + res[c, sr, j]
                        row[pl + j] = max(v, v * slope)
                else:
                    for j in range(w):
                        v = u[c, sr, j] * a[c] + b[c]
                        row[pl + j] = max(v, v * slope)
                for j in range(pl):
                    row[j] = row[pl + refl(j - pl, w)]
                for j in range(pl + w, out.shape[2]):
                    row[j] = row[pl + refl(j - pl, w)]

    @nb.njit(parallel=True, fastmath=True)
    def resize_pad(u: np.ndarray, out: np.ndarray, h_out: int, w_out: int, pt: int, pl: int) -> None:
        c_count, h, w = u.shape
        fy = (h - 1) / (h_out - 1) if h_out > 1 else 0.0
        fx = (w - 1) / (w_out - 1) if w_out > 1 else 0.0
        for c in nb.prange(c_count):
            for r in range(out.shape[1]):
                y = refl(r - pt, h_out) * fy
                y0 = int(y)
                y1, wy = min(y0 + 1, h - 1), y - y0
                for j in range(out.shape[2]):
                    x = refl(j - pl, w_out) * fx
                    x0 = int(x)
                    x1, wx = min(x0 + 1, w - 1), x - x0
                    top = u[c, y0, x0] * (1 - wx) + u[c, y0, x1] * wx
                    bottom = u[c, y1, x0] * (1 - wx) + u[c, y1, x1] * wx
                    out[c, r, j] = top * (1 - wy) + bottom * wy

    @nb.njit(parallel=True)
    def nhwc_pad(x: np.ndarray, out: np.ndarray, pt: int, pl: int) -> None:
        h, w, c_count = x.shape
        for r in nb.prange(out.shape[1]):
            sr = refl(r - pt, h)
            for j in range(out.shape[2]):
                sj = refl(j - pl, w)
                for c in range(c_count):
                    out[c, r, j] = x[sr, sj, c]

    with tempfile.TemporaryDirectory() as tmp:
        def conv_session(conv: nn.Conv2d, i: int) -> Any:
            weight = conv.weight.detach().numpy()
            inits = [numpy_helper.from_array(weight, "W")]
            if conv.bias is not None:
                inits.append(numpy_helper.from_array(conv.bias.detach().numpy(), "B"))
            node = helper.make_node("Conv", ["x", *(i.name for i in inits)], ["y"], strides=list(conv.stride),
                                    group=conv.groups, pads=[0, 0, 0, 0])
            x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[1] * conv.groups, "h", "w"])
            y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight.shape[0], "H", "W"])
            graph = helper.make_graph([node], "conv", [x_info], [y_info], inits)
            path = Path(tmp) / f"conv{i}.onnx"
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
            return open_session(path, threads)

        ops: list[dict[str, Any]] = []

        def cnl(m: nn.Sequential, act: bool = True, save: bool = False, add: bool = False) -> None:
            pad = tuple(m[0].padding) if isinstance(m[0], nn.ReflectionPad2d) else (0, 0, 0, 0)
            gn = m[2]
            ops.append({"s": conv_session(m[1], len(ops)), "gamma": gn.weight.detach().double().numpy(),
                        "beta": gn.bias.detach().double().numpy(), "eps": gn.eps, "slope": 0.2 if act else 1.0,
                        "pad": pad, "save": save, "add": add, "resize": None, "half": False})

        for m in g.block_a:
            cnl(m)
        ops[-1]["half"] = True
        for m in g.block_b:
            cnl(m)
        for m in g.block_c:
            if isinstance(m, InvertedResBlock):
                cnl(m.layers[0], save=m.residual)
                cnl(m.layers[1])
                cnl(nn.Sequential(nn.Identity(), m.layers[2], m.layers[3]), act=False, add=m.residual)
            else:
                assert isinstance(m, ConvNormLReLU)
                cnl(m)
        ops[-1]["resize"] = "half"
        for m in g.block_d:
            cnl(m)
        ops[-1]["resize"] = "full"
        for m in g.block_e:
            cnl(m)
        out_session = conv_session(g.out_layer[0], len(ops))

    def forward(x_nhwc: np.ndarray) -> np.ndarray:
        h, w = x_nhwc.shape[1:3]
        pl, pr, pt, pb = ops[0]["pad"]
        zp = np.empty((3, h + pt + pb, w + pl + pr), np.float32)
        nhwc_pad(x_nhwc[0], zp, pt, pl)
        saved, half = zp, (h // 2, w // 2)
        for k, op in enumerate(ops):
            if op["save"]:
                saved = zp
            u = run(op["s"], ["y"], {"x": zp[None]})[0][0]
            if op["half"]:
                half = u.shape[1:]
            s, q = moments(u)
            mu = s / u.size
            inv = 1.0 / np.sqrt(q / u.size - mu * mu + op["eps"])
            a = (op["gamma"] * inv).astype(np.float32)
            b = (op["beta"] - op["gamma"] * mu * inv).astype(np.float32)
            pl, pr, pt, pb = ops[k + 1]["pad"] if k + 1 < len(ops) else (0, 0, 0, 0)
            if op["resize"]:
                t = np.empty(u.shape, np.float32)
                affine_pad(u, a, b, op["slope"], saved, op["add"], t, 0, 0)
                th, tw = half if op["resize"] == "half" else (h, w)
                zp = np.empty((u.shape[0], th + pt + pb, tw + pl + pr), np.float32)
                resize_pad(t, zp, th, tw, pt, pl)
            else:
                zp = np.empty((u.shape[0], u.shape[1] + pt + pb, u.shape[2] + pl + pr), np.float32)
                affine_pad(u, a, b, op["slope"], saved, op["add"], zp, pt, pl)
        y = run(out_session, ["y"], {"x": zp[None]})[0][0]
        return np.tanh(y).transpose(1, 2, 0)[None]

    return forward


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--stride", type=int, default=4, help="statistics sampling stride of the 'strided' variant")
    p.add_argument("--photo", default="city_tokyo_street.jpg")
    args = p.parse_args()
    engine = Engine()
    threads = engine.settings.threads
    torch.set_num_threads(threads)
    g = Generator().eval()
    g.load_state_dict(load_state_dict(engine.weights.resolve("animeganv2_hayao_bryandlee_generator.pt")))
    rgb = decode(PHOTOS / args.photo, 40_000_000).rgb
    side = min(rgb.shape[:2])
    rgb = resize(rgb[:side, :side], args.side, args.side)
    x = (rgb * 2 - 1)[None].astype(np.float32)
    x_nchw = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        exact = g(x_nchw).permute(0, 2, 3, 1).numpy()
        _, stats = g.forward_with_stats(x_nchw, torch.zeros(24, 2), torch.tensor(0.0))
    given = [(float(m), float(v)) for m, v in stats]
    variants: dict[str, Callable[[], np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for name, model in (("export", g), ("constant", Folded(g, args.stride, given)), ("strided", Folded(g, args.stride))):
            session = open_session(export(model, Path(tmp) / f"{name}.onnx"), threads)
            variants[name] = lambda s=session: run(s, ["y"], {"x": x})[0]
    try:
        split = split_runner(g, threads)
    except ImportError as err:
        print(f"split variant skipped: {err}", file=sys.stderr)
    else:
        variants["split"] = lambda: split(x)
    want = np.clip((exact + 1) / 2, 0, 1)
    quality = {name: round(psnr(np.clip((fn() + 1) / 2, 0, 1), want), 2) for name, fn in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["export"])
    rows = [{"variant": name, "median_s": round(statistics.median(t), 3),
             "speedup_vs_export": round(base / statistics.median(t), 2), "psnr_vs_exact_db": quality[name]}
            for name, t in times.items()]
    print(json.dumps({"side": args.side, "photo": args.photo, "threads": threads, "runs": args.runs,
                      "load_avg": [round(v, 2) for v in os.getloadavg()], "variants": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
