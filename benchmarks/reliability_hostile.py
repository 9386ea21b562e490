"""Reliability experiment 4 (issue 16): hostile model files.

Why this exists: a project's ModelFile nodes point at `.keras`, `.h5` and SavedModel files
that may come from anyone, and Graft reads them as soon as a project opens (the analysis
reads each model's card) and again when it compiles or trains. No code stored in such a file
may ever run. Each case below builds a file of a published attack's shape, or of a shape
that such attacks could take, whose payload would write a canary file if it ran; Graft then
reads it the way it does (analysis, compile and, if it compiled, a prediction), and the
canary must not exist and Graft's own one-line refusal must name the file.

The shapes: Lambda layers with marshalled bytecode (CVE-2024-3660), also in the legacy HDF5
format whose loader ignored safe mode (CVE-2025-9905) and nested inside a wrapper layer where
a scan of the top-level layers misses them; config entries naming any module and function,
called with arguments from the file (CVE-2025-1550); Keras's own functions as gadgets
(`keras.utils.get_file`, CVE-2025-8747; `keras.config.enable_unsafe_deserialization`,
CVE-2025-9906); a TFSMLayer that loads another SavedModel (CVE-2026-1462); registered_name
tricks that make Keras pick an object registered in the process; SavedModels whose graph
writes files or runs Python (WriteFile, also inside a control-flow branch; py_function); zip
members named `../…` or `/…`; truncated archives; a config.json nested 100,000 deep or
inflating to hundreds of megabytes; and HDF5 files holding pickled objects.

Run from the repository root:

    .venv/bin/python benchmarks/reliability_hostile.py

tests/reliability/test_hostile.py runs the cases that tests/core/test_import.py does not."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reliability import run_alone  # noqa: E402

MESSAGE_LIMIT = 400  # Graft's refusals of model files run to about 300 characters with their advice
INPUT = [3, 4]  # every model here takes (None, 3, 4): TimeDistributed needs a time axis


@dataclass(frozen=True)
class Case:
    """One hostile file: `make(folder, canary)` writes it in `folder` and returns its path
    relative to it; `refusal` is a part of the message Graft must give (None: the payload is
    inert data, and the model loads); `covered` names the test elsewhere that already runs it."""

    name: str
    make: Callable[[Path, Path], str]
    refusal: str | None
    covered: str = ""


# -- payloads ----------------------------------------------------------------------------------
def canary_code(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').write('ran')"


def canary_function(canary: Path):
    """A function that writes the canary when it runs, and passes its input through."""
    namespace: dict = {}
    exec(f"def payload(x):\n    {canary_code(canary)}\n    return x\n", namespace)  # noqa: S102
    return namespace["payload"]


class Pickled:
    """Writes the canary when unpickled."""

    def __init__(self, canary: Path):
        self.canary = canary

    def __reduce__(self):
        return (exec, (canary_code(self.canary),))


# -- files Keras writes, then edited as an attacker would -----------------------------------------
def base_model():
    import keras

    inputs = keras.Input(INPUT, name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))


def saved_keras(folder: Path, name: str, model=None) -> Path:
    path = folder / name
    (model or base_model()).save(path)
    return path


def rewrite_keras(path: Path, config: dict | None = None, extra: tuple = (),
                  config_bytes: bytes | None = None) -> None:
    """The .keras archive at `path` with another config.json and extra members."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if config_bytes is not None:
        members["config.json"] = config_bytes
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*members.items(), *extra]:
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)


def keras_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def functional_layer(module: str | None, class_name: str, args: list, name: str = "boom",
                     config=None, registered_name=None) -> dict:
    """A layer entry of a functional config, called by Keras with `args` from the file."""
    entry = {"class_name": class_name, "config": config if config is not None else {},
             "registered_name": registered_name, "name": name,
             "inbound_nodes": [{"args": args, "kwargs": {}}]}
    if module is not None:
        entry["module"] = module
    return entry


def with_layer(folder: Path, name: str, entry: dict) -> str:
    """The base model with `entry` as one more layer of its functional config."""
    path = saved_keras(folder, name)
    config = keras_config(path)
    config["config"]["layers"].insert(1, entry)
    rewrite_keras(path, config)
    return name


