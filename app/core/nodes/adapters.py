"""Adapters: single-input Keras layers that reshape, pool, project or normalise a tensor
so that one model's output fits the next one's input.

Each adapter infers its output shape with a few lines of plain Python (validation of a
2,000-node graph must take milliseconds) and builds the matching Keras layer."""

from __future__ import annotations

import math
from typing import Any

from app.core.graph.params import BOOL, CHOICE, FLOAT, INT, INTS, Param, ParamError, describe
from app.core.graph.specs import DTYPES, TensorSpec, element_count, format_shape
from app.core.nodes.base import (
    ADAPTER,
    MAX_CHANNELS,
    MAX_DIM,
    MAX_IMAGE_SIDE,
    MAX_RANK,
    MAX_SCALE,
    MAX_UNITS,
    MIN_EPSILON,
    Context,
    Inferred,
    NodeType,
    ShapeError,
    lazy_keras,
)

ACTIVATIONS = (
    "linear", "relu", "gelu", "sigmoid", "softmax", "tanh", "swish", "silu", "elu", "selu",
    "softplus", "leaky_relu", "relu6", "hard_sigmoid", "mish", "log_softmax",
)


def require_rank(node_title: str, spec: TensorSpec, ranks: tuple[int, ...], what: str) -> None:
    if spec.rank not in ranks:
        raise ShapeError(
            f"{node_title} needs {what}, got {format_shape(spec.shape)}", port="in",
            code="shape_mismatch",
        )


def require_known_last(node_title: str, spec: TensorSpec) -> int:
    last = spec.shape[-1] if spec.rank >= 2 else None
    if last is None:
        raise ShapeError(
            f"{node_title} needs a known last dimension, got {format_shape(spec.shape)}; "
            "give the Input a concrete size or add a Reshape", port="in")
    return last


class Adapter(NodeType):
    """A node that applies exactly one Keras layer (named after the node) to one input."""

    category = ADAPTER

    def shape(self, params: dict, spec: TensorSpec) -> TensorSpec:
        return spec

    def count(self, params: dict, spec: TensorSpec) -> int:
        return 0

    def trainable_count(self, params: dict, spec: TensorSpec) -> int | None:
        return None  # all of count()

    def make_layer(self, params: dict, name: str):
        raise NotImplementedError

    def infer(self, node, inputs, ctx: Context) -> Inferred:
        spec = inputs["in"]
        out = self.shape(node.params, spec)
        return Inferred({"out": out}, self.count(node.params, spec),
                        self.trainable_count(node.params, spec))

    def build(self, node, inputs, ctx: Context) -> dict[str, Any]:
        return {"out": self.make_layer(node.params, node.name)(inputs["in"])}


class Dense(Adapter):
    name, title = "Dense", "Dense projection"
    help = "A learned linear projection of the last axis to `units` features."
    params = (
        Param("units", INT, 64, "Number of output features.", minimum=1, maximum=MAX_UNITS),
        Param("activation", CHOICE, "linear", "Activation applied after the projection.",
              choices=ACTIVATIONS),
        Param("use_bias", BOOL, True, "Add a learned bias."),
    )

    def shape(self, params, spec):
        require_rank(self.title, spec, tuple(range(2, 9)), "at least one feature axis")
        require_known_last(self.title, spec)
        return TensorSpec(spec.shape[:-1] + (params["units"],), _float(spec))

    def count(self, params, spec):
        return spec.shape[-1] * params["units"] + (params["units"] if params["use_bias"] else 0)

    def make_layer(self, params, name):
        return lazy_keras().layers.Dense(params["units"], activation=params["activation"],
                                     use_bias=params["use_bias"], name=name)


class Reshape(Adapter):
    name = title = "Reshape"
    help = "Rearrange the features (all axes but the batch) into `target_shape`; one -1 is inferred."
    params = (
        Param("target_shape", INTS, [-1], "Shape without the batch axis; one entry may be -1.",
              minimum=1, maximum=MAX_RANK, item_minimum=-1, item_maximum=MAX_DIM),
    )

    def check_params(self, values):
        checked = super().check_params(values)
        target = checked["target_shape"]
        if any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise ParamError(f"expected positive integers and at most one -1, got {describe(target)}",
                             "target_shape")
        return checked

    def shape(self, params, spec):
        target = list(params["target_shape"])
        have = element_count(spec.features)
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if have is not None:
                if have % known:
                    raise ShapeError(
                        f"Reshape cannot fit {have} values into {format_shape(target)}", port="in")
                target[target.index(-1)] = have // known
            else:
                target[target.index(-1)] = None
        elif have is not None and have != known:
            raise ShapeError(
                f"Reshape to {format_shape(target)} needs {known} values per sample but gets "
                f"{have} from {format_shape(spec.shape)}", port="in")
        return spec.with_shape((spec.shape[0], *target))

    def make_layer(self, params, name):
        return lazy_keras().layers.Reshape(tuple(params["target_shape"]), name=name)


