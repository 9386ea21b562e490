"""Loading model files so that no code stored in them runs, and naming model files by content.

Keras's safe mode refuses Lambda layers, but not every way a file can carry code; each
reader here scans the model's config (or a SavedModel's graph) first and names what it refuses."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import threading
import zipfile
from pathlib import Path

from app.core.graph.params import printable

# The model files Graft reads, in any case: Keras's own format, and legacy HDF5 by either name.
# Everything that offers, accepts or filters model files uses these.
KERAS_SUFFIX, HDF5_SUFFIXES = ".keras", (".h5", ".hdf5")
MODEL_FILE_SUFFIXES = (KERAS_SUFFIX, *HDF5_SUFFIXES)


def is_model_file(path: str | Path) -> bool:
    """Whether `path` names a model file Graft reads, by its suffix (a SavedModel is a folder)."""
    return Path(path).suffix.lower() in MODEL_FILE_SUFFIXES


class ModelLoadError(Exception):
    """A pretrained model that cannot be built or loaded; the message says why and what to do."""


def shown(path: Path) -> str:
    """A path's name as messages show it: unprintable characters escaped, a long one cut."""
    return printable(path.name or str(path), 100)


def shown_path(path: Path) -> str:
    """A whole path as messages show it: unprintable characters escaped, a long one cut."""
    return printable(str(path), 200)


def path_problem(path: Path) -> str | None:
    """Why `path` cannot be a model file or a SavedModel folder, as a message, found without
    reading what it names (a device never ends, a folder may hold a whole disk); None when it
    may be one, or when it is missing (which the callers say in their own words)."""
    if "\0" in str(path):
        return f"model file {shown(path)}: its path holds a NUL character; fix the path"
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:  # a name too long, a loop of links, no permission
        return f"model file {shown(path)} cannot be read ({error.strerror or error}); fix the path"
    if stat.S_ISDIR(info.st_mode):
        if not (path / "saved_model.pb").is_file():
            return (f"folder {shown(path)} is not a SavedModel (no saved_model.pb); choose a SavedModel "
                    "folder, a .keras or an .h5 file")
    elif not stat.S_ISREG(info.st_mode):
        return (f"model file {shown(path)} is not a regular file (a device, a pipe or a socket); "
                "choose a .keras or an .h5 file")
    elif not is_model_file(path):
        return (f"model file {shown(path)}: Graft reads {', '.join(MODEL_FILE_SUFFIXES)} model files and "
                "SavedModel folders; save the model with model.save('model.keras')")
    return None


