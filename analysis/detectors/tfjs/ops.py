"""The torch steps that TFJS graph ops become (NCHW inside, TF semantics: SAME padding, legacy resize...).

An op or attribute not implemented here raises ``NotImplementedError`` naming it: never an approximation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .reader import (
    TfjsNode,
)


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


