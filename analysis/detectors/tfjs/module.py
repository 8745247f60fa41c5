"""``TfjsGraphModule``: a TFJS graph turned into a static ``nn.Module`` executed in topological order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .ops import (
    _BINARY,
    _FUSED_ACTIVATIONS,
    _LAYOUT_FREE_UNARY,
    _UNARY,
    _Conv,
    _Elementwise,
    _gather,
    _Lambda,
    _MaxPool,
    _Permute,
    _ResizeBilinear,
    _strided_slice,
    _to_nchw_const,
    _top_k,
)
from .reader import (
    _TF_DTYPES,
    TfjsGraph,
    TfjsNode,
    read_graph_model,
)


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

