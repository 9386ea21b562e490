"""Pretrained-model nodes: a Keras Applications architecture or a model file, nested in the
composed model as one sub-model named after the node.

Freezing is per node: fully trainable, frozen, or only the last N layers trainable.
`taps` expose inner layers as extra output ports (`tap:<layer name>`) for
intermediate-layer fusion."""

from __future__ import annotations

from pathlib import PurePath

from app.core.cards.applications import APPLICATIONS, build_application
from app.core.cards.card import ModelCard, card_for, has_card, refresh_costs
from app.core.cards.loading import (
    MODEL_FILE_SUFFIXES,
    ModelLoadError,
    file_key,
    load_model_file,
    signature_output_names,
)
from app.core.graph.graph import MAX_NAME
from app.core.graph.params import BOOL, CHOICE, INT, PATH, SHAPE, STR, STRS, Param, ParamError, describe
from app.core.graph.specs import format_shape, shapes_compatible
from app.core.nodes.base import MAX_IMAGE_SIDE, PRETRAINED, Context, Inferred, NodeType, Port, ShapeError

TAP_PREFIX = "tap:"

# A node's freezing as the file stores it, and as the editor names it: the inspector, a phase's
# freezing and the canvas's badges all use these words.
FREEZING_CHOICES = ("trainable", "frozen", "last_n")
FREEZING_LABELS = ("trainable", "frozen", "last N layers")
FREEZING = (
    Param("trainable", CHOICE, "frozen",
          "trainable: every layer learns; frozen: none do; last N layers (last_n): only the last N learn.",
          choices=FREEZING_CHOICES, labels=FREEZING_LABELS),
    Param("trainable_last_n", INT, 0, "With last_n: how many of the last layers learn.",
          minimum=0, maximum=100_000),
    Param("taps", STRS, [], "Inner layers exposed as extra outputs (tap:<layer>)."),
    Param("share_weights_with", STR, "",
          "Name of another node of the same model whose weights this one uses too (a siamese "
          "pair); its freezing and taps then come from that node. Empty: its own weights."),
)


def indexed(prefix: str, count: int) -> list[str]:
    return [prefix] if count == 1 else [f"{prefix}{i}" for i in range(count)]


def output_ports(count: int, names: tuple[str, ...] = ()) -> list[str]:
    """A model's own output ports: `out`, or `out0`, `out1`, …; but a SavedModel's several
    outputs as its serving signature names them (`names`, where each can be a port)."""
    if count > 1 and len(names) == count and len(set(names)) == count and all(
            name.isidentifier() for name in names):
        return list(names)
    return indexed("out", count)


class Pretrained(NodeType):
    category = PRETRAINED
    needs_keras = True

    def card_key(self, node, ctx: Context) -> dict:
        """What identifies the model's card in the cache."""
        raise NotImplementedError

    def load_for_card(self, node, ctx: Context):
        """The model to read the card from (weights do not matter)."""
        raise NotImplementedError

    def card(self, node, ctx: Context) -> ModelCard:
        return card_for(self.card_key(node, ctx), lambda: self.load_for_card(node, ctx))

    def has_card(self, node, ctx: Context) -> bool:
        """Whether the card is known without loading the model (the editor loads it off the
        UI thread first)."""
        return has_card(self.card_key(node, ctx))

    def load(self, node, ctx: Context):
        """The Keras model with its weights, named after the node."""
        raise NotImplementedError

    def try_card(self, node, ctx) -> ModelCard | None:
        try:
            return self.card(node, ctx)
        except ModelLoadError:
            return None

    def input_ports(self, node, connected, ctx):
        card = self.try_card(node, ctx)
        return [Port(p) for p in indexed("in", len(card.inputs) if card else 1)]

    def output_ports(self, node, ctx):
        card = self.try_card(node, ctx)
        outputs = output_ports(len(card.outputs), card.output_names) if card else ["out"]
        return outputs + [TAP_PREFIX + layer for layer in node.params["taps"]]

    def infer(self, node, inputs, ctx):
        try:
            card = self.card(node, ctx)
        except ModelLoadError as error:
            raise ShapeError(str(error), code="invalid_node") from None
        for port, expected in zip(indexed("in", len(card.inputs)), card.inputs):
            got = inputs[port]
            if not shapes_compatible(got.shape, expected.shape):
                raise ShapeError(
                    f"model {node.name!r} expects {format_shape(expected.shape)} but receives "
                    f"{format_shape(got.shape)}", port=port, expected=expected)
            if expected.is_float and not (got.is_float or got.is_integer):
                raise ShapeError(f"model {node.name!r} expects numbers, receives {got.dtype}",
                                 port=port, expected=expected, code="dtype_mismatch")
        outputs = dict(zip(output_ports(len(card.outputs), card.output_names), card.outputs))
        for layer_name in node.params["taps"]:
            info = card.layer(layer_name)
            if info is None or info.output is None:
                reason = "has no layer" if info is None else "has several outputs in layer"
                raise ShapeError(f"model {node.name!r} {reason} {layer_name!r} to tap; pick one "
                                 "from its layer list", code="invalid_node")
            outputs[TAP_PREFIX + layer_name] = info.output
        if node.params["share_weights_with"]:
            return Inferred(outputs, 0, 0)  # the weights are counted once, at their owner
        return Inferred(outputs, card.params, trainable_count(card, node.params))

    def build(self, node, inputs, ctx):
        return self.apply(self.make_model(node, ctx), inputs, node.params["taps"])

    def make_model(self, node, ctx):
        """The node's Keras model, named after it, with its taps as extra outputs and its
        freezing applied; nodes sharing its weights apply this same model."""
        import keras

        try:
            model = self.load(node, ctx)
        except ModelLoadError as error:
            raise ShapeError(str(error), code="invalid_node") from None
        refresh_costs(self.card_key(node, ctx), model)  # a card from an older project file
        model = in_current_policy(model)
        model.name = node.name  # two copies of one model must not share a name
        taps = node.params["taps"]
        if taps:
            model = keras.Model(model.inputs,
                                [*model.outputs, *(model.get_layer(t).output for t in taps)],
                                name=node.name)
        apply_freezing(model, node.params)
        return model

    def apply(self, model, inputs: dict, taps: list[str]) -> dict:
        """Call a model from make_model on a node's inputs; its outputs by port. `taps` are
        those the model was made with (a sharing node's own taps are among them). A SavedModel's
        named outputs are also given by number: the card a project saved before Graft named them
        numbers them, and stays valid as long as the folder is unchanged."""
        args = [inputs[p] for p in indexed("in", len(model.inputs))]
        result = model(args[0] if len(args) == 1 else args)
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        own = len(results) - len(taps)
        ports = dict(zip(indexed("out", own), results))
        ports |= dict(zip(output_ports(own, signature_output_names(model)[:own]), results))
        return ports | {TAP_PREFIX + tap: tensor for tap, tensor in zip(taps, results[own:])}


