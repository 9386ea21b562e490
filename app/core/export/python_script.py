"""The Python script an export writes: Keras functional code generated from the compiled
model's config and live layers, one readable call per layer with its explicit `name=`, the
pretrained models nested in the graph rebuilt from their layers' configs (arguments equal to
a layer's defaults left out), and a `main` that prints the summary or predicts. One piece:
the writer and the renderers of values it uses only make sense together."""

from __future__ import annotations

import builtins
import importlib
import inspect
import json
import keyword
import math
import re
import textwrap
from pathlib import Path

import networkx as nx
import numpy as np

from app.core.document.project import Project
from app.core.export.common import (
    ExportError,
)
from app.core.nodes import node_type
from app.core.nodes.base import OUTPUT, PRETRAINED

LINE_WIDTH = 100  # a call longer than this gets one argument per line
MODELS = ("Functional", "Sequential")
OBJECT_MODULES = ("keras", "keras.initializers", "keras.regularizers", "keras.constraints",
                  "keras.layers", "keras.activations")
INPUT_DEFAULTS = {"dtype": "float32", "sparse": False, "ragged": False, "optional": False}
# Names the script itself uses: a layer named like one of them gets another variable name.
RESERVED = {"keras", "layers", "np", "sys", "Path", "WEIGHTS", "name", "weights", "model", "layer",
            "main", "arguments"} | set(dir(builtins)) | set(keyword.kwlist)


def script_source(project: Project, model, weights_name: str) -> str:
    """The whole script for `model`, whose weights are saved as `weights_name` beside it."""
    import keras

    writer = ScriptWriter(project)
    body = writer.function("build_model", "weights=WEIGHTS", model.get_config(), model, top_level=True)
    stem = Path(weights_name).name.removesuffix(".weights.h5")
    inputs = ", ".join(f"{t.name} {_shape_text(t.shape)} {t.dtype}" for t in model.inputs)
    outputs = ", ".join(model.output_names)
    source = "a project not saved yet" if project.path is None else project.path.name
    usage_import = (f"    from {stem} import build_model\n" if stem.isidentifier() else
                    f"    (import {stem}.py by its path with importlib)\n")
    header = (
        f'"""{_docstring_text(project.name)}: a model composed in Graft, rebuilt with the Keras '
        f"functional API.\n\n"
        f"Exported by Graft from {_docstring_text(source)}. The weights are in {weights_name} beside this\n"
        f"file; build_model() loads them (build_model(weights=None) gives freshly initialised layers).\n"
        f"Keras matches saved weights to layers by their order and kind, so they fit these layers as\n"
        f"written; after changing the architecture, build with weights=None.\n"
        f"Inputs: {inputs}. Outputs: {outputs}.\n\n"
        f"Run it:\n"
        f"    python {stem}.py                print the model's summary\n"
        f"    python {stem}.py INPUT.npy ...  predict, one .npy array per input, in the order above\n"
        f"Use it in your own code:\n"
        f"{usage_import}"
        f"    model = build_model()\n\n"
        f"Needs only Keras (written with Keras {keras.__version__}) and NumPy, not Graft.\n"
        f'"""\n')
    return "\n\n\n".join([
        header + "\nimport sys\nfrom pathlib import Path\n\nimport keras\nimport numpy as np\nfrom keras "
        f"import layers\n\nWEIGHTS = Path(__file__).resolve().with_name({_literal(weights_name)})",
        *writer.builders, body, MAIN]) + "\n"


MAIN = '''\
def main(arguments):
    model = build_model()
    if not arguments:
        model.summary()
        return
    if len(arguments) != len(model.inputs):
        sys.exit(f"expected {len(model.inputs)} .npy file(s), one per input: "
                 + ", ".join(t.name for t in model.inputs))
    inputs = [np.load(path) for path in arguments]
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for output_name, output in zip(model.output_names, outputs):
        print(f"{output_name}: shape {tuple(output.shape)}")
        print(keras.ops.convert_to_numpy(output))


if __name__ == "__main__":
    main(sys.argv[1:])'''


class _Scope:
    """Variable names inside one generated function: valid, unique, never shadowing what the
    script uses."""

    def __init__(self):
        self.taken: set[str] = set()

    def take(self, wanted: str) -> str:
        base = re.sub(r"\W", "_", wanted) or "tensor"
        if base[0].isdigit() or base.startswith("build_"):
            base = "_" + base
        if base in RESERVED:
            base += "_"
        name, count = base, 1
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.taken.add(name)
        return name


