"""Read a TensorFlow.js graph model: ``model.json`` (a ``GraphDef`` in JSON plus a weights manifest) and its
one binary shard.

Weights keep their compact storage: uint8-quantized ones stay uint8 with their ``scale`` and ``min``
(value ``q·scale + min``), float16 ones stay float16; :mod:`.tf_graph` writes them the same way into ONNX.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsError
from . import pb
from .ir import Constant, TfGraph

_PLAIN: dict[str, type[np.generic]] = {"float32": np.float32, "int32": np.int32}
"""Unquantized tfjs weight dtypes (little-endian, 4 bytes)."""
_QUANTIZED: dict[str, type[np.generic]] = {"uint8": np.uint8, "float16": np.float16}
"""The stored dtypes of quantized float32 tfjs weights."""


def read_graph_model(model_json: Path, shard: Path) -> TfGraph:
    """The graph of a tfjs graph model whose weights are all in ``shard``.

    Raises WeightsError naming the file for invalid JSON, a layers model, a manifest the shard does not fit,
    or an unsupported weight encoding.
    """
    try:
        doc = json.loads(model_json.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise WeightsError(f"{model_json}: not a readable tfjs model.json ({err})") from err
    if not isinstance(doc, dict) or doc.get("format") not in (None, "graph-model") or "modelTopology" not in doc:
        raise WeightsError(f"{model_json}: not a tfjs graph model (needs format 'graph-model' and a modelTopology)")
    graph_def = pb.graph_def_from_json(doc["modelTopology"], str(model_json))
    try:
        data = shard.read_bytes()
    except OSError as err:
        raise WeightsError(f"{shard}: cannot read the weight shard ({err})") from err
    weights = _weights(doc.get("weightsManifest"), data, model_json, shard)
    signature = doc.get("signature") or doc.get("userDefinedMetadata", {}).get("signature") or {}
    outputs = [spec["name"] for spec in signature.get("outputs", {}).values() if isinstance(spec, dict) and "name" in spec]
    return pb.read_graph(graph_def, str(model_json), weights, outputs)


def _weights(manifest: Any, data: bytes, model_json: Path, shard: Path) -> dict[str, Constant]:
    """Every weight of the manifest, read in order from ``data`` (the concatenated shards: here one file)."""
    if not isinstance(manifest, list) or not manifest:
        raise WeightsError(f"{model_json}: weightsManifest is missing or empty")
    paths = [p for group in manifest for p in group.get("paths", [])]
    if len(paths) != 1:
        raise WeightsError(f"{model_json}: the weights are split over {len(paths)} shards ({paths}); only one shard "
                           f"is supported")
    specs = [w for group in manifest for w in group.get("weights", [])]
    out: dict[str, Constant] = {}
    offset = 0
    for spec in specs:
        try:
            name, shape, dtype = spec["name"], [int(d) for d in spec["shape"]], spec["dtype"]
        except (KeyError, TypeError, ValueError) as err:
            raise WeightsError(f"{model_json}: a weightsManifest entry lacks name, shape or dtype: {spec!r}") from err
        count = int(np.prod(shape, dtype=np.int64))
        quant = spec.get("quantization")
        if quant:
            stored_type = _QUANTIZED.get(quant.get("dtype"))
            if stored_type is None or dtype != "float32":
                raise WeightsError(f"{model_json}: weight {name!r} is quantized as {quant.get('dtype')!r} from {dtype!r}; "
                                   f"only uint8 and float16 encodings of float32 are supported")
        else:
            stored_type = _PLAIN.get(dtype)
            if stored_type is None:
                raise WeightsError(f"{model_json}: weight {name!r} has dtype {dtype!r}; only float32 and int32 are supported")
        size = count * np.dtype(stored_type).itemsize
        if offset + size > len(data):
            raise WeightsError(f"{shard}: holds {len(data)} bytes, but model.json needs at least {offset + size} "
                               f"(weight {name!r}); the shard is truncated or belongs to another model")
        stored = np.frombuffer(data, np.dtype(stored_type).newbyteorder("<"), count, offset).astype(stored_type).reshape(shape)
        offset += size
        if quant and quant["dtype"] == "uint8":
            try:
                scale, minimum = float(quant["scale"]), float(quant["min"])
            except (KeyError, TypeError, ValueError) as err:
                raise WeightsError(f"{model_json}: uint8 weight {name!r} lacks a numeric scale and min") from err
            out[name] = Constant(stored, "affine", scale, minimum)
        else:
            out[name] = Constant(stored, "float16" if stored_type is np.float16 else "plain")
    if offset != len(data):
        raise WeightsError(f"{shard}: holds {len(data)} bytes but model.json describes {offset}; "
                           f"the shard belongs to another model")
    return out
