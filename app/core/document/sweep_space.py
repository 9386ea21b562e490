"""What a sweep searches, `training.sweep` in the project file: the parameters to try (each a
range or a list of choices), the objective, pruning, and how many trials.

It is checked like the rest of the setup, so a malformed one names the place
(`training.sweep.parameters[1].low: expected a number > 0, got 0`). Parameters that name a
node or a phase are checked against the graph and the phases by `problems()` before a sweep
starts, as `training_setup.problems` checks the setup. Each parameter has a `name`
(`learning_rate`, `learning_rate[fine-tune]`, `dropout[drop]`, …): what a trial's value is
called in the study and in the trials table."""

from __future__ import annotations

import copy

from app.core.graph.graph import Graph
from app.core.graph.params import BOOL, FLOAT, INT, Param, ParamError, check_params, describe, place
from app.core.nodes import node_type
from app.core.nodes.base import PRETRAINED

LEARNING_RATE, BATCH_SIZE, TRAINABLE, DROPOUT, UNITS, OPTIMIZER = (
    "learning_rate", "batch_size", "trainable", "dropout", "units", "optimizer")
# Each kind and the keys an entry of it has, besides "kind" (in the order the file shows them).
KINDS = {
    LEARNING_RATE: ("low", "high", "phase"),
    BATCH_SIZE: ("choices",),
    TRAINABLE: ("phase", "node", "low", "high"),
    DROPOUT: ("node", "low", "high"),
    UNITS: ("node", "low", "high", "log"),
    OPTIMIZER: ("choices",),
}
NODE_TYPES = {DROPOUT: "Dropout", UNITS: "Dense"}  # the node type a kind's node must be …
NODE_PARAMS = {DROPOUT: "rate", UNITS: "units"}  # … and the parameter it searches
LAYERS = Param("layers", INT, 0, "Layers of a pretrained model that train.", minimum=0, maximum=100000)

SWEEP = (
    Param("pruning", BOOL, True, "Stop hopeless trials at an epoch's end (Optuna's median pruner)."),
    Param("trials", INT, 20, "Trials in the study, counting those already run.", minimum=1, maximum=100000),
    Param("timeout", FLOAT, None, "Seconds after which no new trial starts (empty: no limit).",
          minimum=1.0, maximum=1e9, optional=True),
)


class SweepError(ValueError):
    """A sweep space that cannot be used; `where` is its place in the project."""

    def __init__(self, where: str, message: str):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


def default_space(settings: tuple[Param, ...], phases=()) -> dict:
    """What `graft sweep` searches in a project without a sweep: the learning rate on a log
    range (each phase's that sets its own, and the run's where a phase uses it) and the batch
    size."""
    rates = [new_parameter(LEARNING_RATE, phase=p.name) for p in phases if p.learning_rate is not None]
    if not phases or any(p.learning_rate is None for p in phases):
        rates.insert(0, new_parameter(LEARNING_RATE))
    return sweep_from_dict({"parameters": [*rates, new_parameter(BATCH_SIZE)]}, settings)


def parameter_name(entry: dict) -> str:
    """What the entry's value is called in the study: its kind, with its phase and node."""
    where = "/".join(str(entry[key]) for key in ("phase", "node") if entry.get(key) is not None)
    return f"{entry['kind']}[{where}]" if where else entry["kind"]


def new_parameter(kind: str, node: str | None = None, phase: str | None = None) -> dict:
    """An entry of `kind` with a sensible range, for the editor's Add (a kind that names a
    node or a phase checks once they are named)."""
    entry = {LEARNING_RATE: {"low": 1e-4, "high": 1e-1, "phase": phase},
             BATCH_SIZE: {"choices": [16, 32, 64]},
             TRAINABLE: {"phase": phase or "", "node": node or "", "low": 0, "high": 20},
             DROPOUT: {"node": node or "", "low": 0.0, "high": 0.5},
             UNITS: {"node": node or "", "low": 16, "high": 256, "log": True},
             OPTIMIZER: {"choices": ["adam", "sgd"]}}[kind]
    return {"kind": kind, **entry}


def sweep_from_dict(document, settings: tuple[Param, ...], where: str = "training.sweep") -> dict:
    """Check a project file's `training.sweep` object; the checked space, every key filled.
    A value searched is checked by the schema of what it replaces: `settings` (the setup's
    SETTINGS) for the learning rate, batch size, optimizer and objective (a monitor), the
    node type's parameter for units and dropout. Raises SweepError naming the place."""
    if not isinstance(document, dict):
        raise SweepError(where, f"expected an object, got {describe(document)}")
    schema = {param.name: param for param in settings}
    values = {key: value for key, value in document.items() if key not in ("parameters", "objective")}
    try:
        checked = check_params(SWEEP, values)
    except ParamError as error:
        message = error.detail.replace("unknown parameter (this node takes: ",
                                       "unknown field (expected: objective, parameters, ")
        raise SweepError(place(where, error.param) if error.param else where, message) from None
    objective = document.get("objective")
    if objective is not None:
        objective = _checked(schema["monitor"], objective, f"{where}.objective")
    entries = document.get("parameters", [])
    if not isinstance(entries, list):
        raise SweepError(f"{where}.parameters", f"expected a list, got {describe(entries)}")
    parameters = [_entry(item, schema, f"{where}.parameters[{i}]") for i, item in enumerate(entries)]
    seen = set()
    for i, entry in enumerate(parameters):
        name = parameter_name(entry)
        if name in seen:
            raise SweepError(f"{where}.parameters[{i}]", f"searches {name} a second time; remove one")
        seen.add(name)
    return {"parameters": parameters, "objective": objective, **checked}


