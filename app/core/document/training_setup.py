"""What a training run does, as plain checked data kept in the project file.

The settings are `Param` schemas, like node parameters, so a malformed project names the
place (`training.phases[1].epochs: expected an integer >= 1, got 0`) and the editor builds
its forms from the same schemas. Names in the data mapping and the phases refer to graph
nodes; `problems()` checks them against a graph before a run starts."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from app.core.document.sweep_space import SweepError, rename_in_sweep, sweep_from_dict
from app.core.graph.graph import Graph
from app.core.graph.params import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    JSON,
    PATH,
    STR,
    Param,
    ParamError,
    check_params,
    describe,
    finite,
    place,
)
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, MAX_SCALE, OUTPUT
from app.core.nodes.io import fed_inputs

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
MAX_LEARNING_RATE = 10.0  # past this every optimizer here overflows in a step or two
SCHEDULES = ("constant", "cosine", "exponential")
SOURCES = ("bundled", "npz", "csv", "images")
BUNDLED = ("digits", "wine")
MONITORS = ("val_loss", "loss")
DATA_FILES = ("Data files", ".npz", ".csv")  # what a file dialog offers for the data paths

SETTINGS = (
    Param("optimizer", CHOICE, "adam", "Optimizer.", choices=OPTIMIZERS),
    Param("learning_rate", FLOAT, 1e-3, "Learning rate (a phase may set its own).", minimum=0.0,
          maximum=MAX_LEARNING_RATE),
    Param("schedule", CHOICE, "constant",
          "How the learning rate changes within a phase: constant, cosine decay to 0, or "
          "exponential decay (x0.9 per epoch).", choices=SCHEDULES),
    Param("batch_size", INT, 32, "Samples per step.", minimum=1, maximum=65536),
    Param("steps_per_execution", INT, 0,
          "Steps per call into TensorFlow (0: Graft picks it per phase, from what a step costs). "
          "More makes a small model train faster; the progress, pause and stop then act every "
          "that many steps.", minimum=0, maximum=1000),
    Param("epochs", INT, 10, "Epochs of a run without phases (phases set their own).",
          minimum=1, maximum=100000),
    Param("seed", INT, 0, "Seed for shuffling, the validation split and initial weights.",
          minimum=0, maximum=2**31 - 1),
    Param("deterministic", BOOL, False,
          "Make TensorFlow's ops deterministic, so a run repeated with the same seed gives the same "
          "weights (slower, and some GPU ops refuse)."),
    Param("early_stopping", INT, 0,
          "Stop a phase when the monitored loss has not improved for this many epochs "
          "(0: off); the best weights are kept.", minimum=0, maximum=10000),
    Param("monitor", CHOICE, "val_loss", "The loss that decides the best weights and early stopping.",
          choices=MONITORS),
    Param("mixed_precision", BOOL, False, "Compute in float16 with float32 weights (for GPUs)."),
    Param("xla", BOOL, False, "Compile the training step with XLA (for GPUs)."),
    Param("cache_frozen_prefix", BOOL, True,
          "Compute a phase's frozen, deterministic first nodes once per data set and train the rest "
          "on their outputs (the same losses, much faster); off where it would change results."),
    Param("tensorboard", BOOL, False, "Also write TensorBoard logs into the run's folder."),
    Param("tracking_uri", STR, "",
          "Log each run to MLflow at this tracking URI (a folder, sqlite:///…, or a server "
          "http://…); empty: off. Needs `pip install graft-studio[mlflow]`."),
)

DATA = (
    Param("source", CHOICE, "bundled",
          "Where samples come from: a data set bundled with Graft, a NumPy .npz file, a CSV "
          "file, or a folder of images with one sub-folder per class.", choices=SOURCES),
    Param("path", PATH, "digits",
          "The file or folder, relative to the project (for bundled data: digits or wine).",
          files=DATA_FILES),
    Param("mapping", JSON, {},
          "Which array or column feeds each Input and Output, by node name: "
          '{"pixels": "images", "digit": "labels"}; a list of CSV columns makes one vector.'),
    Param("validation_split", FLOAT, 0.2,
          "Fraction of the samples held out for validation (0: none).", minimum=0.0, maximum=0.9),
    Param("validation_path", PATH, None,
          "A separate validation source of the same kind (instead of a split); for bundled data: "
          "digits_holdout or wine_holdout, which no bundled model was trained on.", optional=True,
          files=DATA_FILES),
    Param("shuffle", BOOL, True, "Shuffle the training samples every epoch."),
)

PHASE = (
    Param("name", STR, "train", "The phase's name (graft train --phase NAME runs it alone)."),
    Param("epochs", INT, 10, "Epochs in this phase.", minimum=1, maximum=100000),
    Param("learning_rate", FLOAT, None, "Learning rate (empty: the run's).", minimum=0.0,
          maximum=MAX_LEARNING_RATE, optional=True),
    Param("trainable", JSON, {},
          'Freezing by node name: "frozen", "all", or N (the last N layers of a pretrained '
          "model); nodes not named keep their own setting."),
    Param("losses", JSON, None,
          "Loss weight by Output name; Outputs not named carry no loss in this phase "
          "(empty: every Output with a loss, at its own weight).", optional=True),
    Param("lr_multipliers", JSON, {},
          "Learning-rate multiplier by node name; each group gets its own optimizer state."),
)


class ConfigError(ValueError):
    """A training configuration that cannot be used; `where` is its place in the project."""

    def __init__(self, where: str, message: str):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class Phase:
    name: str = "train"
    epochs: int = 10
    learning_rate: float | None = None
    trainable: dict = field(default_factory=dict)
    losses: dict | None = None
    lr_multipliers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.__dict__)


@dataclass
class TrainingConfig:
    settings: dict = field(default_factory=lambda: check_params(SETTINGS, {}))
    # a new project's data: the bundled digits, validated on the part no bundled model has seen
    data: dict = field(default_factory=lambda: check_params(DATA, {"validation_path": held_out(BUNDLED[0])}))
    phases: list[Phase] = field(default_factory=list)
    weights: str | None = None  # the trained weights, relative to the project file
    sweep: dict | None = None  # what a sweep searches (sweep_space.py); None: no sweep set up

    def __getattr__(self, name):  # config.batch_size reads a setting
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    def run_phases(self, only: str | None = None, epochs: int | None = None) -> list[Phase]:
        """The phases a run goes through: the configured ones (or one plain phase), optionally
        just the one named `only`, with `epochs` overriding each phase's count."""
        phases = self.phases or [Phase("train", self.settings["epochs"])]
        if only is not None:
            chosen = [p for p in phases if p.name == only]
            if not chosen:
                names = ", ".join(repr(p.name) for p in phases)
                raise ConfigError("", f"no phase named {only!r} (phases: {names})")
            phases = chosen
        phases = [copy.deepcopy(p) for p in phases]
        if epochs is not None:
            for phase in phases:
                phase.epochs = epochs
        return phases

    def to_dict(self) -> dict:
        document = {"settings": copy.deepcopy(self.settings), "data": copy.deepcopy(self.data),
                    "phases": [p.to_dict() for p in self.phases], "weights": self.weights}
        if self.sweep is not None:  # only when set: a project without one is written as before
            document["sweep"] = copy.deepcopy(self.sweep)
        return document

    def replaced(self, **parts) -> TrainingConfig:
        """A new, checked setup: this one with whole parts (settings, data, phases, weights,
        sweep) replaced; raises ConfigError for a part that does not check."""
        document = self.to_dict()
        for key, value in parts.items():
            document[key] = ([p.to_dict() if isinstance(p, Phase) else p for p in value]
                             if key == "phases" else copy.deepcopy(value))
        _follow_data_source(self.data, document["data"])
        return config_from_dict(document)