def wrapped_lambda(function: dict, arguments: dict | None = None, name: str = "inner") -> dict:
    """A TimeDistributed layer around a Lambda: wrapper layers hold their layer under
    `layer`, not in the top-level `layers` list."""
    return {"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
            "config": {"name": "td", "trainable": True, "layer": {
                "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                "config": {"name": name, "trainable": True, "function": function,
                           "arguments": arguments or {}}}}}


def with_wrapped(folder: Path, name: str, wrapped: dict) -> str:
    """The base model's Dense layer replaced by `wrapped`, fed by the input."""
    path = saved_keras(folder, name)
    config = keras_config(path)
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense.update({k: v for k, v in wrapped.items()})
    rewrite_keras(path, config)
    return name


# -- the cases -----------------------------------------------------------------------------------
def lambda_file(suffix: str, nested: bool):
    def make(folder: Path, canary: Path) -> str:
        import keras

        inputs = keras.Input(INPUT)
        layer = keras.layers.Lambda(canary_function(canary), name="evil")
        outputs = keras.layers.TimeDistributed(layer, name="td")(inputs) if nested else layer(inputs)
        name = f"lambda{'_nested' if nested else ''}{suffix}"
        keras.Model(inputs, keras.layers.Dense(2)(outputs)).save(folder / name)
        canary.unlink(missing_ok=True)  # building the model ran it once, here, on purpose
        return name
    return make


def module_call(module: str | None, function: str, command: Callable[[Path], str]):
    """CVE-2025-1550's shape: a "layer" that is any function of any module, called with
    arguments taken from the file."""
    def make(folder: Path, canary: Path) -> str:
        return with_layer(folder, f"call_{module}_{function}.keras",
                          functional_layer(module, function, [command(canary)]))
    return make


def gadget(function: dict, arguments: Callable[[Path, Path], dict], name: str):
    """A Keras function as the gadget of a Lambda nested in a wrapper (CVE-2025-8747,
    CVE-2025-9906)."""
    def make(folder: Path, canary: Path) -> str:
        return with_wrapped(folder, name, wrapped_lambda(function, arguments(folder, canary)))
    return make


def get_file_arguments(folder: Path, canary: Path) -> dict:
    source = folder / "payload.txt"
    source.write_text("ran")
    return {"fname": str(canary), "origin": source.as_uri()}


def long_name(folder: Path, canary: Path) -> str:
    """A nested Lambda named with 5,000 characters: the refusal quotes the name, cut."""
    return with_wrapped(folder, "long_name.keras", wrapped_lambda(lambda_bytecode(canary), name="x" * 5000))


def unsafe_toggle(folder: Path, canary: Path) -> str:
    """CVE-2025-9906: first a Lambda that turns safe mode off, then one with bytecode."""
    path = saved_keras(folder, "unsafe_toggle.keras")
    config = keras_config(path)
    toggle = wrapped_lambda({"module": "keras.config", "class_name": "function",
                             "config": "enable_unsafe_deserialization", "registered_name": "function"})
    code = lambda_bytecode(canary)
    layers = config["config"]["layers"]
    dense = next(layer for layer in layers if layer["class_name"] == "Dense")
    dense.update(toggle)
    second = json.loads(json.dumps(toggle))
    second["config"]["layer"]["config"]["function"] = code
    second["config"]["name"] = second["name"] = "td2"
    second["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, *INPUT[:-1], 2], "dtype": "float32", "keras_history": [dense["name"], 0, 0]}}],
        "kwargs": {}}]
    layers.append(second)
    rewrite_keras(path, config)
    return path.name


def lambda_bytecode(canary: Path) -> dict:
    """The `function` entry Keras writes for a Python lambda: marshalled bytecode."""
    import keras

    layer = keras.layers.Lambda(canary_function(canary))
    return layer.get_config()["function"]


def registered(name: str, registered_name: str, canary_class: Callable[[], None]):
    """A built-in layer's entry whose registered_name names an object registered in this
    process (a plugin's, say): Keras picks the registered object first."""
    def make(folder: Path, canary: Path) -> str:
        canary_class()
        path = saved_keras(folder, name)
        config = keras_config(path)
        dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
        dense["registered_name"] = registered_name
        rewrite_keras(path, config)
        return name
    return make


