"""Merges: nodes that combine several tensors into one.

Their inputs are numbered ports `in0`, `in1`, …; a merge always offers one free port
more than it has connected, so the editor can grow it as the user connects."""

from __future__ import annotations

import re

from app.core.graph.params import BOOL, CHOICE, FLOAT, INT, Param
from app.core.graph.specs import TensorSpec, dims_compatible, format_shape, merge_dim
from app.core.nodes.base import MAX_RANK, MERGE, Inferred, NodeType, Port, ShapeError, lazy_keras

_PORT = re.compile(r"^in(\d+)$")


def port_index(port: str) -> int | None:
    match = _PORT.match(port)
    return int(match.group(1)) if match else None


def ordered(inputs: dict[str, TensorSpec]) -> list[tuple[str, TensorSpec]]:
    """Inputs sorted by port number: the order Keras receives them in."""
    return sorted(inputs.items(), key=lambda item: port_index(item[0]) or 0)


class Merge(NodeType):
    category = MERGE
    min_inputs = 2
    max_inputs: int | None = None
    keras_class = ""

    def input_ports(self, node, connected, ctx):
        highest = max((i for i in map(port_index, connected) if i is not None), default=-1)
        count = highest + 2  # every connected port plus one free one to grow into
        if self.max_inputs is not None:
            count = max(min(count, self.max_inputs), highest + 1)
        count = max(count, self.min_inputs)
        return [Port(f"in{i}", required=False) for i in range(count)]  # counted in infer

    def check_count(self, inputs):
        n = len(inputs)
        if n < self.min_inputs:
            raise ShapeError(f"{self.title} needs at least {self.min_inputs} inputs, has {n}",
                             code="unconnected_input")
        if self.max_inputs is not None and n > self.max_inputs:
            raise ShapeError(f"{self.title} takes {self.max_inputs} inputs, has {n}",
                             code="merge_mismatch")

    def make_layer(self, params, name):
        return getattr(lazy_keras().layers, self.keras_class)(name=name)

    def build(self, node, inputs, ctx):
        tensors = [t for _, t in ordered(inputs)]
        return {"out": self.make_layer(node.params, node.name)(tensors)}


class _Elementwise(Merge):
    def infer(self, node, inputs, ctx):
        self.check_count(inputs)
        items = ordered(inputs)
        first_port, first = items[0]
        shape = list(first.shape)
        for port, spec in items[1:]:
            if spec.rank != first.rank or not all(
                dims_compatible(a, b) for a, b in zip(spec.shape, shape)
            ):
                raise ShapeError(
                    f"{self.title} needs equal shapes: {first_port} is {format_shape(first.shape)}"
                    f" but {port} is {format_shape(spec.shape)}",
                    port=port, expected=TensorSpec(tuple(shape), spec.dtype),
                    code="merge_mismatch")
            shape = [merge_dim(a, b) for a, b in zip(shape, spec.shape)]
        return Inferred({"out": TensorSpec(tuple(shape), first.dtype)}, 0)


class Add(_Elementwise):
    name = title = keras_class = "Add"
    help = "Element-wise sum of inputs of equal shape."


class Subtract(_Elementwise):
    name = title = keras_class = "Subtract"
    help = "in0 − in1, element-wise."
    max_inputs = 2


class Multiply(_Elementwise):
    name = title = keras_class = "Multiply"
    help = "Element-wise product, e.g. for gating."


class Average(_Elementwise):
    name = title = keras_class = "Average"
    help = "Element-wise mean: ensemble averaging of model outputs."


class Maximum(_Elementwise):
    name = title = keras_class = "Maximum"
    help = "Element-wise maximum."


class Minimum(_Elementwise):
    name = title = keras_class = "Minimum"
    help = "Element-wise minimum."


class Concatenate(Merge):
    name = title = keras_class = "Concatenate"
    help = "Join inputs along `axis`; all other dimensions must match."
    params = (Param("axis", INT, -1, "Axis to join along (-1 is the last; 0 is the batch).",
                    minimum=-MAX_RANK, maximum=MAX_RANK),)

    def infer(self, node, inputs, ctx):
        self.check_count(inputs)
        items = ordered(inputs)
        first_port, first = items[0]
        rank = first.rank
        axis = node.params["axis"]
        if not (-rank <= axis < rank) or axis % rank == 0:
            raise ShapeError(
                f"Concatenate axis {axis} is out of range for rank-{rank} inputs "
                f"{format_shape(first.shape)}; use an axis in 1…{rank - 1} or -1",
                code="invalid_node")
        axis %= rank
        shape = list(first.shape)
        for port, spec in items[1:]:
            off_axis_ok = spec.rank == rank and all(
                i == axis or dims_compatible(a, b)
                for i, (a, b) in enumerate(zip(spec.shape, shape)))
            if not off_axis_ok:
                expected = list(shape)
                expected[axis] = None
                raise ShapeError(
                    f"Concatenate on axis {axis} needs equal dimensions off that axis: "
                    f"{first_port} is {format_shape(first.shape)} but {port} is "
                    f"{format_shape(spec.shape)}",
                    port=port, expected=TensorSpec(tuple(expected), spec.dtype),
                    code="merge_mismatch")
            for i, dim in enumerate(spec.shape):
                if i == axis:
                    shape[i] = None if shape[i] is None or dim is None else shape[i] + dim
                else:
                    shape[i] = merge_dim(shape[i], dim)
        return Inferred({"out": TensorSpec(tuple(shape), first.dtype)}, 0)

    def make_layer(self, params, name):
        return lazy_keras().layers.Concatenate(axis=params["axis"], name=name)


