"""Reading a TFJS graph model: ``model.json``, its weight manifest and the little-endian ``.bin`` shards.

It parses JSON and raw bytes only; it never executes anything shipped with a model package.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("bool"),
    "float16": np.dtype("<f2"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}

_TF_DTYPES: dict[str, torch.dtype] = {
    "DT_FLOAT": torch.float32,
    "DT_HALF": torch.float16,
    "DT_INT32": torch.int32,
    "DT_INT64": torch.int64,
    "DT_BOOL": torch.bool,
}



@dataclass(frozen=True)
class TfjsNode:
    """One node of the graph, as stored in ``modelTopology.node`` (control inputs dropped)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, Any]

    def attr_ints(self, key: str) -> list[int]:
        return [int(v) for v in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def attr_int(self, key: str, default: int = 0) -> int:
        return int(self.attr.get(key, {}).get("i", default))

    def attr_bool(self, key: str, default: bool = False) -> bool:
        return bool(self.attr.get(key, {}).get("b", default))

    def attr_float(self, key: str, default: float = 0.0) -> float:
        return float(self.attr.get(key, {}).get("f", default))

    def attr_str(self, key: str, default: str = "") -> str:
        raw = self.attr.get(key, {}).get("s")
        return base64.b64decode(raw).decode() if raw is not None else default

    def attr_strs(self, key: str) -> list[str]:
        return [base64.b64decode(s).decode() for s in self.attr.get(key, {}).get("list", {}).get("s", [])]

    def attr_type(self, key: str) -> str:
        return str(self.attr.get(key, {}).get("type", ""))


@dataclass
class TfjsGraph:
    """The parsed graph: nodes in file order, dequantised constants, and the signature's tensor names."""

    nodes: dict[str, TfjsNode]
    constants: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


def _read_weights(manifest: list[dict[str, Any]], base_dir: Path) -> dict[str, np.ndarray]:
    """Decode every weight group: shards are concatenated, entries follow each other without padding.

    An entry's ``dtype`` is what the graph computes with; a ``quantization`` block, when present, says how
    the bytes are really stored (``float16``, or ``uint8``/``uint16`` with ``scale`` and ``min``). The
    manifest of the CenterNet model declares ``float32`` while storing float16, so the stored dtype must
    come from ``quantization``, never from ``dtype``.
    """
    values: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((base_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            name, dtype, shape = entry["name"], entry["dtype"], [int(s) for s in entry["shape"]]
            count = math.prod(shape)
            quant = entry.get("quantization")
            stored = quant["dtype"] if quant else dtype
            if stored not in _NUMPY_DTYPES or dtype not in _NUMPY_DTYPES:
                raise NotImplementedError(
                    f"weight {name!r}: unsupported dtype {dtype!r} stored as {stored!r}"
                )
            np_stored = _NUMPY_DTYPES[stored]
            size = count * np_stored.itemsize
            if offset + size > len(data):
                raise ValueError(f"weight {name!r} runs past the end of its shards ({group['paths']})")
            raw = np.frombuffer(data, dtype=np_stored, count=count, offset=offset)
            offset += size
            if quant and stored in ("uint8", "uint16"):
                if "scale" not in quant or "min" not in quant:
                    raise NotImplementedError(f"weight {name!r}: {stored} quantization without scale/min")
                array = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            else:
                array = raw
            values[name] = array.astype(_NUMPY_DTYPES[dtype], copy=True).reshape(shape)
        if offset != len(data):
            raise ValueError(f"weight group {group['paths']}: {len(data) - offset} bytes left unread")
    return values


def read_graph_model(model_json: Path) -> TfjsGraph:
    """Parse ``model_json`` and the weight shards next to it; check every ``Const`` node has a value."""
    spec = json.loads(model_json.read_text())
    if spec.get("format") != "graph-model":
        raise ValueError(f"{model_json}: format is {spec.get('format')!r}, expected 'graph-model'")
    constants = _read_weights(spec["weightsManifest"], model_json.parent)
    nodes: dict[str, TfjsNode] = {}
    for raw in spec["modelTopology"]["node"]:
        node_inputs = tuple(i for i in raw.get("input", []) if not i.startswith("^"))
        nodes[raw["name"]] = TfjsNode(raw["name"], raw["op"], node_inputs, raw.get("attr", {}))
    missing = [n.name for n in nodes.values() if n.op == "Const" and n.name not in constants]
    if missing:
        raise ValueError(f"{model_json}: Const nodes without stored values: {missing[:5]}")
    signature = spec.get("signature", {})
    inputs = [v["name"] for v in signature.get("inputs", {}).values()]
    outputs = [v["name"] for v in signature.get("outputs", {}).values()]
    metadata = {k: v for k, v in spec.items() if k not in ("modelTopology", "weightsManifest")}
    return TfjsGraph(nodes=nodes, constants=constants, inputs=inputs, outputs=outputs, metadata=metadata)


