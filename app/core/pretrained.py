"""Pretrained models: the Keras Applications table and model cards.

A model card is a pretrained model's signature (input and output specs), its layers and
parameter counts. It is read once per model and cached, so editing a graph around a
25M-parameter model never rebuilds that model."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zipfile
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


def fetch_imagenet_weights(architecture: str, settings: dict, progress=None) -> None:
    """Put an architecture's imagenet weights in Keras's download cache (~/.keras/models), the
    one Keras itself reads, reporting `progress(received_bytes, total_bytes)` while it
    downloads; raises ModelLoadError with the offline message when it cannot."""
    from keras.src.utils import file_utils

    download = file_utils.urlretrieve

    def reporting(url, target, reporthook=None):
        def hook(blocks, block_size, total):
            if reporthook is not None:
                reporthook(blocks, block_size, total)
            if progress is not None:
                progress(min(blocks * block_size, total) if total > 0 else blocks * block_size, total)
        return download(url, target, hook)

    file_utils.urlretrieve = reporting  # only the loader thread downloads
    try:
        build_application(architecture, weights="imagenet", **settings)
    finally:
        file_utils.urlretrieve = download


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
    """Load a `.keras` or legacy `.h5` model file, or a SavedModel folder, so that no Python
    code stored in it runs: Keras safe mode, after a scan of the model's config that names
    what would need code (Keras's own refusals do not say which layer)."""
    import keras

    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}; fix the path or import it again")
    if path.is_dir():
        return _load_saved_model(path)
    readers = {".keras": _keras_config, ".h5": _h5_config, ".hdf5": _h5_config}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ModelLoadError(f"model file {path.name}: Graft reads .keras and .h5 model files and "
                             "SavedModel folders; save the model with model.save('model.keras')")
    _refuse_code(reader(path), path.name)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for unreadable files
        raise ModelLoadError(f"cannot load model file {path.name}: {error_gist(error)}; it may be "
                             "damaged or written by an incompatible Keras — save it again as "
                             f".keras with Keras {keras.__version__}") from None
    if not isinstance(model, keras.Model) or not model.built:
        raise ModelLoadError(f"model file {path.name} holds no built model (a layer, or a Sequential "
                             "model without an Input); save a model that has an Input")
    return model


def error_gist(error: Exception, with_type: bool = False) -> str:
    """The gist of a library error, whose later lines hold whole configs: its first line,
    after its type's name when `with_type`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0][:300]}" if with_type else lines[0][:300]


def _damaged(name: str, kind: str) -> ModelLoadError:
    return ModelLoadError(f"model file {name} is not a readable {kind} (damaged, truncated or "
                          "another kind of file); save the model again or choose another file")


def _keras_config(path: Path) -> dict:
    """The model config inside a `.keras` archive, read without Keras."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ModelLoadError(f"model file {path.name} holds no model config; save the "
                                     "model with model.save('model.keras')")
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: bad JSON or text
        raise _damaged(path.name, ".keras archive") from None