def held_out(bundled: str) -> str:
    """The name of a bundled set's held-out part, which no bundled model was trained on."""
    return f"{bundled}_holdout"


def _follow_data_source(before: dict, data: dict) -> None:
    """Paths that follow a new source: a bundled set's name is no file, nor a file a bundled
    set, so a new source kind clears the path for the user to choose; a bundled set chosen
    validates on its held-out part, so a bundled model's accuracy is honest."""
    if data["source"] != before["source"] and data["path"] == before["path"]:
        data |= {"path": BUNDLED[0] if data["source"] == "bundled" else "", "validation_path": None}
    chosen = (data["source"], data["path"]) != (before["source"], before["path"])
    if (chosen and data["source"] == "bundled" and data["path"] in BUNDLED
            and data["validation_path"] == before["validation_path"]):
        data["validation_path"] = held_out(data["path"])


def rename_node(config: TrainingConfig, old: str, new: str) -> TrainingConfig | None:
    """The setup with node `old` called `new` wherever it names it (the data mapping, and each
    phase's freezing, losses and learning-rate multipliers, the sweep's parameters), in the same
    order; None when it never names `old`. Renaming a node in the editor renames it here too,
    or the setup would point at a node that no longer exists."""
    document = config.to_dict()
    changed = False

    def renamed(names: dict | None) -> dict | None:
        nonlocal changed
        if not names or old not in names:
            return names
        changed = True
        return {(new if name == old else name): value for name, value in names.items()}

    document["data"]["mapping"] = renamed(document["data"]["mapping"])
    for phase in document["phases"]:
        for key in ("trainable", "losses", "lr_multipliers"):
            phase[key] = renamed(phase[key])
    sweep = rename_in_sweep(config.sweep, old, new)
    if sweep is not None:
        document["sweep"], changed = sweep, True
    return config_from_dict(document) if changed else None


