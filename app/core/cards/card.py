"""Model cards: a pretrained model's signature (input and output specs), its layers and
parameter counts. A card is read once per model and cached, so editing a graph around a
25M-parameter model never rebuilds that model; a project file keeps its cards, so opening it
draws the graph without loading a model."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace

from app.core.cards.arithmetic import layer_macs
from app.core.cards.loading import ModelLoadError, signature_output_names
from app.core.graph.params import place
from app.core.graph.specs import TensorSpec


@dataclass(frozen=True)
class LayerInfo:
    name: str
    class_name: str
    output: TensorSpec | None  # None for layers with several outputs
    params: int
    trainable: bool
    learnable: int | None = None  # parameters trained when the layer is unfrozen; None: all
    macs: int | None = None  # multiply-adds per sample (cards/arithmetic.py); None: unknown

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
    output_names: tuple[str, ...] = ()  # a SavedModel's, as its signature names them (see loading.py)
    costed: bool = False  # its layers' multiply-adds were counted (cards older than that were not)

    def layer(self, name: str) -> LayerInfo | None:
        return next((info for info in self.layers if info.name == name), None)


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
                                sum(int(w.numpy().size) for w in layer.trainable_weights),
                                model_layer_macs(layer)))
    return ModelCard(
        source=source,
        inputs=tuple(_spec(t) for t in model.inputs),
        outputs=tuple(_spec(t) for t in model.outputs),
        params=int(model.count_params()),
        trainable_params=trainable,
        layers=tuple(layers),
        output_names=signature_output_names(model),
        costed=True,
    )


def model_layer_macs(layer) -> int | None:
    """A built Keras layer's multiply-adds per sample; a nested model's are its layers' sum."""
    inner = getattr(layer, "layers", None)
    if inner:
        counts = [model_layer_macs(sub) for sub in inner]
        return None if None in counts else sum(counts)
    try:  # a layer called more than once has no single input, nor a known cost
        inputs, output = layer.input, layer.output
        config = layer.get_config()
    except (AttributeError, ValueError, NotImplementedError):
        return None if layer.weights else 0
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    output = None if isinstance(output, (list, tuple, dict)) else tuple(output.shape)
    return layer_macs(type(layer).__name__, config, [tuple(t.shape) for t in inputs], output,
                      bool(layer.weights))


def refresh_costs(key: dict, model) -> None:
    """Give a card read from an older project file, which has no multiply-adds, those of
    `model` (just built for it), so its node's cost is known from now on and saved with it."""
    text = json.dumps(key, sort_keys=True)
    with _lock:
        card = _cards.get(text)
    if not isinstance(card, ModelCard) or card.costed:
        return
    by_name = {layer.name: layer for layer in model.layers}
    layers = tuple(replace(info, macs=model_layer_macs(by_name[info.name]))
                   if info.name in by_name else info for info in card.layers)
    with _lock:
        _cards[text] = replace(card, layers=layers, costed=True)


# -- cards in project files ----------------------------------------------------------------

def card_to_dict(card: ModelCard) -> dict:
    spec = _spec_dict
    names = {"output_names": list(card.output_names)} if card.output_names else {}
    costed = {"costed": True} if card.costed else {}
    return {"source": card.source, "inputs": [spec(s) for s in card.inputs],
            "outputs": [spec(s) for s in card.outputs], **names, "params": card.params,
            "trainable_params": card.trainable_params, "file_size": card.file_size, **costed,
            "layers": [{"name": layer.name, "class_name": layer.class_name,
                        "output": spec(layer.output) if layer.output else None, "params": layer.params,
                        "trainable": layer.trainable, "learnable": layer.learnable_params,
                        **({"macs": layer.macs} if card.costed else {})}
                       for layer in card.layers]}


def _spec_dict(spec: TensorSpec) -> dict:
    return {"shape": list(spec.shape), "dtype": spec.dtype}


def card_from_dict(data) -> ModelCard:
    """The card a project file holds. Raises CardError(place, message) on anything malformed."""
    record = _Record(data, "")
    card = ModelCard(
        source=record.string("source"),
        inputs=tuple(_spec_from(item, f"inputs[{i}]") for i, item in enumerate(record.list("inputs"))),
        outputs=tuple(_spec_from(item, f"outputs[{i}]") for i, item in enumerate(record.list("outputs"))),
        params=record.count("params"),
        trainable_params=record.count("trainable_params"),
        file_size=record.count("file_size", optional=True),
        layers=tuple(_layer_from(item, f"layers[{i}]") for i, item in enumerate(record.list("layers"))),
        output_names=record.names("output_names"),
        costed=record.flag("costed", optional=True),
    )
    record.done()
    return card


class CardError(ValueError):
    def __init__(self, where: str, message: str):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


class _Record:
    """Reads one JSON object field by field, naming the place of whatever is wrong."""

    def __init__(self, data, where: str):
        if not isinstance(data, dict):
            raise CardError(where, f"expected an object, got {type(data).__name__}")
        self.data, self.where, self.read = data, where, set()

    def _get(self, key: str):
        self.read.add(key)
        if key not in self.data:
            raise CardError(self._at(key), "missing")
        return self.data[key]

    def _at(self, key: str) -> str:
        return place(self.where, key)  # a key with a newline is quoted: the message stays one line

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise CardError(self._at(key), "expected a string")
        return value

    def count(self, key: str, optional: bool = False) -> int | None:
        value = self._get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CardError(self._at(key), "expected an integer >= 0")
        return value

    def flag(self, key: str, optional: bool = False) -> bool:
        """True or false; `optional`: false where the key is left out."""
        if optional and key not in self.data:
            self.read.add(key)
            return False
        value = self._get(key)
        if not isinstance(value, bool):
            raise CardError(self._at(key), "expected true or false")
        return value

    def list(self, key: str) -> list:
        value = self._get(key)
        if not isinstance(value, list):
            raise CardError(self._at(key), "expected a list")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        """A list of strings that may be left out (empty then)."""
        self.read.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise CardError(self._at(key), "expected a list of names")
        return tuple(value)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.read)
        if extra:
            raise CardError(self._at(extra[0]), "unknown field")


def _spec_from(data, where: str) -> TensorSpec:
    record = _Record(data, where)
    shape = record.list("shape")
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0) for d in shape):
        raise CardError(f"{where}.shape", "expected dimensions that are integers >= 0 or null")
    spec = TensorSpec(tuple(shape), record.string("dtype"))
    record.done()
    return spec


def _layer_from(data, where: str) -> LayerInfo:
    record = _Record(data, where)
    output = record._get("output")
    layer = LayerInfo(record.string("name"), record.string("class_name"),
                      None if output is None else _spec_from(output, f"{where}.output"),
                      record.count("params"), record.flag("trainable"), record.count("learnable"),
                      record.count("macs", optional=True) if "macs" in data else None)
    record.done()
    return layer


def cached_card(key: dict) -> ModelCard | None:
    """The card for `key` if it is in memory, without loading anything."""
    with _lock:
        card = _cards.get(json.dumps(key, sort_keys=True))
    return card if isinstance(card, ModelCard) else None


def remember_card(key: dict, card: ModelCard) -> None:
    """Put a card read from a project file in the cache, so the model need not be loaded."""
    with _lock:
        _cards.setdefault(json.dumps(key, sort_keys=True), card)