def load_model_file(path: Path):
    """Load a `.keras` or legacy `.h5`/`.hdf5` model file, or a SavedModel folder, so that no Python
    code stored in it runs: Keras safe mode, after a scan of the model's config that names
    what would need code (Keras's own refusals do not say which layer)."""
    import keras

    problem = path_problem(path)
    if problem is not None:
        raise ModelLoadError(problem)
    if not path.exists():
        raise ModelLoadError(f"model file not found: {shown_path(path)}; fix the path or import it again")
    if path.is_dir():
        return _load_saved_model(path)
    reader = _keras_config if path.suffix.lower() == KERAS_SUFFIX else _h5_config
    try:
        _refuse_code(reader(path), shown(path))
    except RecursionError:  # a config nested too deeply to scan: no model is
        raise _damaged(shown(path), "model file") from None
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for unreadable files
        raise ModelLoadError(f"cannot load model file {shown(path)}: {error_gist(error)}; it may be "
                             "damaged or written by an incompatible Keras — save it again as "
                             f".keras with Keras {keras.__version__}") from None
    if not isinstance(model, keras.Model) or not model.built:
        raise ModelLoadError(f"model file {shown(path)} holds no built model (a layer, or a Sequential "
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


MAX_CONFIG_BYTES = 64 * 2**20  # a model config this large is no model's: an archive inflating to fill memory


def _keras_config(path: Path) -> dict:
    """The model config inside a `.keras` archive, read without Keras, after refusing members
    that would land outside the folder Keras extracts the archive to."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            outside = next((name for name in names if _outside(name)), None)
            if outside is not None:
                raise ModelLoadError(
                    f"model file {shown(path)} holds a file named {_quoted(outside)} that would "
                    "be written outside the archive's folder; Graft refuses it — save the model "
                    "again with model.save('model.keras')")
            if "config.json" not in names:
                raise ModelLoadError(f"model file {shown(path)} holds no model config; save the "
                                     "model with model.save('model.keras')")
            size = archive.getinfo("config.json").file_size
            if size > MAX_CONFIG_BYTES:
                raise ModelLoadError(
                    f"model file {shown(path)}: its model config is {size / 2**20:,.0f} MB, more than "
                    f"any model needs ({MAX_CONFIG_BYTES // 2**20} MB); Graft refuses it — choose "
                    "another file")
            return json.loads(archive.read("config.json"))
    # ValueError: bad JSON or text; RecursionError: JSON nested too deeply to parse
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError, EOFError):
        raise _damaged(shown(path), ".keras archive") from None


def _outside(name: str) -> bool:
    """Whether an archive member's name leads out of the folder it is extracted to."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or bool(re.match(r"[A-Za-z]:", name))


def _h5_config(path: Path) -> dict:
    """The model config of a legacy `.h5` file, read without Keras."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            config = file.attrs.get("model_config")
        if config is None:
            raise ModelLoadError(f"model file {shown(path)} holds weights but no model; save the "
                                 "whole model with model.save('model.keras')")
        if not isinstance(config, (str, bytes)) or len(config) > MAX_CONFIG_BYTES:
            raise _damaged(shown(path), "HDF5 model file")  # e.g. a pickle, which is never loaded
        return json.loads(config)
    except (OSError, ValueError, RecursionError):  # h5py reports damaged files as OSError
        raise _damaged(shown(path), "HDF5 model file") from None


# Where a Keras config holds layers: a model's list, and a wrapper's or an RNN's own layers.
_LAYER_KEYS = frozenset({"layers", "layer", "forward_layer", "backward_layer", "cell", "cells"})


def _refuse_code(config, file: str) -> None:
    """Refuse a model whose config needs Python code: Lambda layers (wherever they are, a
    wrapper's included), classes and functions from outside Keras or registered in this
    process (Keras prefers a registered object to its own), and TFSMLayers (which load another
    SavedModel from disk). Keras safe mode refuses some of these too; this names them and
    runs before Keras reads anything."""
    import keras

    def known_layer(name: str) -> bool:
        found = getattr(keras.layers, name, None)
        return name in ("Functional", "Sequential", "Model") or (
            isinstance(found, type) and issubclass(found, keras.layers.Layer))

    def registered(name) -> bool:
        return isinstance(name, str) and keras.saving.get_registered_object(name) is not None

    def visit(item, layer: str, is_layer: bool) -> None:
        if isinstance(item, list):
            for entry in item:
                visit(entry, layer, is_layer)
            return
        if not isinstance(item, dict):
            return
        cls, module = item.get("class_name"), item.get("module")
        inner, registered_name = item.get("config"), item.get("registered_name")
        is_layer = is_layer or cls in ("Lambda", "TFSMLayer")  # under any key: no object else has these names
        if is_layer and isinstance(cls, str):
            layer = item.get("name") or (inner.get("name") if isinstance(inner, dict) else None) or cls
            if cls == "Lambda":
                raise ModelLoadError(
                    f"model file {file} contains a Lambda layer {_quoted(layer)} whose Python code would "
                    "have to run; Graft refuses it — rebuild the model without Lambda layers, or "
                    "export it as a SavedModel (model.export) and import that folder")
            if cls == "TFSMLayer":
                raise ModelLoadError(
                    f"model file {file} contains a TFSMLayer {_quoted(layer)}, which loads a SavedModel "
                    "from elsewhere on disk; import that SavedModel folder as its own node")
        if isinstance(cls, str) and (
                cls == "__lambda__" or ">" in cls or registered_name not in (None, cls)
                or registered(registered_name) or (cls == "function" and registered(inner))
                or (isinstance(module, str) and module.split(".")[0] != "keras")
                or (is_layer and module is None and not known_layer(cls))):
            what = "function" if cls in ("function", "__lambda__") else "class"
            name = inner if cls == "function" and isinstance(inner, str) else (registered_name or cls)
            raise ModelLoadError(
                f"model file {file} needs the custom {what} {_quoted(name)} (in layer "
                f"{_quoted(layer)}), whose Python code would have to run; Graft refuses it — "
                "rebuild the model from built-in Keras layers, or export it as a SavedModel "
                "(model.export) and import that folder")
        for key, value in item.items():
            if key != "compile_config":  # loading with compile=False never reads it
                visit(value, layer, key in _LAYER_KEYS)

    visit(config, "", True)


def _quoted(name) -> str:
    """A name from a model's config as a message quotes it, cut when long: the file may hold
    anything there."""
    text = name if isinstance(name, str) else json.dumps(name, default=str)
    return repr(text if len(text) <= 80 else f"{text[:80]}…")


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
    signature's outputs sorted by name, numbers compared as numbers (output_2 before output_10),
    each through an Identity layer of its name (see `signature_output_names`)."""
    import keras

    signature = _check_saved_model(path)
    if len(signature.inputs) != 1:
        raise ModelLoadError(
            f"SavedModel folder {shown(path)} takes {len(signature.inputs)} inputs "
            f"({', '.join(sorted(signature.inputs))}); Graft imports SavedModels with one input — "
            "save the model as .keras instead")
    try:
        layer = keras.layers.TFSMLayer(str(path.resolve()), call_endpoint="serving_default")
        layer.autocast = False  # its graph takes the dtypes it was exported with, under mixed precision too
        (name, spec), = layer.call_endpoint_fn.structured_input_signature[1].items()
        if spec.shape.rank is None or spec.shape.rank < 1:
            raise ModelLoadError(f"SavedModel folder {shown(path)}: its input {name!r} has no batch "
                                 "axis; export it with a batch axis first")
        inputs = keras.Input(batch_shape=tuple(spec.shape), dtype=spec.dtype.name, name=name)
        produced = layer(inputs)
        keys = sorted(produced, key=_natural)
        outputs = [produced[key] for key in keys]
        if all(key.isidentifier() for key in keys) and name not in keys:  # names a layer can have
            outputs = [keras.layers.Identity(name=key)(tensor) for key, tensor in zip(keys, outputs)]
        return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs)
    except ModelLoadError:
        raise
    except Exception as error:  # TensorFlow raises many types for unreadable SavedModels
        raise ModelLoadError(f"cannot load SavedModel folder {shown(path)}: {error_gist(error)}; "
                             "export it again with model.export") from None


def signature_output_names(model) -> tuple[str, ...]:
    """The names a SavedModel's serving signature gives its outputs, in the order of the model's
    outputs, for a model `load_model_file` read from a SavedModel folder (other models' output
    names are only their last layers' names: empty for them)."""
    if not any(type(layer).__name__ == "TFSMLayer" for layer in model.layers):
        return ()
    return tuple(model.output_names)


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _check_saved_model(path: Path):
    """The serving signature of a SavedModel, after refusing graphs with operations that touch
    files or run Python (a SavedModel holds no Python, but its graph runs when the model does)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()  # path_problem made sure saved_model.pb is there
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception:  # protobuf's DecodeError
        raise _damaged(shown(path) + "/saved_model.pb", "SavedModel graph") from None
    graph = saved.meta_graphs[0] if saved.meta_graphs else None
    if graph is None or "serving_default" not in graph.signature_def:
        found = ", ".join(sorted(graph.signature_def)) if graph else ""
        raise ModelLoadError(f"SavedModel folder {shown(path)} has no serving_default signature "
                             f"(it has: {found or 'none'}); export it with model.export")
    for node in [*graph.graph_def.node,
                 *(n for function in graph.graph_def.library.function for n in function.node_def)]:
        to_file = node.op == "PrintV2" and node.attr["output_stream"].s.startswith(b"file:")
        if node.op in _REFUSED_OPS or to_file:
            raise ModelLoadError(
                f"SavedModel folder {shown(path)} runs the TensorFlow operation {node.op} "
                f"({node.name!r}), which touches files or runs Python; Graft refuses it — export "
                "the model without it")
    return graph.signature_def["serving_default"]


def file_key(path: Path) -> dict:
    """Identifies a model file (or SavedModel folder) by its name and content, so a card cached
    in a project still matches on another machine and stops matching when the file changes."""
    problem = path_problem(path)  # checked before reading: nothing is read that is no model
    if problem is not None:
        return {"source": path.name[:200], "unreadable": problem}
    if not path.exists():  # the full path, so the "not found" message names the right place
        return {"source": path.name, "missing": str(path.resolve())}
    try:
        digest, size = _content_digest(path.resolve())
    except OSError as error:  # a file that refuses to be read, like /proc/self/mem
        return {"source": path.name, "unreadable": f"model file {shown(path)} cannot be read "
                f"({error.strerror or error})"}
    return {"source": path.name, "sha256": digest, "size": size}


_digests: dict[tuple, tuple[str, int]] = {}
_lock = threading.Lock()


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