class Flatten(Adapter):
    name = title = "Flatten"
    help = "Flatten all axes but the batch into one feature axis."

    def shape(self, params, spec):
        require_rank(self.title, spec, tuple(range(2, 9)), "at least one feature axis")
        return spec.with_shape((spec.shape[0], element_count(spec.features)))

    def make_layer(self, params, name):
        return lazy_keras().layers.Flatten(name=name)


class _GlobalPooling(Adapter):
    rank = 4
    keras_class = ""

    def shape(self, params, spec):
        what = "a sequence (batch, steps, channels)" if self.rank == 3 else \
            "an image feature map (batch, height, width, channels)"
        require_rank(self.title, spec, (self.rank,), what)
        return spec.with_shape((spec.shape[0], spec.shape[-1]))

    def make_layer(self, params, name):
        return getattr(lazy_keras().layers, self.keras_class)(name=name)


class GlobalAveragePooling1D(_GlobalPooling):
    name = title = keras_class = "GlobalAveragePooling1D"
    help = "Average over the steps of a sequence: (batch, steps, c) → (batch, c)."
    rank = 3


class GlobalMaxPooling1D(_GlobalPooling):
    name = title = keras_class = "GlobalMaxPooling1D"
    help = "Maximum over the steps of a sequence: (batch, steps, c) → (batch, c)."
    rank = 3


class GlobalAveragePooling2D(_GlobalPooling):
    name = title = keras_class = "GlobalAveragePooling2D"
    help = "Average over height and width: (batch, h, w, c) → (batch, c)."


class GlobalMaxPooling2D(_GlobalPooling):
    name = title = keras_class = "GlobalMaxPooling2D"
    help = "Maximum over height and width: (batch, h, w, c) → (batch, c)."