class Dot(Merge):
    name = title = keras_class = "Dot"
    help = "Dot product of two inputs along `axes` (cosine similarity with `normalize`)."
    max_inputs = 2
    params = (
        Param("axes", INT, -1, "Axis of both inputs to contract (-1 is the last).",
              minimum=-MAX_RANK, maximum=MAX_RANK),
        Param("normalize", BOOL, False, "L2-normalise first, giving cosine similarity."),
    )

    def infer(self, node, inputs, ctx):
        self.check_count(inputs)
        (pa, a), (pb, b) = ordered(inputs)
        axis = node.params["axes"]
        if a.rank != b.rank or not (-a.rank <= axis < a.rank) or axis % a.rank == 0:
            raise ShapeError(
                f"Dot needs two inputs of equal rank and an axis off the batch: got "
                f"{format_shape(a.shape)} and {format_shape(b.shape)} with axes={axis}",
                port=pb, code="merge_mismatch")
        axis %= a.rank
        if not dims_compatible(a.shape[axis], b.shape[axis]):
            expected = list(b.shape)
            expected[axis] = a.shape[axis]
            raise ShapeError(
                f"Dot contracts axis {axis}, which is {a.shape[axis]} in {pa} "
                f"{format_shape(a.shape)} but {b.shape[axis]} in {pb} {format_shape(b.shape)}",
                port=pb, expected=TensorSpec(tuple(expected), b.dtype), code="merge_mismatch")
        rest = [d for i, d in enumerate(a.shape[1:], 1) if i != axis] + \
            [d for i, d in enumerate(b.shape[1:], 1) if i != axis]
        return Inferred({"out": TensorSpec((a.shape[0], *(rest or [1])), a.dtype)}, 0)

    def make_layer(self, params, name):
        return lazy_keras().layers.Dot(axes=params["axes"], normalize=params["normalize"], name=name)


class AttentionFusion(Merge):
    name, title = "AttentionFusion", "Attention fusion"
    help = ("Let the `query` sequence attend over `value` (and `key`, defaulting to value): "
            "multi-head attention, or parameter-free dot-product attention.")
    params = (
        Param("mode", CHOICE, "multi_head", "Keras MultiHeadAttention or Attention.",
              choices=("multi_head", "dot_product")),
        Param("num_heads", INT, 4, "Heads (multi-head only).", minimum=1, maximum=1024),
        Param("key_dim", INT, 32, "Size of each head (multi-head only).", minimum=1,
              maximum=8192),
        Param("dropout", FLOAT, 0.0,
              "Dropout on the attention scores.", minimum=0.0, maximum=1.0,
              exclusive_maximum=True),
    )

    def input_ports(self, node, connected, ctx):
        return [Port("query"), Port("value"), Port("key", required=False)]

    def infer(self, node, inputs, ctx):
        query, value = inputs["query"], inputs["value"]
        key = inputs.get("key", value)
        for port, spec in (("query", query), ("value", value), ("key", key)):
            if spec.rank < 3:
                raise ShapeError(
                    f"Attention fusion needs sequences (batch, steps, features) on {port}, got "
                    f"{format_shape(spec.shape)}; a Reshape to (1, d) turns a vector into a "
                    "one-step sequence", port=port,
                    expected=TensorSpec((spec.shape[0], 1, spec.shape[-1]), spec.dtype)
                    if spec.rank == 2 else None)
        if not dims_compatible(key.shape[1], value.shape[1]):
            raise ShapeError(
                f"Attention fusion needs key and value of equal length, got "
                f"{format_shape(key.shape)} and {format_shape(value.shape)}",
                port="key", code="merge_mismatch")
        p = node.params
        if p["mode"] == "dot_product":
            if not dims_compatible(query.shape[-1], key.shape[-1]):
                raise ShapeError(
                    f"Dot-product attention needs query and key of equal width, got "
                    f"{format_shape(query.shape)} and {format_shape(key.shape)}",
                    port="key" if "key" in inputs else "value",
                    expected=TensorSpec(key.shape[:-1] + (query.shape[-1],), key.dtype),
                    code="merge_mismatch")
            return Inferred({"out": TensorSpec(query.shape[:-1] + value.shape[-1:], query.dtype)}, 0)
        dims = (query.shape[-1], key.shape[-1], value.shape[-1])
        if None in dims:
            raise ShapeError("Multi-head attention needs a known feature size on every input",
                             port="query")
        hk = p["num_heads"] * p["key_dim"]
        dq, dk, dv = dims
        count = (dq + 1) * hk + (dk + 1) * hk + (dv + 1) * hk + hk * dq + dq
        return Inferred({"out": query}, count)

    def build(self, node, inputs, ctx):
        layers, p = lazy_keras().layers, node.params
        query, value = inputs["query"], inputs["value"]
        key = inputs.get("key")
        if p["mode"] == "dot_product":
            layer = layers.Attention(dropout=p["dropout"], name=node.name)
            args = [query, value] + ([key] if key is not None else [])
            return {"out": layer(args)}
        layer = layers.MultiHeadAttention(p["num_heads"], p["key_dim"], dropout=p["dropout"],
                                          name=node.name)
        return {"out": layer(query, value, key=key)}


MERGES = (Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot, AttentionFusion)