def _entry(item, schema: dict[str, Param], where: str) -> dict:
    if not isinstance(item, dict):
        raise SweepError(where, f"expected an object, got {describe(item)}")
    kind = item.get("kind")
    if kind not in KINDS:
        raise SweepError(f"{where}.kind", f"expected one of {', '.join(KINDS)}, got {describe(kind)}")
    keys = KINDS[kind]
    for key in item:
        if key != "kind" and key not in keys:
            raise SweepError(place(where, key),
                             f"unknown field for {kind} (expected: kind, {', '.join(keys)})")
    entry = {"kind": kind}
    if kind == LEARNING_RATE:  # on a log range: above 0
        for key in ("low", "high"):
            value = _checked(schema["learning_rate"], _present(item, key, where), f"{where}.{key}")
            if value <= 0:
                raise SweepError(f"{where}.{key}", f"expected a number > 0 (the range is logarithmic), "
                                 f"got {describe(item[key])}")
            entry[key] = value
        entry["phase"] = _name(item, "phase", where, optional=True)
    elif kind in (BATCH_SIZE, OPTIMIZER):
        entry["choices"] = _choices(item, schema[kind], where)
    elif kind == TRAINABLE:
        entry["phase"] = _name(item, "phase", where)
        entry["node"] = _name(item, "node", where)
        entry["low"] = _checked(LAYERS, _present(item, "low", where), f"{where}.low")
        entry["high"] = _checked(LAYERS, _present(item, "high", where), f"{where}.high")
    else:  # DROPOUT, UNITS: a node's parameter
        entry["node"] = _name(item, "node", where)
        param = next(p for p in node_type(NODE_TYPES[kind]).params if p.name == NODE_PARAMS[kind])
        entry["low"] = _checked(param, _present(item, "low", where), f"{where}.low")
        entry["high"] = _checked(param, _present(item, "high", where), f"{where}.high")
    if kind == UNITS:
        log = item.get("log", False)
        if not isinstance(log, bool):
            raise SweepError(f"{where}.log", f"expected true or false, got {describe(log)}")
        entry["log"] = log
    if "low" in entry and entry["high"] < entry["low"]:
        raise SweepError(f"{where}.high",
                         f"expected a value >= low ({entry['low']:g}), got {entry['high']:g}")
    return entry


def _present(item: dict, key: str, where: str):
    if key not in item:
        raise SweepError(where, f"{item['kind']} needs {key!r}")
    return item[key]


def _checked(param: Param, value, where: str):
    try:
        return param.check(value)
    except ParamError as error:
        raise SweepError(where, error.detail) from None


def _name(item, key, where, optional: bool = False) -> str | None:
    value = item.get(key) if optional else _present(item, key, where)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SweepError(f"{where}.{key}", f"expected a {key} name, got {describe(value)}")
    return value


def _choices(item, param: Param, where: str) -> list:
    value = _present(item, "choices", where)
    at = f"{where}.choices"
    if not isinstance(value, list) or not value:
        raise SweepError(at, f"expected a list of values to try, got {describe(value)}")
    choices = [_checked(param, choice, f"{at}[{i}]") for i, choice in enumerate(value)]
    if len(set(choices)) != len(choices):
        raise SweepError(at, f"lists a choice twice: {describe(value)}")
    return choices


def rename_in_sweep(sweep: dict | None, old: str, new: str) -> dict | None:
    """The space with node `old` called `new`; None when it never names `old`."""
    if not sweep or not any(entry.get("node") == old for entry in sweep["parameters"]):
        return None
    renamed = copy.deepcopy(sweep)
    for entry in renamed["parameters"]:
        if entry.get("node") == old:
            entry["node"] = new
    return renamed


def problems(sweep: dict, graph: Graph, phases: list) -> list[str]:
    """What in the space does not fit `graph` and the setup's `phases` (training_setup.Phase),
    as messages."""
    messages = []
    nodes = {node.name: node for node in graph.nodes}
    names = [phase.name for phase in phases]
    for i, entry in enumerate(sweep["parameters"]):
        label = f"sweep parameter {i + 1} ({parameter_name(entry)})"
        phase = entry.get("phase")
        if phase is not None and phase not in names:
            known = ", ".join(repr(name) for name in names) or "none: the setup has no phases"
            messages.append(f"{label}: there is no phase {phase!r} (phases: {known})")
        if entry["kind"] == LEARNING_RATE and phase is None and phases and all(
                p.learning_rate is not None for p in phases):
            messages.append(f"{label}: every phase sets its own learning rate, so the run's is never "
                            "used; name the phase to search")
        name = entry.get("node")
        if name is None:
            continue
        node = nodes.get(name)
        if node is None:
            messages.append(f"{label}: {name!r} is not a node of the graph")
        elif entry["kind"] in NODE_TYPES and node.type != NODE_TYPES[entry["kind"]]:
            messages.append(f"{label}: {name!r} is a {node.type}, not a {NODE_TYPES[entry['kind']]} node")
        elif entry["kind"] == TRAINABLE and node_type(node.type).category != PRETRAINED:
            messages.append(f"{label}: {name!r} is not a pretrained model, whose last layers could train")
    return messages