CANARY_FOR_REGISTERED: list[Path] = []  # where the registered gadget writes (set per case)


def register_gadget() -> None:
    """A layer class registered in the process as plugins do, and under a plain key as
    `get_custom_objects()[...] = ...` does; building it writes the current canary."""
    import keras

    class Gadget(keras.layers.Dense):
        def __init__(self, *args, **kwargs):
            for canary in CANARY_FOR_REGISTERED:
                canary.write_text("ran")
            super().__init__(*args, **kwargs)

    keras.saving.register_keras_serializable(package="GraftHostile", name="Gadget")(Gadget)
    keras.saving.get_custom_objects()["Gadget"] = Gadget


def forget_gadget() -> None:
    """The process as it was: no gadget registered (other tests load models too)."""
    import keras

    for key in ("GraftHostile>Gadget", "Gadget"):
        keras.saving.get_custom_objects().pop(key, None)


def nested_tfsm(folder: Path, canary: Path) -> str:
    """CVE-2026-1462's shape: a TFSMLayer (inside a wrapper) that loads a SavedModel which
    writes the canary when it runs."""
    writer_model(folder / "writer", canary)
    return with_wrapped(folder, "nested_tfsm.keras", {
        "module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
        "config": {"name": "td", "layer": {
            "module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
            "config": {"name": "tfsm", "filepath": str(folder / "writer"),
                       "call_endpoint": "serving_default", "trainable": False}}}})


def writer_model(path: Path, canary: Path, branch: bool = False, python: bool = False) -> None:
    """A SavedModel whose serving function writes the canary: with WriteFile, inside a
    tf.cond branch, or from Python through tf.py_function."""
    import tensorflow as tf

    def write(x):
        if python:
            def run(t):
                canary.write_text("ran")
                return t
            return tf.py_function(run, [x], tf.float32)
        tf.io.write_file(str(canary), "ran")
        return x

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, *INPUT], tf.float32, name="x")])
        def serve(self, x):
            y = tf.cond(tf.reduce_sum(x) > -1e30, lambda: write(x), lambda: x) if branch else write(x)
            return {"y": 2 * y}

    module = Writer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def saved_model_case(branch: bool = False, python: bool = False):
    def make(folder: Path, canary: Path) -> str:
        name = "py_function" if python else "write_in_branch" if branch else "write_file"
        writer_model(folder / name, canary, branch, python)
        return name
    return make


def traversal(member: Callable[[Path, Path], str]):
    def make(folder: Path, canary: Path) -> str:
        path = saved_keras(folder, "traversal.keras")
        rewrite_keras(path, extra=((member(folder, canary), b"ran"),))
        return path.name
    return make


def truncated(fraction: float):
    def make(folder: Path, canary: Path) -> str:
        path = saved_keras(folder, f"truncated_{int(fraction * 100)}.keras")
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return path.name
    return make


def deep_config(folder: Path, canary: Path) -> str:
    path = saved_keras(folder, "deep.keras")
    rewrite_keras(path, config_bytes=b"[" * 100_000 + b"]" * 100_000)
    return path.name


def inflating_config(folder: Path, canary: Path) -> str:
    """A config.json of 300 MB of spaces (300 KB in the archive) before the real config."""
    path = saved_keras(folder, "inflating.keras")
    config = json.dumps(keras_config(path)).encode()
    rewrite_keras(path, config_bytes=b" " * 300_000_000 + config)
    return path.name


def h5_with_pickle(where: str):
    """A legacy .h5 model with a pickle whose loading writes the canary: as its model config,
    as its training config, or as an attribute of its own."""
    def make(folder: Path, canary: Path) -> str:
        import h5py
        import numpy as np

        path = folder / f"pickle_{where}.h5"
        base_model().save(path)
        payload = np.void(pickle.dumps(Pickled(canary)))
        with h5py.File(path, "a") as file:
            file.attrs[where] = payload
        return path.name
    return make