class Resizing(Adapter):
    name = title = "Resizing"
    help = "Resize images to height × width, e.g. to meet a pretrained model's input size."
    params = (
        Param("height", INT, 224, "Target height in pixels.", minimum=1, maximum=MAX_IMAGE_SIDE),
        Param("width", INT, 224, "Target width in pixels.", minimum=1, maximum=MAX_IMAGE_SIDE),
        Param("interpolation", CHOICE, "bilinear", "Resampling method.",
              choices=("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                       "gaussian", "mitchellcubic")),
        Param("crop_to_aspect_ratio", BOOL, False, "Crop instead of distorting the aspect ratio."),
    )

    def shape(self, params, spec):
        require_rank(self.title, spec, (4,), "images (batch, height, width, channels)")
        return TensorSpec((spec.shape[0], params["height"], params["width"], spec.shape[3]),
                          _float(spec))

    def make_layer(self, params, name):
        return lazy_keras().layers.Resizing(
            params["height"], params["width"], interpolation=params["interpolation"],
            crop_to_aspect_ratio=params["crop_to_aspect_ratio"], name=name)


class Rescaling(Adapter):
    name = title = "Rescaling"
    help = "Multiply by `scale` and add `offset`, e.g. 1/255 to bring pixels into [0, 1]."
    params = (
        Param("scale", FLOAT, 1 / 255, "Multiplier.", minimum=-MAX_SCALE, maximum=MAX_SCALE),
        Param("offset", FLOAT, 0.0, "Added after scaling.", minimum=-MAX_SCALE, maximum=MAX_SCALE),
    )

    def shape(self, params, spec):
        return TensorSpec(spec.shape, _float(spec))

    def make_layer(self, params, name):
        return lazy_keras().layers.Rescaling(params["scale"], params["offset"], name=name)


class ChannelProjection(Adapter):
    name, title = "ChannelProjection", "1×1 Conv2D channel projection"
    help = "A 1×1 convolution that maps a feature map's channels to `filters` channels."
    params = (
        Param("filters", INT, 64, "Number of output channels.", minimum=1, maximum=MAX_CHANNELS),
        Param("activation", CHOICE, "linear", "Activation after the projection.",
              choices=ACTIVATIONS),
        Param("use_bias", BOOL, True, "Add a learned bias."),
    )

    def shape(self, params, spec):
        require_rank(self.title, spec, (4,), "a feature map (batch, height, width, channels)")
        require_known_last(self.title, spec)
        return TensorSpec(spec.shape[:3] + (params["filters"],), _float(spec))

    def count(self, params, spec):
        f = params["filters"]
        return spec.shape[-1] * f + (f if params["use_bias"] else 0)

    def make_layer(self, params, name):
        return lazy_keras().layers.Conv2D(params["filters"], 1, activation=params["activation"],
                                      use_bias=params["use_bias"], name=name)


class Permute(Adapter):
    name = title = "Permute"
    help = "Reorder the feature axes; `dims` numbers them from 1 (the batch axis stays first)."
    params = (Param("dims", INTS, [2, 1], "New order of axes 1…n, e.g. [2, 1].", minimum=1,
                    maximum=MAX_RANK, item_minimum=1, item_maximum=MAX_RANK),)

    def check_params(self, values):
        checked = super().check_params(values)
        dims = checked["dims"]
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ParamError(f"expected a permutation of 1…{len(dims)}, got {describe(dims)}", "dims")
        return checked

    def shape(self, params, spec):
        dims = params["dims"]
        require_rank(self.title, spec, (len(dims) + 1,), f"{len(dims)} feature axes")
        return spec.with_shape((spec.shape[0], *(spec.shape[d] for d in dims)))

    def make_layer(self, params, name):
        return lazy_keras().layers.Permute(tuple(params["dims"]), name=name)


class Cast(Adapter):
    name = title = "Cast"
    help = "Convert to another dtype, e.g. integer token ids for an Embedding."
    params = (Param("dtype", CHOICE, "float32", "Target dtype.", choices=DTYPES),)

    def shape(self, params, spec):
        return TensorSpec(spec.shape, params["dtype"])

    def build(self, node, inputs, ctx):
        # keras.ops.cast is a serialisable functional operation; the model needs no custom layer.
        return {"out": lazy_keras().ops.cast(inputs["in"], node.params["dtype"])}


class Dropout(Adapter):
    name = title = "Dropout"
    help = "Randomly zero a fraction `rate` of the features while training."
    params = (Param("rate", FLOAT, 0.5, "Fraction dropped.", minimum=0.0, maximum=1.0,
                    exclusive_maximum=True),)

    def make_layer(self, params, name):
        return lazy_keras().layers.Dropout(params["rate"], name=name)


class BatchNormalization(Adapter):
    name = title = "BatchNormalization"
    help = "Normalise the last axis with batch statistics (moving averages at inference)."
    params = (
        Param("momentum", FLOAT, 0.99, "Momentum of the moving averages.", minimum=0.0,
              maximum=1.0),
        Param("epsilon", FLOAT, 1e-3, "Added to the variance.", minimum=MIN_EPSILON, maximum=1.0),
    )

    def shape(self, params, spec):
        require_known_last(self.title, spec)
        return spec

    def count(self, params, spec):
        return 4 * spec.shape[-1]

    def trainable_count(self, params, spec):
        return 2 * spec.shape[-1]  # gamma and beta; the moving mean and variance are not trained

    def make_layer(self, params, name):
        return lazy_keras().layers.BatchNormalization(momentum=params["momentum"],
                                                  epsilon=params["epsilon"], name=name)


class LayerNormalization(Adapter):
    name = title = "LayerNormalization"
    help = "Normalise each sample over its last axis."
    params = (Param("epsilon", FLOAT, 1e-3, "Added to the variance.", minimum=MIN_EPSILON,
                    maximum=1.0),)

    def shape(self, params, spec):
        require_known_last(self.title, spec)
        return spec

    def count(self, params, spec):
        return 2 * spec.shape[-1]

    def make_layer(self, params, name):
        return lazy_keras().layers.LayerNormalization(epsilon=params["epsilon"], name=name)


class Activation(Adapter):
    name = title = "Activation"
    help = "Apply an activation function element-wise."
    params = (Param("activation", CHOICE, "relu", "The function.", choices=ACTIVATIONS),)

    def make_layer(self, params, name):
        return lazy_keras().layers.Activation(params["activation"], name=name)


class Embedding(Adapter):
    name = title = "Embedding"
    help = "Look up a learned vector for each integer id in [0, input_dim)."
    params = (
        Param("input_dim", INT, 1000, "Vocabulary size (largest id + 1).", minimum=1,
              maximum=MAX_UNITS),
        Param("output_dim", INT, 64, "Size of each vector.", minimum=1, maximum=MAX_CHANNELS),
        Param("mask_zero", BOOL, False, "Treat id 0 as padding."),
    )

    def shape(self, params, spec):
        if not spec.is_integer:
            raise ShapeError(
                f"Embedding needs integer ids but receives {spec.dtype} values "
                f"{format_shape(spec.shape)}", port="in",
                expected=TensorSpec(spec.shape, "int32"), code="dtype_mismatch")
        return TensorSpec(spec.shape + (params["output_dim"],), "float32")

    def count(self, params, spec):
        return params["input_dim"] * params["output_dim"]

    def make_layer(self, params, name):
        return lazy_keras().layers.Embedding(params["input_dim"], params["output_dim"],
                                         mask_zero=params["mask_zero"], name=name)


def _float(spec: TensorSpec) -> str:
    return spec.dtype if spec.is_float else "float32"


ADAPTERS = (
    Dense, Reshape, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling2D,
    GlobalMaxPooling2D, Resizing, Rescaling, ChannelProjection, Permute, Cast, Dropout,
    BatchNormalization, LayerNormalization, Activation, Embedding,
)
