"""Pretrained models: the Keras Applications table and model cards.

A model card is a pretrained model's signature (input and output specs), its layers and
parameter counts. It is read once per model and cached, so editing a graph around a
25M-parameter model never rebuilds that model."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.specs import TensorSpec


@dataclass(frozen=True)
class Application:
    """One `keras.applications` architecture and the input sizes it accepts."""

    name: str
    module: str  # keras.applications submodule holding preprocess_input
    default_size: int
    min_size: int = 32


APPLICATIONS: dict[str, Application] = {
    app.name: app
    for app in [
        *(Application(f"ConvNeXt{v}", "convnext", 224) for v in
          ("Tiny", "Small", "Base", "Large", "XLarge")),
        *(Application(f"DenseNet{v}", "densenet", 224) for v in (121, 169, 201)),
        *(Application(f"EfficientNetB{i}", "efficientnet", size) for i, size in
          enumerate((224, 240, 260, 300, 380, 456, 528, 600))),
        *(Application(f"EfficientNetV2{v}", "efficientnet_v2", size) for v, size in
          (("B0", 224), ("B1", 240), ("B2", 260), ("B3", 300), ("S", 384), ("M", 480),
           ("L", 480))),
        Application("InceptionResNetV2", "inception_resnet_v2", 299, 75),
        Application("InceptionV3", "inception_v3", 299, 75),
        Application("MobileNet", "mobilenet", 224),
        Application("MobileNetV2", "mobilenet_v2", 224),
        Application("MobileNetV3Small", "mobilenet_v3", 224),
        Application("MobileNetV3Large", "mobilenet_v3", 224),
        Application("NASNetMobile", "nasnet", 224),
        Application("NASNetLarge", "nasnet", 331),
        *(Application(f"ResNet{v}", "resnet", 224) for v in (50, 101, 152)),
        *(Application(f"ResNet{v}V2", "resnet_v2", 224) for v in (50, 101, 152)),
        Application("VGG16", "vgg16", 224),
        Application("VGG19", "vgg19", 224),
        Application("Xception", "xception", 299, 71),
    ]
}


@dataclass(frozen=True)
class LayerInfo:
    name: str
    class_name: str
    output: TensorSpec | None  # None for layers with several outputs
    params: int
    trainable: bool
    learnable: int | None = None  # parameters trained when the layer is unfrozen; None: all

    @property
    def learnable_params(self) -> int:
        return self.params if self.learnable is None else self.learnable


@dataclass(frozen=True)
class ModelCard:
    source: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    params: int
    trainable_params: int
    layers: tuple[LayerInfo, ...]
    file_size: int | None = None  # bytes on disk, for model files

    def layer(self, name: str) -> LayerInfo | None:
        return next((info for info in self.layers if info.name == name), None)


class ModelLoadError(Exception):
    """A pretrained model that cannot be built or loaded; the message says why and what to do."""


_cards: dict[str, ModelCard | ModelLoadError] = {}
_lock = threading.Lock()


def card_for(key: dict, load) -> ModelCard:
    """The card for `key`, building the model with `load()` only the first time. A model
    that fails to load fails again from the cache (its key changes when its file does)."""
    text = json.dumps(key, sort_keys=True)
    with _lock:
        card = _cards.get(text)
    if card is None:
        try:
            card = replace(card_from_model(load(), key.get("source", "")), file_size=key.get("size"))
        except ModelLoadError as error:
            card = error
        with _lock:
            _cards[text] = card
    if isinstance(card, ModelLoadError):
        raise card
    return card


def has_card(key: dict) -> bool:
    """Whether `card_for(key)` answers without loading anything."""
    with _lock:
        return json.dumps(key, sort_keys=True) in _cards


def _spec(tensor) -> TensorSpec:
    return TensorSpec(tuple(tensor.shape), str(tensor.dtype))


def card_from_model(model, source: str) -> ModelCard:
    """Read a model's card. Unfreezes `model` to count what each layer would train, so pass
    a copy loaded for the purpose."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    saved_flags = [bool(layer.trainable) for layer in model.layers]
    model.trainable = True  # a layer frozen in the file still trains when its node unfreezes it
    layers = []
    for layer, saved_flag in zip(model.layers, saved_flags):
        try:
            output = layer.output
            spec = None if isinstance(output, (list, tuple, dict)) else _spec(output)
        except (AttributeError, ValueError):
            spec = None
        layers.append(LayerInfo(layer.name, type(layer).__name__, spec,
                                int(layer.count_params()), saved_flag,
                                sum(int(w.numpy().size) for w in layer.trainable_weights)))
    return ModelCard(
        source=source,
        inputs=tuple(_spec(t) for t in model.inputs),
        outputs=tuple(_spec(t) for t in model.outputs),
        params=int(model.count_params()),
        trainable_params=trainable,
        layers=tuple(layers),
    )


def build_application(architecture: str, *, include_top: bool, input_shape, pooling: str,
                      classes: int, weights: str | None, name: str | None = None):
    """Construct a `keras.applications` model; Keras's own errors become ModelLoadError."""
    import keras

    constructor = getattr(keras.applications, architecture)
    kwargs = dict(include_top=include_top, weights=weights, input_shape=tuple(input_shape),
                  pooling=None if pooling == "none" else pooling, classes=classes)
    if name:
        kwargs["name"] = name
    try:
        return constructor(**kwargs)
    except ValueError as error:
        raise ModelLoadError(f"{architecture} refuses these settings: {error}") from None
    except Exception as error:  # Keras reports a failed download as a bare Exception
        if weights == "imagenet":
            raise ModelLoadError(
                f"{architecture}: the imagenet weights are not in the Keras cache and could not "
                f"be downloaded ({error}); use weights none or a local weights file") from None
        raise ModelLoadError(f"{architecture}: cannot read weights {weights}: {error}") from None


def load_model_file(path: Path):
    """Load a `.keras` model in Keras safe mode: no code stored in the file ever runs."""
    import keras

    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}; fix the path or import it again")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for unreadable files
        raise ModelLoadError(f"cannot load model file {path.name}: {error}") from None


def file_key(path: Path) -> dict:
    """Identifies a model file's content cheaply (path, size, modification time)."""
    stat = path.stat() if path.exists() else None
    return {"source": str(path.resolve()), "size": stat.st_size if stat else None,
            "mtime": stat.st_mtime_ns if stat else None}
