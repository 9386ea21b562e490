"""Symbolic tensors: a shape (batch dimension first, None where unknown) and a dtype.

Shape inference works on these plain values so that validating a graph never builds
weights or imports TensorFlow for the common node types."""

from __future__ import annotations

import math
from dataclasses import dataclass

Dim = int | None

FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
INT_DTYPES = ("int32", "int64", "uint8", "int8", "int16", "uint16")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        return format_shape(self.shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> tuple[Dim, ...]:
        """The shape without the batch dimension."""
        return self.shape[1:]

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_integer(self) -> bool:
        return self.dtype in INT_DTYPES or self.dtype == "bool"

    def with_shape(self, shape) -> TensorSpec:
        return TensorSpec(tuple(shape), self.dtype)

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        return cls(tuple(data["shape"]), data.get("dtype", "float32"))


def format_shape(shape) -> str:
    """`(None, 7, 7, 1280)` — the way Keras prints shapes, and the way users read them."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def dims_compatible(a: Dim, b: Dim) -> bool:
    return a is None or b is None or a == b


def shapes_compatible(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b))


def merge_dim(a: Dim, b: Dim) -> Dim:
    """The more specific of two compatible dims."""
    return a if a is not None else b


def element_count(dims) -> int | None:
    """Number of elements, or None when any dim is unknown."""
    if any(d is None for d in dims):
        return None
    return math.prod(dims)