def in_current_policy(model):
    """`model` computing in Keras's current dtype policy, its weights kept. A model file keeps
    the policy it was saved with (float32, usually), so under mixed precision its layers are
    rebuilt with the run's policy (float16 compute, float32 variables) and given its weights. A
    model with layers already in that policy (a Keras Application built under it, a file saved
    with mixed precision, whose per-layer choices stay) is left as it is, and so is a
    SavedModel, whose graph has fixed dtypes."""
    import keras

    policy = keras.config.dtype_policy()
    if policy.name == "float32":
        return model
    layers = [layer for layer in _leaf_layers(model) if not isinstance(layer, keras.layers.InputLayer)]
    if any(layer.dtype_policy.name == policy.name or isinstance(layer, keras.layers.TFSMLayer)
           for layer in layers):
        return model

    def recast(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):  # an input's dtype is its data's
            config["dtype"] = policy
        return type(layer).from_config(config)

    clone = keras.models.clone_model(model, clone_function=recast, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


def _leaf_layers(model):
    """Every layer of `model` that is not itself a model, nested models' included."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def trainable_count(card: ModelCard, params: dict) -> int:
    """Parameters that train under the node's freezing."""
    flags = trainable_flags(len(card.layers), params)
    return sum(layer.learnable_params for layer, learns in zip(card.layers, flags) if learns)


def trainable_flags(layer_count: int, params: dict) -> list[bool]:
    """Which of a model's layers learn under a node's freezing params: the one rule behind
    compiling, the trainable counts and the model view."""
    mode = params["trainable"]
    if mode == "last_n":
        return [i >= layer_count - params["trainable_last_n"] for i in range(layer_count)]
    return [mode == "trainable"] * layer_count


def freezing_params(spec) -> dict:
    """A phase's freezing of a node ("frozen", "all", or N: the last N layers) as the node's own
    freezing parameters, which it overrides for that phase."""
    if spec == "frozen":
        return {"trainable": "frozen"}
    if spec == "all":
        return {"trainable": "trainable"}
    return {"trainable": "last_n", "trainable_last_n": int(spec)}


def phase_freezes(spec) -> bool:
    """Whether a phase's freezing stops a node that is not a pretrained model from learning: it
    has no layers to count, so N last layers are all or nothing."""
    return spec == "frozen" or spec == 0


def phase_spec(mode: str, last_n: int = 0):
    """The other way: a freezing mode (one of FREEZING_CHOICES) as a phase writes it."""
    return {"trainable": "all", "frozen": "frozen"}.get(mode, last_n)


def freezing_word(params: dict) -> str:
    """A freezing in one or two words, as a node's card shows it: trainable, frozen or last N."""
    mode = params["trainable"]
    if mode != "last_n":
        return mode
    last_n = params["trainable_last_n"]
    return f"last {last_n}" if last_n else "frozen"


def apply_freezing(model, params: dict) -> None:
    model.trainable = params["trainable"] != "frozen"
    for layer, trainable in zip(model.layers, trainable_flags(len(model.layers), params)):
        layer.trainable = trainable


class KerasApplication(Pretrained):
    name, title = "Application", "Keras Applications model"
    help = ("An architecture from keras.applications with weights none (random), imagenet "
            "(downloaded once through Keras's cache) or a local weights file.")
    params = (
        Param("architecture", CHOICE, "MobileNetV2", "The keras.applications model.",
              choices=tuple(APPLICATIONS)),
        Param("include_top", BOOL, False, "Keep the ImageNet classifier on top."),
        Param("input_shape", SHAPE, [224, 224, 3], "Image size (height, width, 3).", minimum=3,
              maximum=3, item_minimum=1, item_maximum=MAX_IMAGE_SIDE),
        Param("pooling", CHOICE, "none", "Pool the final feature map (without the top).",
              choices=("none", "avg", "max")),
        # Its card is built to show the node, top included: 65,536 classes are 335 MB of weights.
        Param("classes", INT, 1000, "Classes of the top classifier.", minimum=1, maximum=2**16),
        Param("weights", CHOICE, "none", "none: random init; imagenet; file: weights_file.",
              choices=("none", "imagenet", "file")),
        Param("weights_file", PATH, "", "Weights file (.weights.h5) when weights is file.",
              files=("Keras weights", ".weights.h5", ".h5")),
        *FREEZING,
    )

    def default_name(self):
        return "backbone"

    def subtitle(self, node):
        p = node.params
        weights = {"none": "random weights", "imagenet": "imagenet"}.get(p["weights"]) or \
            PurePath(p["weights_file"]).name
        return f"{p['architecture']} · {weights}"

    def check_params(self, values):
        checked = super().check_params(values)
        shape = checked["input_shape"]
        app = APPLICATIONS[checked["architecture"]]
        if len(shape) != 3 or shape[2] != 3:
            raise ParamError(f"expected (height, width, 3) colour images, got {describe(shape)}",
                             "input_shape")
        if any(d is not None and d < app.min_size for d in shape[:2]):
            raise ParamError(f"{app.name} needs images of at least "
                             f"{app.min_size}×{app.min_size}, got {describe(shape)}", "input_shape")
        if checked["weights"] == "imagenet" and checked["include_top"]:
            size = app.default_size
            if checked["classes"] != 1000:
                raise ParamError("the imagenet top classifier has 1000 classes; set classes "
                                 "to 1000, or include_top to false for your own head", "classes")
            if shape[:2] != [size, size]:
                raise ParamError(f"{app.name} with its imagenet top needs {size}×{size} images, "
                                 f"got {describe(shape)}; resize first or set include_top to "
                                 "false", "input_shape")
        if checked["weights"] == "file" and not checked["weights_file"]:
            raise ParamError("choose a weights file, or set weights to none", "weights_file")
        return checked

    def _settings(self, params):
        return dict(include_top=params["include_top"], input_shape=params["input_shape"],
                    pooling=params["pooling"], classes=params["classes"])

    def card_key(self, node, ctx):
        p = node.params
        return {"source": f"keras.applications.{p['architecture']}", **self._settings(p)}

    def load_for_card(self, node, ctx):
        p = node.params
        return build_application(p["architecture"], weights=None, **self._settings(p))

    def load(self, node, ctx):
        p = node.params
        weights = {"none": None, "imagenet": "imagenet"}.get(p["weights"])
        if p["weights"] == "file":
            weights = str(ctx.resolve(p["weights_file"]))
        return build_application(p["architecture"], weights=weights, name=node.name,
                                 **self._settings(p))


class ModelFile(Pretrained):
    name, title = "ModelFile", "Model file"
    help = ("A Keras model from a .keras or legacy .h5 (.hdf5) file, loaded in safe mode (no code from "
            "the file runs), or a SavedModel folder, which is inference-only and always frozen "
            "(its TensorFlow graph runs, never Python).")
    params = (
        Param("path", PATH, "", "The .keras or .h5 (.hdf5) file, or SavedModel folder, relative to the "
              "project file.", files=("Keras models", *MODEL_FILE_SUFFIXES)),
        *FREEZING,
    )

    def default_name(self):
        return "model"

    def name_for(self, params):
        """Named after its file: digits_cnn.keras makes a node `digits_cnn` (a long file name,
        half the longest node name)."""
        return PurePath(params["path"]).stem[:MAX_NAME // 2] or self.default_name()

    def subtitle(self, node):
        return PurePath(node.params["path"]).name

    def check_params(self, values):
        checked = super().check_params(values)
        if not checked["path"]:
            raise ParamError("choose a model file", "path")
        return checked

    def infer(self, node, inputs, ctx):
        # Checked here, not in check_params: only the disk knows whether path is a folder.
        if node.params["trainable"] != "frozen" and ctx.resolve(node.params["path"]).is_dir():
            raise ShapeError("a SavedModel is inference-only; set trainable to frozen",
                             code="invalid_node")
        return super().infer(node, inputs, ctx)

    def card_key(self, node, ctx):
        return file_key(ctx.resolve(node.params["path"]))

    def load_for_card(self, node, ctx):
        return load_model_file(ctx.resolve(node.params["path"]))

    def load(self, node, ctx):
        return load_model_file(ctx.resolve(node.params["path"]))


PRETRAINED_TYPES = (KerasApplication, ModelFile)