class ScriptWriter:
    """Generates the functions of the script from a functional model's config and live layers."""

    def __init__(self, project: Project):
        import keras

        self.keras = keras
        self.graph = project.graph
        self.callers: dict[str, list[str] | None] = {}  # nested model → the Graft nodes applying it
        self.builders: list[str] = []  # source of each builder function, callees first
        self.builder_by_key: dict[str, str] = {}
        self.function_names: set[str] = {"build_model", "main"}
        self.references: dict[tuple, dict | None] = {}

    # -- functions ---------------------------------------------------------------------------
    def function(self, name: str, signature: str, config: dict, live, *, top_level: bool = False,
                 doc: str = "") -> str:
        """A function that builds the functional model `config` (whose layers are `live`'s)."""
        scope, lines, tensors = _Scope(), [], {}
        entries = config["layers"]
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                var = scope.take(entry["name"])
                tensors[(entry["name"], 0, 0)] = var
                lines.append(f"{var} = {self.input_call(entry['config'])}")
        pending = [(entry, index) for entry in entries if entry["class_name"] != "InputLayer"
                   for index in range(len(entry["inbound_nodes"]))]
        objects: dict[str, str] = {}
        while pending:
            ready = next((k for k, (e, i) in enumerate(pending)
                          if all(ref in tensors for ref in _tensor_refs(e["inbound_nodes"][i]))), None)
            if ready is None:
                raise ExportError(f"the model {config.get('name')!r} has a cycle or a dangling layer; "
                                  "export it as .keras instead")
            entry, index = pending.pop(ready)
            lines += self.call(entry, index, live, scope, tensors, objects, top_level)
        inputs = _structure(config["input_layers"], tensors)
        outputs = _structure(config["output_layers"], tensors)
        model_name = _literal(config["name"]) if top_level else "name"
        result = _call("keras.Model", [f"inputs={inputs}", f"outputs={outputs}", f"name={model_name}"])
        if top_level:
            lines += [f"model = {result}", "if weights is not None:", "    model.load_weights(weights)",
                      "return model"]
            doc = doc or ("The composed model, with the weights from `weights` (None: freshly "
                          "initialised layers).")
        else:
            lines.append(f"return {result}")
        return "\n".join([f"def {name}({signature}):", _docstring(doc),
                          *("    " + line if line else "" for line in "\n".join(lines).splitlines())])

    def builder(self, class_name: str, config: dict, live, wanted: str, doc: str) -> str:
        """The name of a function that builds the nested model `config`, written once per
        distinct architecture (two copies of one model file share it)."""
        key = json.dumps(_without_flags({**config, "name": None}), sort_keys=True, default=str)
        if key not in self.builder_by_key:
            name = _unique("build_" + re.sub(r"\W", "_", wanted), self.function_names)
            self.function_names.add(name)
            if class_name == "Sequential":
                source = self.sequential_function(name, config, live, doc)
            else:
                source = self.function(name, "name", config, live, doc=doc)
            self.builders.append(source)
            self.builder_by_key[key] = name
        return self.builder_by_key[key]

    def sequential_function(self, name: str, config: dict, live, doc: str) -> str:
        """A builder for a Sequential model file: its layers as a keras.Sequential list, as saved."""
        items = []
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                items.append(self.input_call(entry["config"]))
            else:
                layer = live.get_layer(entry["config"]["name"])
                items.append(self.constructor(entry, layer, False, f"layer {layer.name!r} of {live.name!r}"))
        listing = "".join(f"        {item},\n" for item in items)
        return (f"def {name}(name):\n{_docstring(doc)}\n    return keras.Sequential([\n{listing}    ], "
                "name=name)")

    # -- statements --------------------------------------------------------------------------
    def call(self, entry, index, live, scope, tensors, objects, top_level) -> list[str]:
        """The statements applying one layer (or nested model) to its inputs."""
        name, node = entry["name"], entry["inbound_nodes"][index]
        args = [_render_args(a, tensors) for a in node.get("args", [])]
        # `training` comes from how the model is called; Keras records it, and a mask of None, anyway
        args += [f"{k}={_render_args(v, tensors)}" for k, v in node.get("kwargs", {}).items()
                 if not (k == "training" or (k == "mask" and v is None))]
        if entry.get("module", "").startswith("keras.src.ops"):  # an operation such as keras.ops.cast
            var = scope.take(name)
            tensors[(name, index, 0)] = var
            return [f"{var} = {self.operation_call(entry, args)}"]
        lines = []
        layer = live.get_layer(name)
        is_model = entry["class_name"] in MODELS
        where = f"node {name!r}" if top_level else f"layer {name!r} of {live.name!r}"
        if is_model or len(entry["inbound_nodes"]) > 1:
            if name not in objects:  # made once, applied at each of its calls
                objects[name] = scope.take(f"{name}_model" if is_model else f"{name}_layer")
                if is_model:
                    lines += self.nested_model(entry, layer, objects[name], top_level, where, scope)
                else:
                    lines.append(f"{objects[name]} = {self.constructor(entry, layer, top_level, where)}")
            callee = objects[name]
        else:
            callee = self.constructor(entry, layer, top_level, where)
        outputs = self.call_outputs(entry, index, layer, live)
        wanted = self.output_var_names(entry, index, outputs, top_level and is_model)
        targets = [scope.take(n) for n in wanted]
        for (_, ref), var in zip(outputs, targets):
            tensors[ref] = var
        call = f"{callee}({', '.join(args)})"
        callers = self.callers_of(name, len(entry["inbound_nodes"])) if top_level and is_model else None
        note = f"  # shares {name}'s model and weights" if callers and callers[index] != name else ""
        if len(outputs) == 1 and outputs[0][0] == "":
            lines.append(f"{targets[0]} = {call}{note}")
        elif all(re.fullmatch(r"\[\d+\]", path) for path, _ in outputs):
            lines.append(f"{', '.join(targets)}{',' if len(targets) == 1 else ''} = {call}{note}")
        else:  # a dict of outputs
            whole = scope.take(f"{name}_outputs")
            lines.append(f"{whole} = {call}{note}")
            lines += [f"{var} = {whole}{path}" for (path, _), var in zip(outputs, targets)]
        return lines

    def call_outputs(self, entry, index, layer, live) -> list[tuple[str, tuple]]:
        """(access path, tensor reference) of each output of one call, in Keras's flat order."""
        if entry["class_name"] in MODELS and "output_layers" in entry["config"]:
            return [(path, (entry["name"], index, i))
                    for i, (path, _) in enumerate(_leaves(entry["config"]["output_layers"]))]
        if entry["class_name"] in MODELS:  # Sequential: one output
            return [("", (entry["name"], index, 0))]
        count = 1
        nodes = getattr(layer, "_inbound_nodes", None)
        if nodes:
            count = len(nodes[0].outputs)
        if count == 1:
            return [("", (entry["name"], index, 0))]
        return [(f"[{i}]", (entry["name"], index, i)) for i in range(count)]

    def output_var_names(self, entry, index, outputs, pretrained_node) -> list[str]:
        """Tensors are named after the Graft node that makes them, as the graph shows them."""
        name = entry["name"]
        callers = self.callers_of(name, len(entry["inbound_nodes"])) if pretrained_node else None
        if callers:
            name = callers[index]
        elif index > 0:
            name = f"{name}_{index + 1}"
        if len(outputs) == 1:
            return [name]
        if entry["class_name"] in MODELS and "output_layers" in entry["config"]:
            layer_names = [ref[0] for _, ref in _leaves(entry["config"]["output_layers"])]
            return [f"{name}_{layer_name}" for layer_name in layer_names]
        return [f"{name}_{i}" for i in range(len(outputs))]

    def callers_of(self, owner: str, calls: int) -> list[str] | None:
        """The Graft nodes applying the owner's model in the order compile applies them: the
        owner and the nodes sharing its weights. None when they do not account for every call."""
        if owner not in self.callers:
            graph = self.graph
            needed = graph.upstream(n.id for n in graph.nodes if node_type(n.type).category == OUTPUT)
            names = []
            for node_id in nx.topological_sort(graph.topology):
                node = graph.node(node_id)
                if node_id in needed and node_type(node.type).category == PRETRAINED and \
                        (node.params["share_weights_with"] or node.name) == owner:
                    names.append(node.name)
            self.callers[owner] = names
        names = self.callers[owner]
        return names if len(names) == calls else None

    def nested_model(self, entry, layer, var, top_level, where, scope) -> list[str]:
        """Statements making a nested model (a pretrained node): a keras.applications call or a
        builder rebuilding its layers; its taps as extra outputs; its freezing as in Graft."""
        config, name = entry["config"], entry["name"]
        node = self.graph.node_by_name(name) if top_level else None
        node = node if node is not None and node_type(node.type).category == PRETRAINED else None
        taps = list(node.params["taps"]) if node is not None else []
        outputs = list(config.get("output_layers") or [])
        if taps and (len(outputs) <= len(taps) or not all(_is_ref(o) for o in outputs)):
            taps = []  # not the shape compile gives a tapped model: rebuild it whole
        base_var = scope.take(f"{name}_base") if taps else var
        if node is not None and node.type == "Application":
            lines = [f"{base_var} = {self.application_call(node)}"]
        else:
            self.refuse_unexpressible(entry, where)
            base_config = config
            if taps:
                kept = outputs[:len(outputs) - len(taps)]
                base_config = {**config, "output_layers": kept[0] if len(kept) == 1 else kept}
            wanted, doc = name, f"The architecture of the nested model {name!r}, layer by layer."
            if node is not None and node.type == "ModelFile":
                wanted = Path(node.params["path"]).stem or name
                doc = (f"The architecture of the pretrained model file {Path(node.params['path']).name}, "
                       "layer by layer; the weights come from the weights file.")
            builder = self.builder(entry["class_name"], base_config, layer, wanted, doc)
            lines = [f"{base_var} = {builder}(name={_literal(name)})"]
        if taps:
            tapped = ", ".join(f"{base_var}.get_layer({_literal(t)}).output" for t in taps)
            args = [f"{base_var}.inputs", f"[*{base_var}.outputs, {tapped}]", f"name={_literal(name)}"]
            lines += ["# taps: inner layers' outputs as extra outputs of the model",
                      f"{var} = {_call('keras.Model', args)}"]
        return lines + self.freezing(layer, var)

    def operation_call(self, entry, args: list[str]) -> str:
        """`keras.ops.not_equal(x, 0)` for an operation recorded in the graph (Graft's Cast node,
        the mask an Embedding passes on), or its deserialised form where keras.ops lacks it."""
        function = re.sub(r"(?<!^)(?=[A-Z])", "_", entry["class_name"]).lower()
        settings = {k: v for k, v in entry["config"].items() if k != "name"}
        if callable(getattr(self.keras.ops, function, None)) and all(k.isidentifier() for k in settings):
            keywords = [f"{k}={_literal(v)}" for k, v in settings.items()]
            return _call(f"keras.ops.{function}", [*args, *keywords])
        serialized = _plain(entry, ("module", "class_name", "config", "registered_name"))
        return f"keras.saving.deserialize_keras_object({_pretty(serialized)})({', '.join(args)})"

    def application_call(self, node) -> str:
        p = node.params
        kwargs = [("include_top", p["include_top"]), ("weights", None),
                  ("input_shape", tuple(p["input_shape"])),
                  ("pooling", None if p["pooling"] == "none" else p["pooling"]),
                  ("classes", p["classes"]), ("name", node.name)]
        return _call(f"keras.applications.{p['architecture']}", [f"{k}={_literal(v)}" for k, v in kwargs])

    def freezing(self, layer, var) -> list[str]:
        """Set `trainable` as Graft froze the model, so fine-tuning it trains the same layers."""
        if not layer.trainable:
            return [f"{var}.trainable = False  # frozen"]
        frozen = [i for i, inner in enumerate(layer.layers) if not inner.trainable]
        if not frozen:
            return []
        if frozen == list(range(len(frozen))):
            learning = len(layer.layers) - len(frozen)
            return [f"for layer in {var}.layers[:{len(frozen)}]:  # only the last {learning} layer(s) learn",
                    "    layer.trainable = False"]
        names = _literal([layer.layers[i].name for i in frozen])
        return [f"for layer_name in {names}:", f"    {var}.get_layer(layer_name).trainable = False"]

    def refuse_unexpressible(self, entry, where: str) -> None:
        """Layers that cannot be rebuilt from Keras code: refused, naming the node and the way out."""
        for item in _layer_entries(entry):
            if item["class_name"] == "TFSMLayer":
                raise ExportError(
                    f"{where} is a SavedModel, which runs TensorFlow's graph rather than Keras "
                    "layers a script could rebuild; export as a SavedModel or ONNX instead")
            module, registered = item.get("module") or "", item.get("registered_name")
            custom = registered not in (None, item["class_name"]) and not module.startswith("keras.src.ops")
            if custom or not module.startswith("keras"):
                raise ExportError(
                    f"{where} contains the layer {item.get('name')!r} of class "
                    f"{item['class_name']!r}, which is not part of Keras; export as a Keras model file "
                    "(.keras) or a SavedModel instead")

    # -- expressions -------------------------------------------------------------------------
    def input_call(self, config: dict) -> str:
        shape = config["batch_shape"]
        args = ([f"shape={_literal(tuple(shape[1:]))}"] if shape[0] is None else
                [f"batch_shape={_literal(tuple(shape))}"])
        for key, default in INPUT_DEFAULTS.items():
            value = _dtype_name(config.get(key, default)) if key == "dtype" else config.get(key, default)
            if value != default:
                args.append(f"{key}={_literal(value)}")
        return _call("keras.Input", [*args, f"name={_literal(config['name'])}"])

    def constructor(self, entry, layer, keep_trainable: bool, where: str) -> str:
        """`layers.X(arg=value, ..., name="...")` for a layer, defaults left out; a layer that does
        not rebuild the same from such a call is written as `layers.deserialize({...})`."""
        if entry["class_name"] in MODELS:
            raise ExportError(f"{where}: a model nested in a Sequential model; export as a Keras model "
                              "file (.keras) instead")
        self.refuse_unexpressible(entry, where)
        config = _json_ready(layer.get_config())
        if not keep_trainable:
            config.pop("trainable", None)
        cls = type(layer)
        required, reference = self.reference_config(cls, config)
        defaults = reference or {}
        optional = [key for key in config if key not in required and key != "name"
                    and not (key in defaults and _same(defaults[key], config[key]))]
        kwargs = [f"{key}={_literal(config[key])}" for key in [*required, *optional]]
        text = _call(f"layers.{cls.__name__}", [*kwargs, f"name={_literal(layer.name)}"])
        if getattr(self.keras.layers, cls.__name__, None) is cls and \
                all(k.isidentifier() for k in config) and self.rebuilds(text, config):
            return text
        serialized = _json_ready(self.keras.layers.serialize(layer))
        if not keep_trainable:
            serialized["config"].pop("trainable", None)
        kept = _plain(serialized, ("module", "class_name", "config", "registered_name"))
        text = f"layers.deserialize({_pretty(kept)})"
        if not self.rebuilds(text, config):
            raise ExportError(f"{where} ({cls.__name__}) cannot be written as Python code; export as a "
                              "Keras model file (.keras) instead")
        return text

    def reference_config(self, cls, config: dict) -> tuple[list[str], dict | None]:
        """The required arguments of `cls` (always written), and the config of `cls` made with
        only those (from `config`): what every argument left out of the call will be."""
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            return [], None
        required = [p.name for p in list(signature.parameters.values())[1:]
                    if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if any(r not in config for r in required):
            return [r for r in required if r in config], None
        key = (cls, json.dumps({r: config[r] for r in required}, sort_keys=True, default=str))
        if key not in self.references:
            try:
                self.references[key] = _json_ready(cls(**{r: config[r] for r in required}).get_config())
            except Exception:  # a layer that cannot be made from its required arguments alone
                self.references[key] = None
        return required, self.references[key]

    def rebuilds(self, text: str, config: dict) -> bool:
        """Whether evaluating the generated call gives a layer with exactly this config."""
        namespace = {"keras": self.keras, "layers": self.keras.layers, "float": float, "__builtins__": {}}
        try:
            rebuilt = _json_ready(eval(text, namespace).get_config())  # noqa: S307 - our own literals
        except Exception:  # Keras refuses a config in assorted exception types
            return False
        if "trainable" not in config:
            rebuilt.pop("trainable", None)
        return _same(rebuilt, config)


def _call(function: str, args: list[str]) -> str:
    """A call on one line, or one argument per line when that line would be long."""
    one_line = f"{function}({', '.join(args)})"
    if len(one_line) <= LINE_WIDTH or len(args) < 2:
        return one_line
    return f"{function}(\n" + "".join(f"    {a},\n" for a in args) + ")"


def _literal(value, objects: bool = True) -> str:
    """Python source for a config value; with `objects`, Keras objects as calls
    (`keras.initializers.Constant(value=...)`), dtype policies as their name."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        items = [_literal(v, objects) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(_literal(v, objects) for v in value)}]"
    if isinstance(value, dict):
        if objects and _is_keras_object(value):
            return _object_call(value)
        items = (f"{_literal(k, objects)}: {_literal(v, objects)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise ExportError(f"a layer setting {value!r} cannot be written as Python; export as .keras instead")


def _pretty(value, indent: int = 0) -> str:
    """A serialised config as a literal, one item per line where one line would be long."""
    one_line = _literal(value, objects=False)
    if len(one_line) + indent <= LINE_WIDTH or not isinstance(value, (dict, list)) or not value:
        return one_line
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{_literal(k)}: {_pretty(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_pretty(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def _is_keras_object(value: dict) -> bool:
    return {"module", "class_name", "config"} <= set(value) and isinstance(value["class_name"], str)


def _object_call(value: dict) -> str:
    """A serialised Keras object as the constructor call that makes it, where there is one."""
    module, cls, config = value["module"], value["class_name"], value["config"]
    if module == "keras" and cls == "DTypePolicy" and isinstance(config, dict) and set(config) == {"name"}:
        return _literal(config["name"])
    public = module in OBJECT_MODULES and value.get("registered_name") in (None, cls)
    if public and isinstance(config, dict) and all(isinstance(k, str) and k.isidentifier() for k in config):
        try:
            found = getattr(importlib.import_module(module), cls, None)
        except ImportError:
            found = None
        if isinstance(found, type):
            return f"{module}.{cls}({', '.join(f'{k}={_literal(v)}' for k, v in config.items())})"
    return _literal(value, objects=False)  # Keras accepts the serialised form itself


def _json_ready(value):
    """A config as plain Python values (NumPy arrays and scalars as lists and numbers)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_json_ready(v) for v in value)
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same(a, b) -> bool:
    """Equal configs, a tuple and a list with the same items counting as equal."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _plain(entry: dict, keys: tuple) -> dict:
    return {k: entry[k] for k in keys if k in entry}


def _without_flags(config):
    """A nested model's config without `trainable` flags: the freezing is applied separately."""
    if isinstance(config, dict):
        return {k: _without_flags(v) for k, v in config.items() if k != "trainable"}
    if isinstance(config, list):
        return [_without_flags(v) for v in config]
    return config


