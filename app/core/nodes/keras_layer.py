"""The advanced node: any layer from `keras.layers` by class name plus its config, so
nothing Keras offers is out of reach. Shapes come from Keras itself (cached)."""

from __future__ import annotations

import json
import math
from functools import lru_cache

from app.core.graph.params import INT, JSON, STR, Param, ParamError, describe
from app.core.graph.specs import TensorSpec
from app.core.nodes.base import LAYER, MAX_DIM, Inferred, NodeType, Port, ShapeError, lazy_keras

# Layers whose config can carry code or that load other files: never built from a project.
REFUSED = {
    "Lambda": "it runs Python code stored in the file",
    "TFSMLayer": "it loads a SavedModel from disk; import the SavedModel as a pretrained node",
    "InputLayer": "use an Input node",
}


def config_integers(config: dict, prefix: str = ""):
    """(key, integer) pairs of a layer config, nested objects included (`layer.config.units`);
    integers in lists (a lookup layer's vocabulary) are data, not sizes, and are left out."""
    for key, value in config.items():
        if isinstance(value, dict):
            yield from config_integers(value, f"{prefix}{key}.")
        elif isinstance(value, int) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


def port_names(count: int) -> list[str]:
    return ["in"] if count == 1 else [f"in{i}" for i in range(count)]


class KerasLayer(NodeType):
    name, title = "KerasLayer", "Keras layer"
    needs_keras = True
    category = LAYER
    help = "Any layer from keras.layers, given by class name and its config (as get_config())."
    params = (
        Param("class_name", STR, "Dense", "Class in keras.layers, e.g. Conv2D or GRU."),
        Param("config", JSON, {"units": 32}, "Constructor arguments, as layer.get_config()."),
        Param("inputs", INT, 1, "Number of input tensors the layer takes.", minimum=1,
              maximum=16),
    )

    def check_params(self, values):
        checked = super().check_params(values)
        class_name = checked["class_name"]
        if class_name in REFUSED:
            raise ParamError(f"{class_name} is not allowed: {REFUSED[class_name]}", "class_name")
        if not class_name.isidentifier():
            raise ParamError(f"expected a keras.layers class name, got {describe(class_name)}", "class_name")
        for key, number in config_integers(checked["config"]):
            # Shapes come from building the layer, weights and all: a Dense of 1e9 units
            # would exhaust memory while the graph is validated, so it stops here.
            if abs(number) > MAX_DIM and "seed" not in key:
                raise ParamError(f"expected sizes of at most {MAX_DIM} in the layer's config, got "
                                 f"{describe(key)}: {number}; make it smaller", "config")
        return checked

    def default_name(self) -> str:
        return "layer"

    def subtitle(self, node) -> str:
        return f"keras.layers.{node.params['class_name']}"

    def input_ports(self, node, connected, ctx):
        return [Port(p) for p in port_names(node.params["inputs"])]

    def make_layer(self, params: dict, name: str):
        keras = lazy_keras()
        cls = getattr(keras.layers, params["class_name"], None)
        if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
            raise ShapeError(
                f"keras.layers has no layer class {params['class_name']!r}; check the spelling "
                "(for example Conv2D, GRU, MaxPooling2D)", code="invalid_node")
        config = {**params["config"], "name": name}
        try:
            return keras.saving.deserialize_keras_object(
                {"module": "keras.layers", "class_name": params["class_name"], "config": config,
                 "registered_name": None}, safe_mode=True)
        except Exception as error:  # Keras reports bad configs with assorted exception types
            raise ShapeError(f"{params['class_name']} refuses its config: {error}",
                             code="invalid_node") from None

    def infer(self, node, inputs, ctx):
        ports = port_names(node.params["inputs"])
        specs = tuple(inputs[p] for p in ports)
        key = json.dumps([node.params, [[list(s.shape), s.dtype] for s in specs]], sort_keys=True)
        spec, count, trainable = _infer_with_keras(self, key)
        return Inferred({"out": spec}, count, trainable)

    def build(self, node, inputs, ctx):
        ports = port_names(node.params["inputs"])
        layer = self.make_layer(node.params, node.name)
        args = inputs[ports[0]] if len(ports) == 1 else [inputs[p] for p in ports]
        return {"out": layer(args)}


@lru_cache(maxsize=4096)
def _infer_with_keras(node_type: KerasLayer, key: str) -> tuple[TensorSpec, int, int]:
    """Build the layer on symbolic inputs once per (config, input specs)."""
    params, specs = json.loads(key)
    keras = lazy_keras()
    layer = node_type.make_layer(params, "probe")
    symbolic = [keras.Input(batch_shape=tuple(shape), dtype=dtype) for shape, dtype in specs]
    try:
        out = layer(symbolic[0] if len(symbolic) == 1 else symbolic)
    except Exception as error:  # the layer's own message says what it needs
        raise ShapeError(f"{params['class_name']} cannot take "
                         f"{', '.join(str(TensorSpec(tuple(s))) for s, _ in specs)}: {error}",
                         port=port_names(len(specs))[0]) from None
    if isinstance(out, (list, tuple, dict)):
        raise ShapeError(f"{params['class_name']} returns several tensors; the Keras layer node "
                         "supports layers with one output", code="invalid_node")
    trainable = sum(int(math.prod(w.shape)) for w in layer.trainable_weights)
    return TensorSpec(tuple(out.shape), str(out.dtype)), int(layer.count_params()), trainable
