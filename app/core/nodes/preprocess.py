"""The Preprocess adapter: a keras.applications architecture's `preprocess_input`, built
from one standard Keras layer so that the compiled model takes raw 0–255 RGB pixels and
still saves and loads in plain Keras safe mode (no Lambda, no Graft code)."""

from __future__ import annotations

from app.core.cards.applications import APPLICATIONS
from app.core.graph.params import CHOICE, Param
from app.core.graph.specs import TensorSpec, format_shape
from app.core.nodes.adapters import Adapter
from app.core.nodes.base import ShapeError, lazy_keras

TF, TORCH, CAFFE, BUILT_IN = "tf", "torch", "caffe", "built-in"

# What each keras.applications module's preprocess_input does, in Keras's own mode names;
# tests/core/test_preprocess.py checks every module against Keras.
MODES = {
    "inception_resnet_v2": TF, "inception_v3": TF, "mobilenet": TF, "mobilenet_v2": TF,
    "nasnet": TF, "resnet_v2": TF, "xception": TF,
    "densenet": TORCH,
    "resnet": CAFFE, "vgg16": CAFFE, "vgg19": CAFFE,
    "convnext": BUILT_IN, "efficientnet": BUILT_IN, "efficientnet_v2": BUILT_IN,
    "mobilenet_v3": BUILT_IN,
}
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)  # torch mode, on pixels scaled to 0…1
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # caffe mode, on 0…255 pixels
RGB_TO_BGR = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]  # 1×1 kernel (input channel, output channel)

WHAT_MODE_DOES = {
    TF: "scale to −1…1 (`Rescaling`)",
    TORCH: "scale to 0…1, then normalise each channel by the ImageNet mean and std (`Normalization`)",
    CAFFE: "RGB → BGR, then subtract the ImageNet mean (a frozen 1×1 `Conv2D`)",
    BUILT_IN: "these models preprocess inside themselves, so the pixels pass through unchanged "
              "(`Identity`)",
}


def mode_of(architecture: str) -> str:
    return MODES[APPLICATIONS[architecture].module]


def _help() -> str:
    """The help lists the modules by mode from MODES itself, so it cannot go stale."""
    parts = []
    for mode, what in WHAT_MODE_DOES.items():
        modules = sorted({a.module for a in APPLICATIONS.values() if MODES[a.module] == mode})
        parts.append(f"{mode} ({', '.join(modules)}): {what}.")
    return ("An architecture's `preprocess_input` from keras.applications, as part of the model, so "
            "the model takes raw RGB pixels (floats, 0–255). By module: " + " ".join(parts))


class Preprocess(Adapter):
    name, title = "Preprocess", "Keras Applications preprocessing"
    help = _help()
    params = (
        Param("architecture", CHOICE, "MobileNetV2", "The keras.applications model whose "
              "preprocessing to apply.", choices=tuple(APPLICATIONS)),
    )

    def subtitle(self, node):
        return f"{node.params['architecture']} preprocessing"

    def shape(self, params, spec):
        if spec.rank != 4 or spec.shape[3] != 3:
            raise ShapeError(f"{self.title} needs RGB images (batch, height, width, 3), got "
                             f"{format_shape(spec.shape)}", port="in")
        if not spec.is_float:
            raise ShapeError(f"{self.title} needs float pixel values but receives {spec.dtype} values "
                             f"{format_shape(spec.shape)}; cast them to float32", port="in",
                             expected=TensorSpec(spec.shape, "float32"), code="dtype_mismatch")
        return TensorSpec(spec.shape, "float32")  # each layer below computes in float32

    def count(self, params, spec):
        # Only caffe's 1×1 Conv2D has weights (3×3 kernel, 3 biases); Normalization keeps a
        # mean and variance given to it as constants, not weights.
        return 3 * 3 + 3 if mode_of(params["architecture"]) == CAFFE else 0

    def trainable_count(self, params, spec):
        return 0  # preprocessing is fixed

    def make_layer(self, params, name):
        keras = lazy_keras()
        mode = mode_of(params["architecture"])
        if mode == TF:
            return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=name)
        if mode == TORCH:  # (x / 255 - mean) / std as one (x - 255 mean) / (255 std)
            return keras.layers.Normalization(mean=[255 * m for m in IMAGENET_MEAN_RGB],
                                              variance=[(255 * s) ** 2 for s in IMAGENET_STD_RGB],
                                              name=name)
        if mode == CAFFE:
            # The weights come from the initializers, so a rebuild from the config is right too.
            constant = keras.initializers.Constant
            return keras.layers.Conv2D(3, 1, kernel_initializer=constant(RGB_TO_BGR),
                                       bias_initializer=constant([-m for m in IMAGENET_MEAN_BGR]),
                                       trainable=False, name=name)
        return keras.layers.Identity(name=name)
