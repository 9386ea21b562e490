"""What a node type is: its parameter schema, its ports, how it infers shapes and how
it builds Keras objects. Concrete types live beside this module; the registry in
`app.core.nodes` maps type names to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.graph.params import Param, check_params
from app.core.graph.specs import TensorSpec

if TYPE_CHECKING:
    from app.core.graph.graph import Node

# Categories, in palette order.
INPUT, PRETRAINED, ADAPTER, MERGE, LAYER, OUTPUT = (
    "input", "pretrained", "adapter", "merge", "layer", "output",
)
CATEGORIES = (INPUT, PRETRAINED, ADAPTER, MERGE, LAYER, OUTPUT)

# What Keras and a machine honour, shared by the parameter schemas. Past these a value loads
# but fails later: out of memory in compile or fit, a negative dimension, a NaN loss.
MAX_RANK = 8  # dimensions of one sample (TensorFlow's kernels stop at rank 8 or so)
MAX_DIM = 2**24  # one dimension of a tensor: 16.7 million steps, pixels or features
MAX_IMAGE_SIDE = 8192  # pixels: 8192 × 8192 × 3 floats are already 768 MB a sample
MAX_UNITS = 2**20  # features of a projection, classes, a vocabulary's vectors
MAX_CHANNELS = 2**16  # filters of a convolution
MAX_SCALE = 1e6  # a multiplier or offset of values: larger ones overflow float32 activations
MIN_EPSILON = 1e-12  # smaller vanishes next to float32 variances and divides by zero


@dataclass(frozen=True)
class Port:
    name: str
    required: bool = True


class ShapeError(Exception):
    """A node cannot accept what reaches it.

    port: the input port at fault (so the problem can point at its edge);
    expected: what that port would accept, from which a fix can be suggested;
    code: the problem code (shape_mismatch, merge_mismatch, dtype_mismatch, invalid_node)."""

    def __init__(self, message: str, port: str | None = None,
                 expected: TensorSpec | None = None, code: str = "shape_mismatch"):
        super().__init__(message)
        self.port = port
        self.expected = expected
        self.code = code


@dataclass
class Inferred:
    """A node's output specs by port, and its parameter count where known."""

    outputs: dict[str, TensorSpec]
    param_count: int | None = 0
    trainable_count: int | None = None  # None: all of param_count

    @property
    def trainable(self) -> int | None:
        return self.param_count if self.trainable_count is None else self.trainable_count


@dataclass(frozen=True)
class Context:
    """Where the project lives, so relative model-file paths resolve, and the batch size it
    trains with, by which the validator scales a node's output to check it fits in memory."""

    base_dir: Path = Path(".")
    batch_size: int = 1

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate)


class NodeType:
    name: str = ""
    category: str = ""
    title: str = ""
    help: str = ""
    params: tuple[Param, ...] = ()
    needs_keras = False  # inferring its shapes imports TensorFlow (the editor does that off the UI thread)

    # -- schema ----------------------------------------------------------------
    def check_params(self, values: dict) -> dict:
        return check_params(self.params, values)

    def default_params(self) -> dict:
        return {p.name: p.default for p in self.params}

    def default_name(self) -> str:
        """Base for the node's name, as Keras names its layers (`dense`, `conv2d`,
        `global_average_pooling2d`), so names read the same in Graft and in Keras."""
        words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", self.name)
        return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()

    def name_for(self, params: dict) -> str:
        """Base for the name of a new node with these (checked) parameters."""
        return self.default_name()

    def subtitle(self, node: Node) -> str:
        """What the node is or holds, under its name on its card: its type, unless the type
        knows better (a model's file, an architecture and its weights, a layer's class)."""
        return self.title

    # -- ports -----------------------------------------------------------------
    def input_ports(self, node: Node, connected: set[str], ctx: Context) -> list[Port]:
        return [Port("in")]

    def output_ports(self, node: Node, ctx: Context) -> list[str]:
        return ["out"]

    # -- shapes and Keras ------------------------------------------------------
    def infer(self, node: Node, inputs: dict[str, TensorSpec], ctx: Context) -> Inferred:
        raise NotImplementedError

    def build(self, node: Node, inputs: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """Apply the node to Keras tensors (by input port) and return its output tensors by port."""
        raise NotImplementedError


def lazy_keras():
    """Keras, imported when a node first builds a layer: the window appears before TensorFlow loads."""
    import keras

    return keras