CASES = (
    Case("Lambda with marshalled bytecode, .keras (CVE-2024-3660)", lambda_file(".keras", False),
         "contains a Lambda layer 'evil'",
         "tests/core/test_import.py::test_a_lambda_layer_is_refused_and_its_code_never_runs"),
    Case("Lambda with marshalled bytecode, legacy .h5 (CVE-2025-9905)", lambda_file(".h5", False),
         "contains a Lambda layer 'evil'",
         "tests/core/test_import.py::test_a_lambda_layer_is_refused_and_its_code_never_runs"),
    Case("Lambda nested in TimeDistributed, .keras", lambda_file(".keras", True),
         "contains a Lambda layer 'evil'"),
    Case("Lambda nested in TimeDistributed, legacy .h5", lambda_file(".h5", True),
         "contains a Lambda layer 'evil'"),
    Case("a layer that is os.system, called with a command from the file (CVE-2025-1550)",
         module_call("os", "system", lambda canary: f"touch {canary}"), "needs the custom class 'system'"),
    Case("a layer that is builtins.exec, called with code from the file (CVE-2025-1550)",
         module_call("builtins", "exec", canary_code), "needs the custom class 'exec'"),
    Case("a layer that is posix.system, without a module field",
         module_call(None, "system", lambda canary: f"touch {canary}"), "needs the custom class 'system'"),
    Case("keras.utils.get_file as a nested Lambda's function (CVE-2025-8747)",
         gadget({"module": "keras.utils", "class_name": "function", "config": "get_file",
                 "registered_name": "function"}, get_file_arguments, "get_file.keras"),
         "contains a Lambda layer 'inner'"),
    Case("keras.config.enable_unsafe_deserialization, then bytecode (CVE-2025-9906)", unsafe_toggle,
         "contains a Lambda layer 'inner'"),
    Case("a Lambda named with 5,000 characters", long_name, "contains a Lambda layer 'xxxxxxxx"),
    Case("a TFSMLayer in a wrapper loading a SavedModel that writes (CVE-2026-1462)", nested_tfsm,
         "contains a TFSMLayer 'tfsm'"),
    Case("registered_name naming a registered class (package>name)",
         registered("registered_package.keras", "GraftHostile>Gadget", register_gadget),
         "needs the custom class 'GraftHostile>Gadget'"),
    Case("registered_name naming a class registered under a plain key",
         registered("registered_plain.keras", "Gadget", register_gadget), "needs the custom class 'Gadget'"),
    Case("SavedModel running WriteFile", saved_model_case(),
         "runs the TensorFlow operation WriteFile",
         "tests/core/test_import.py::test_a_savedmodel_that_touches_files_is_refused"),
    Case("SavedModel running WriteFile inside a tf.cond branch", saved_model_case(branch=True),
         "runs the TensorFlow operation WriteFile"),
    Case("SavedModel running Python through tf.py_function", saved_model_case(python=True),
         "runs the TensorFlow operation EagerPyFunc"),
    Case(".keras holding a member named ../CANARY",
         traversal(lambda folder, canary: f"../{canary.name}"), "a file named '../CANARY_"),
    Case(".keras holding a member named assets/../../CANARY",
         traversal(lambda folder, canary: f"assets/../../{canary.name}"),
         "a file named 'assets/../../CANARY_"),
    Case(".keras holding a member with an absolute name",
         traversal(lambda folder, canary: str(canary)), "outside the archive"),
    Case(".keras truncated to 10%", truncated(0.1), "is not a readable .keras archive"),
    Case(".keras truncated to 60%", truncated(0.6), "is not a readable .keras archive"),
    Case(".keras truncated to 99% (its directory cut)", truncated(0.99), "is not a readable .keras archive"),
    Case(".keras whose config.json is nested 100,000 deep", deep_config, "is not a readable .keras archive"),
    Case(".keras whose config.json inflates to 300 MB", inflating_config, "its model config"),
    Case("legacy .h5 whose model config is a pickle", h5_with_pickle("model_config"),
         "is not a readable HDF5 model file"),
    Case("legacy .h5 whose training config is a pickle", h5_with_pickle("training_config"), None),
    Case("legacy .h5 with a pickled attribute of its own", h5_with_pickle("payload"), None),
)