def _h5_config(path: Path) -> dict:
    """The model config of a legacy `.h5` file, read without Keras."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            config = file.attrs.get("model_config")
        if config is None:
            raise ModelLoadError(f"model file {path.name} holds weights but no model; save the "
                                 "whole model with model.save('model.keras')")
        return json.loads(config)
    except (OSError, ValueError):  # h5py reports damaged files as OSError
        raise _damaged(path.name, "HDF5 model file") from None


def _refuse_code(config, file: str) -> None:
    """Refuse a model whose config needs Python code: Lambda layers, classes and functions
    from outside Keras, and TFSMLayers (which load another SavedModel from disk). Keras safe
    mode refuses these too; this names them and runs before Keras reads anything."""
    import keras

    def known_layer(name: str) -> bool:
        found = getattr(keras.layers, name, None)
        return name in ("Functional", "Sequential", "Model") or (
            isinstance(found, type) and issubclass(found, keras.layers.Layer))

    def visit(item, layer: str, is_layer: bool) -> None:
        if isinstance(item, list):
            for entry in item:
                visit(entry, layer, is_layer)
            return
        if not isinstance(item, dict):
            return
        cls, module = item.get("class_name"), item.get("module")
        inner = item.get("config")
        if is_layer and isinstance(cls, str):
            layer = item.get("name") or (inner.get("name") if isinstance(inner, dict) else None) or cls
            if cls == "Lambda":
                raise ModelLoadError(
                    f"model file {file} contains a Lambda layer {layer!r} whose Python code would "
                    "have to run; Graft refuses it — rebuild the model without Lambda layers, or "
                    "export it as a SavedModel (model.export) and import that folder")
            if cls == "TFSMLayer":
                raise ModelLoadError(
                    f"model file {file} contains a TFSMLayer {layer!r}, which loads a SavedModel "
                    "from elsewhere on disk; import that SavedModel folder as its own node")
        if isinstance(cls, str) and (
                cls == "__lambda__" or ">" in cls or ">" in str(item.get("registered_name") or "")
                or (isinstance(module, str) and module.split(".")[0] != "keras")
                or (is_layer and module is None and not known_layer(cls))):
            what = "function" if cls in ("function", "__lambda__") else "class"
            name = inner if cls == "function" and isinstance(inner, str) else (
                item.get("registered_name") or cls)
            raise ModelLoadError(
                f"model file {file} needs the custom {what} {name!r} (in layer {layer!r}), whose "
                "Python code would have to run; Graft refuses it — rebuild the model from "
                "built-in Keras layers, or export it as a SavedModel (model.export) and import "
                "that folder")
        for key, value in item.items():
            if key != "compile_config":  # loading with compile=False never reads it
                visit(value, layer, key == "layers")

    visit(config, "", True)


# TensorFlow operations refused in an imported SavedModel: they touch files or run Python.
# Best effort: the checkpoint operations every SavedModel holds (SaveV2, RestoreV2) stay allowed.
_REFUSED_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "Save", "SaveSlices",
    "PyFunc", "PyFuncStateless", "EagerPyFunc", "DatasetToTFRecord",
    "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2", "LoadDataset",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "DebugIdentityV2", "DebugIdentityV3",
})


def _load_saved_model(path: Path):
    """A SavedModel folder as an inference-only functional model: one input named after the
    serving signature's input, around `keras.layers.TFSMLayer`; its outputs are the
    signature's outputs sorted by name, numbers compared as numbers (output_2 before output_10)."""
    import keras

    signature = _check_saved_model(path)
    if len(signature.inputs) != 1:
        raise ModelLoadError(
            f"SavedModel folder {path.name} takes {len(signature.inputs)} inputs "
            f"({', '.join(sorted(signature.inputs))}); Graft imports SavedModels with one input — "
            "save the model as .keras instead")
    try:
        layer = keras.layers.TFSMLayer(str(path.resolve()), call_endpoint="serving_default")
        (name, spec), = layer.call_endpoint_fn.structured_input_signature[1].items()
        if spec.shape.rank is None or spec.shape.rank < 1:
            raise ModelLoadError(f"SavedModel folder {path.name}: its input {name!r} has no batch "
                                 "axis; export it with a batch axis first")
        inputs = keras.Input(batch_shape=tuple(spec.shape), dtype=spec.dtype.name, name=name)
        produced = layer(inputs)
        outputs = [produced[key] for key in sorted(produced, key=_natural)]
        return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs)
    except ModelLoadError:
        raise
    except Exception as error:  # TensorFlow raises many types for unreadable SavedModels
        raise ModelLoadError(f"cannot load SavedModel folder {path.name}: {error_gist(error)}; "
                             "export it again with model.export") from None


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _check_saved_model(path: Path):
    """The serving signature of a SavedModel, after refusing graphs with operations that touch
    files or run Python (a SavedModel holds no Python, but its graph runs when the model does)."""
    from tensorflow.core.protobuf import saved_model_pb2

    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(f"folder {path.name} is not a SavedModel (no saved_model.pb); "
                             "choose a SavedModel folder, a .keras or an .h5 file")
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception:  # protobuf's DecodeError
        raise _damaged(path.name + "/saved_model.pb", "SavedModel graph") from None
    graph = saved.meta_graphs[0] if saved.meta_graphs else None
    if graph is None or "serving_default" not in graph.signature_def:
        found = ", ".join(sorted(graph.signature_def)) if graph else ""
        raise ModelLoadError(f"SavedModel folder {path.name} has no serving_default signature "
                             f"(it has: {found or 'none'}); export it with model.export")
    for node in [*graph.graph_def.node,
                 *(n for function in graph.graph_def.library.function for n in function.node_def)]:
        to_file = node.op == "PrintV2" and node.attr["output_stream"].s.startswith(b"file:")
        if node.op in _REFUSED_OPS or to_file:
            raise ModelLoadError(
                f"SavedModel folder {path.name} runs the TensorFlow operation {node.op} "
                f"({node.name!r}), which touches files or runs Python; Graft refuses it — export "
                "the model without it")
    return graph.signature_def["serving_default"]


def file_key(path: Path) -> dict:
    """Identifies a model file (or SavedModel folder) by its name and content, so a card cached
    in a project still matches on another machine and stops matching when the file changes."""
    if not path.exists():  # the full path, so the "not found" message names the right place
        return {"source": path.name, "missing": str(path.resolve())}
    digest, size = _content_digest(path.resolve())
    return {"source": path.name, "sha256": digest, "size": size}


_digests: dict[tuple, tuple[str, int]] = {}


def _content_digest(path: Path) -> tuple[str, int]:
    """sha256 and size in bytes of a file, or of a folder's files in name order; hashed once
    per (path, size, modification time)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = [f.stat() for f in files]
    stamp = (str(path), tuple((str(f), s.st_size, s.st_mtime_ns) for f, s in zip(files, stats)))
    with _lock:
        known = _digests.get(stamp)
    if known is None:
        digest = hashlib.sha256()
        for file in files:
            digest.update(str(file.relative_to(path)).encode() if file != path else b"")
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        known = (digest.hexdigest(), sum(s.st_size for s in stats))
        with _lock:
            _digests[stamp] = known
    return known


# -- cards in project files ----------------------------------------------------------------

def card_to_dict(card: ModelCard) -> dict:
    spec = _spec_dict
    return {"source": card.source, "inputs": [spec(s) for s in card.inputs],
            "outputs": [spec(s) for s in card.outputs], "params": card.params,
            "trainable_params": card.trainable_params, "file_size": card.file_size,
            "layers": [{"name": layer.name, "class_name": layer.class_name,
                        "output": spec(layer.output) if layer.output else None, "params": layer.params,
                        "trainable": layer.trainable, "learnable": layer.learnable_params}
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
        return f"{self.where}.{key}" if self.where else key

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

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise CardError(self._at(key), "expected true or false")
        return value

    def list(self, key: str) -> list:
        value = self._get(key)
        if not isinstance(value, list):
            raise CardError(self._at(key), "expected a list")
        return value

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
                      record.count("params"), record.flag("trainable"), record.count("learnable"))
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