def config_from_dict(document, where: str = "training") -> TrainingConfig:
    """Check a project file's `training` object; raise ConfigError naming the place."""
    if document is None:
        return TrainingConfig()
    if not isinstance(document, dict):
        raise ConfigError(where, f"expected an object, got {describe(document)}")
    for key in document:
        if key not in ("settings", "data", "phases", "weights", "sweep"):
            raise ConfigError(place(where, key), "unknown field (expected: data, phases, settings, sweep, "
                              "weights)")
    settings = _checked(SETTINGS, document.get("settings", {}), f"{where}.settings")
    data = _checked(DATA, document.get("data", {}), f"{where}.data")
    _check_mapping(data["mapping"], f"{where}.data.mapping")
    phases_doc = document.get("phases", [])
    if not isinstance(phases_doc, list):
        raise ConfigError(f"{where}.phases", f"expected a list, got {describe(phases_doc)}")
    phases = [phase_from_dict(item, f"{where}.phases[{i}]") for i, item in enumerate(phases_doc)]
    seen = set()
    for i, phase in enumerate(phases):
        if phase.name in seen:
            raise ConfigError(f"{where}.phases[{i}].name", f"a second phase named {describe(phase.name)}; "
                              "phase names must be unique")
        seen.add(phase.name)
    weights = document.get("weights")
    if weights is not None and not (isinstance(weights, str) and weights):
        raise ConfigError(f"{where}.weights", f"expected a file path or null, got {describe(weights)}")
    sweep = document.get("sweep")
    if sweep is not None:
        try:
            sweep = sweep_from_dict(sweep, SETTINGS, f"{where}.sweep")
        except SweepError as error:
            raise ConfigError(error.where, error.message) from None
    return TrainingConfig(settings, data, phases, weights, sweep)


def phase_from_dict(item, where: str) -> Phase:
    values = _checked(PHASE, item, where)
    if not values["name"].strip():
        raise ConfigError(f"{where}.name", "expected a non-empty name")
    for node, spec in values["trainable"].items():
        if not (spec in ("frozen", "all") or (isinstance(spec, int) and not isinstance(spec, bool)
                                              and spec >= 0)):
            raise ConfigError(place(f"{where}.trainable", node),
                              f'expected "frozen", "all" or a number of layers >= 0, got {describe(spec)}')
    for key in ("losses", "lr_multipliers"):
        for node, number in (values[key] or {}).items():
            if (isinstance(number, bool) or not isinstance(number, (int, float)) or not finite(number)
                    or number < 0 or (key == "lr_multipliers" and number == 0) or number > MAX_SCALE):
                limit = "> 0" if key == "lr_multipliers" else ">= 0"
                raise ConfigError(place(f"{where}.{key}", node),
                                  f"expected a number {limit} and <= {MAX_SCALE:g}, got {describe(number)}")
    return Phase(**values)


def _checked(schema, values, where: str) -> dict:
    try:
        return check_params(schema, values)
    except ParamError as error:
        at = place(where, error.param) if error.param else where
        raise ConfigError(at, error.detail.replace("this node takes", "expected")) from None


def _check_mapping(mapping: dict, where: str) -> None:
    for name, fields in mapping.items():
        if isinstance(fields, str) and fields:
            continue
        if isinstance(fields, list) and fields and all(isinstance(f, str) and f for f in fields):
            continue
        raise ConfigError(place(where, name), "expected a field name or a list of CSV column names, "
                          f"got {describe(fields)}")


def problems(config: TrainingConfig, graph: Graph, phases: list[Phase] | None = None) -> list[str]:
    """What in `config` does not fit `graph` (names of missing or wrong nodes), as messages."""
    messages = []
    kinds = {n.name: node_type(n.type).category for n in graph.nodes}
    inputs = [name for name, kind in kinds.items() if kind == INPUT]
    outputs = [name for name, kind in kinds.items() if kind == OUTPUT]
    for name in config.data["mapping"]:
        if kinds.get(name) not in (INPUT, OUTPUT):
            messages.append(f"data mapping: {name!r} is not an Input or Output of the graph (Inputs: "
                            f"{', '.join(inputs) or 'none'}; Outputs: {', '.join(outputs) or 'none'})")
    fed = fed_inputs(graph)
    for node in graph.nodes:
        if node.id in fed and node.name not in config.data["mapping"]:
            messages.append(f"data mapping: Input {node.name!r} has no data; map it to an array or columns")
    for phase in phases if phases is not None else config.run_phases():
        label = f"phase {phase.name!r}"
        for key in ("trainable", "lr_multipliers"):
            for name in phase.__dict__[key]:
                if name not in kinds:
                    messages.append(f"{label}: {key} names {name!r}, which is not a node of the graph")
                elif kinds[name] in (INPUT, OUTPUT):
                    messages.append(f"{label}: {key} names {name!r}, an {kinds[name]} that has no weights")
        for name in phase.losses or {}:
            if kinds.get(name) != OUTPUT:
                messages.append(f"{label}: losses names {name!r}, which is not an Output "
                                f"(Outputs: {', '.join(outputs) or 'none'})")
    return messages
