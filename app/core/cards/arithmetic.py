"""Multiply-adds of one Keras layer per sample, from its class, config and shapes alone.

The convention is the papers' (MobileNetV2's 300 M, ResNet-50's 3.9 G, EfficientNet-B0's
0.39 G): a multiply-add is one multiply-accumulate of a convolution, a dense (matrix)
product, an attention product or a recurrent cell's matrices. Everything else counts 0:
biases, batch normalisation (folded into the convolution at inference), activations,
pooling, merges, resizing and other element-wise work. Model cards store these counts per
layer (card.py) and the analysis sums them per node (analysis/cost.py), so both count alike.

Shapes are Keras's, batch first (`(None, 112, 112, 32)`); a needed dimension that is unknown,
or a layer with weights whose arithmetic is not known here, gives None: unknown, never a guess."""

from __future__ import annotations

import math
from collections.abc import Sequence

Shape = Sequence[int | None]

# Layers with weights that do no multiply-adds by the convention above.
NO_MACS = frozenset({
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "Normalization", "Embedding", "PReLU",
})
_RECURRENT_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def layer_macs(class_name: str, config: dict, inputs: Sequence[Shape], output: Shape | None,
               weighted: bool) -> int | None:
    """Multiply-adds per sample of one call of a `class_name` layer with this `config` on
    tensors of these shapes; `weighted`: whether the layer has weights (an unknown class
    without any counts 0)."""
    try:
        macs = _macs(class_name, config, inputs, output)
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # a config or shape this arithmetic does not understand
    if macs is _UNKNOWN_CLASS:
        return None if weighted and class_name not in NO_MACS else 0
    return macs


_UNKNOWN_CLASS = object()


def _size(dims) -> int | None:
    dims = list(dims)
    return None if any(d is None for d in dims) else math.prod(dims)


def _times(*factors) -> int | None:
    return None if any(f is None for f in factors) else math.prod(factors)


def _channels(shape: Shape, config: dict) -> int | None:
    return shape[1] if config.get("data_format") == "channels_first" else shape[-1]


def _kernel(config: dict, rank: int) -> int:
    size = config["kernel_size"]
    return size ** rank if isinstance(size, int) else math.prod(size)


def _spatial_rank(class_name: str) -> int:
    return int(class_name[-2]) if class_name[-2:] in ("1D", "2D", "3D") else 2


def _macs(class_name: str, config: dict, inputs: Sequence[Shape], output: Shape | None):
    base = class_name.removesuffix("Transpose")
    if class_name == "Dense":
        return _times(_size(output[1:]), inputs[0][-1])
    if base in ("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"):
        rank = _spatial_rank(base)
        if class_name.endswith("Transpose"):  # every input value is spread over kernel × filters
            return _times(_size(inputs[0][1:]), _kernel(config, rank), config["filters"])
        per_output = _times(_kernel(config, rank), _channels(inputs[0], config))
        groups = config.get("groups", 1)
        return None if per_output is None else _times(_size(output[1:]), per_output // groups)
    if class_name in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _times(_size(output[1:]), _kernel(config, _spatial_rank(class_name)))
    if class_name in ("SeparableConv1D", "SeparableConv2D"):
        filters = config["filters"]
        points = _size(output[1:])
        depthwise = _times(_channels(inputs[0], config), config.get("depth_multiplier", 1))
        if points is None or depthwise is None:
            return None
        points //= filters
        return points * depthwise * _kernel(config, _spatial_rank(class_name)) + points * depthwise * filters
    if class_name == "Dot":
        axes = config.get("axes", -1)
        axis = axes[0] if isinstance(axes, (list, tuple)) else axes
        return _times(_size(output[1:]), inputs[0][axis])
    if class_name == "Attention":
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        widths = None if None in (query[-1], value[-1]) else query[-1] + value[-1]
        return _times(query[1], key[1], widths)  # the scores, then the weighted values
    if class_name == "MultiHeadAttention":
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        return attention_macs(query, key, value, config["num_heads"], config["key_dim"],
                              config.get("value_dim") or config["key_dim"],
                              config.get("output_shape"))
    if class_name in _RECURRENT_GATES:
        steps, features = inputs[0][1], inputs[0][-1]
        units = config["units"]
        width = None if features is None else features + units  # input and recurrent kernels
        return _times(steps, _RECURRENT_GATES[class_name], width, units)
    return _UNKNOWN_CLASS


def attention_macs(query: Shape, key: Shape, value: Shape, heads: int, key_dim: int, value_dim: int,
                   output_dim: int | None = None) -> int | None:
    """Keras MultiHeadAttention: the query, key and value projections, the scores, the weighted
    values and the output projection (back to the query's width unless `output_dim`)."""
    tq, dq = query[1], query[-1]
    tk, dk, dv = key[1], key[-1], value[-1]
    if None in (tq, dq, tk, dk, dv):
        return None
    out = output_dim if isinstance(output_dim, int) else dq
    projections = tq * dq * heads * key_dim + tk * dk * heads * key_dim + tk * dv * heads * value_dim
    return projections + heads * tq * tk * (key_dim + value_dim) + tq * heads * value_dim * out