# -- reading one the way Graft does --------------------------------------------------------------
@dataclass
class Outcome:
    case: Case
    canaries: list[str]
    messages: list[str]
    loaded: bool

    @property
    def refused_clearly(self) -> bool:
        return self.case.refusal is not None and any(
            self.case.refusal in m and "\n" not in m and len(m) <= MESSAGE_LIMIT for m in self.messages)

    @property
    def ok(self) -> bool:
        return not self.canaries and (self.refused_clearly if self.case.refusal else self.loaded)


def canaries(name: str, folder: Path) -> list[str]:
    """Where a payload might have written the canary: the case's folder tree, the folders a
    `../` member could reach, the temporary folder, the working folder and Keras's cache."""
    places = [folder, folder.parent, folder.parent.parent, Path(tempfile.gettempdir()), Path.cwd(),
              Path.home() / ".keras", Path.home() / ".keras" / "datasets"]
    found = [str(p) for p in folder.rglob(name)]
    return sorted({*found, *(str(place / name) for place in places if (place / name).exists())})


def read_as_graft(path: str, folder: Path) -> tuple[list[str], bool]:
    """Input → ModelFile(path) → Output: the analysis (which reads the card), then compile and,
    when that works, a prediction; the messages Graft gave, and whether the model ran."""
    import numpy as np

    from app.core.analysis.validate import analyze
    from app.core.build.compile import CompileError, compile_graph
    from app.core.editing.builder import GraphBuilder
    from app.core.nodes import Context

    b = GraphBuilder()
    b.add("x", "Input", shape=INPUT)
    b.add("model", "ModelFile", path=path)
    b.add("y", "Output")
    b.chain("x", "model", "y")
    analysis = analyze(b.graph, Context(folder))
    messages = [p.message for p in analysis.nodes[b.ids["model"]].problems]
    try:
        compiled = compile_graph(b.graph, Context(folder))
    except CompileError as error:
        return [*messages, str(error)], False
    compiled.model.predict(np.zeros((1, *INPUT), "float32"), verbose=0)
    return messages, True


def run_case(case: Case, scratch: Path) -> Outcome:
    folder = scratch / f"case{CASES.index(case)}" / "models"
    folder.mkdir(parents=True)
    canary = folder / f"CANARY_{CASES.index(case)}"
    CANARY_FOR_REGISTERED[:] = [canary]
    try:
        path = case.make(folder, canary)
        assert not canary.exists(), f"making {case.name} left its canary"
        try:
            messages, loaded = read_as_graft(path, folder)
        except Exception as error:  # an escape is an outcome too: reported, never hidden
            messages, loaded = [f"escaped: {type(error).__name__}: {str(error)[:300]}"], False
        return Outcome(case, canaries(canary.name, folder), messages, loaded)
    finally:
        forget_gadget()


def experiment(quick: bool = False, cases=CASES) -> dict:
    """Every case (quick: the same; they take seconds each, and each matters)."""
    scratch = Path(tempfile.mkdtemp(prefix="graft-hostile-"))
    try:
        outcomes = [run_case(case, scratch) for case in cases]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    refusing = [o for o in outcomes if o.case.refusal]
    rows = [
        ("cases tried", str(len(outcomes))),
        ("refused with a clear message (Graft's own, one line, naming the file)",
         f"{sum(o.refused_clearly for o in refusing)} of {len(refusing)}"),
        ("loaded with the payload left as inert data",
         f"{sum(o.loaded and not o.canaries for o in outcomes if not o.case.refusal)} of "
         f"{len(outcomes) - len(refusing)}"),
        ("canaries written", str(sum(bool(o.canaries) for o in outcomes))),
    ]
    for outcome in outcomes:
        verdict = "ok" if outcome.ok else "FAILED"
        said = outcome.messages[0] if outcome.messages else "loaded"
        rows.append((f"{verdict}: {outcome.case.name}", said[:160]))
    return {"title": "Hostile model files", "rows": rows,
            "failures": sum(not o.ok for o in outcomes),
            "cases": [{"name": o.case.name, "ok": o.ok, "canaries": o.canaries, "messages": o.messages}
                      for o in outcomes]}


def _canaries(result: dict) -> None:
    for case in result["cases"]:
        if case["canaries"]:
            print(f"  CANARY WRITTEN by {case['name']}: {case['canaries']}")


if __name__ == "__main__":
    sys.exit(run_alone(experiment, "the same cases (all are quick)", _canaries))