def _layer_entries(entry: dict):
    """An entry of a functional config and every layer entry nested inside it."""
    yield entry
    config = entry.get("config")
    if entry.get("class_name") in MODELS and isinstance(config, dict):
        for inner in config.get("layers", []):
            yield from _layer_entries(inner)


def _is_ref(item) -> bool:
    return (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
            and isinstance(item[1], int) and isinstance(item[2], int))


def _leaves(structure, path: str = "") -> list[tuple[str, tuple]]:
    """(access path, tensor reference) of each tensor in an input or output structure, in the
    order keras.tree.flatten gives them (dict keys sorted)."""
    if _is_ref(structure):
        return [(path, tuple(structure))]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _leaves(structure[key], f"{path}[{key!r}]")]
    return [leaf for i, item in enumerate(structure) for leaf in _leaves(item, f"{path}[{i}]")]


def _structure(structure, tensors: dict) -> str:
    """An input or output structure of a functional config with the tensors' variable names."""
    if _is_ref(structure):
        return tensors[tuple(structure)]
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_structure(v, tensors)}" for k, v in structure.items()) + "}"
    return f"[{', '.join(_structure(item, tensors) for item in structure)}]"


def _tensor_refs(value) -> list[tuple]:
    """The tensors (layer, node, index) an inbound node's arguments refer to."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [tuple(value["config"]["keras_history"])]
        return [ref for v in value.values() for ref in _tensor_refs(v)]
    if isinstance(value, (list, tuple)):
        return [ref for v in value for ref in _tensor_refs(v)]
    return []


def _render_args(value, tensors: dict) -> str:
    """A call argument with tensors as their variable names."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tensors[tuple(value["config"]["keras_history"])]
    if isinstance(value, list):
        return f"[{', '.join(_render_args(v, tensors) for v in value)}]"
    if isinstance(value, dict) and not _is_keras_object(value):
        return "{" + ", ".join(f"{_literal(k)}: {_render_args(v, tensors)}" for k, v in value.items()) + "}"
    return _literal(value)


def _dtype_name(dtype) -> str:
    if isinstance(dtype, dict) and _is_keras_object(dtype):
        return dtype["config"].get("name", dtype)
    return dtype


def _unique(wanted: str, taken: set[str]) -> str:
    name, count = wanted, 1
    while name in taken or keyword.iskeyword(name):
        count += 1
        name = f"{wanted}_{count}"
    return name


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape[1:]) + ")"


def _docstring(text: str) -> str:
    """A function's docstring, wrapped to the script's line width."""
    lines = textwrap.wrap(_docstring_text(text), LINE_WIDTH - 4 - 6)
    if len(lines) == 1:
        return f'    """{lines[0]}"""'
    return '    """' + "\n    ".join(lines) + '"""'


def _docstring_text(text: str) -> str:
    """Text safe inside the script's triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
