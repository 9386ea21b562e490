"""Experiment for the reliability report: absurd parameter values against every node type.

Why this exists: issue 16 found parameters without upper bounds that passed the loader and
failed later (a Resizing of 1e9 pixels ran out of memory in `fit`; 1e12 gave a negative
dimension; an epsilon of 0 a NaN loss): of 981 absurd values, 194 were accepted. Here every
numeric parameter of every node type in the catalog (and a number in a Keras layer's config)
gets absurd values, in a small graph that feeds the node what it needs. Each value must be

- refused when the project is read, naming the node and the parameter, or
- refused when the graph is validated, naming the node, or
- one of the few that are harmless (`HARMLESS`: a dropout rate of 0 is a real choice), which
  must then validate cleanly.

Anything else is a failure. `tests/reliability/test_parameter_bounds.py` asserts on the same
sweep. Run from the repository root:

    .venv/bin/python benchmarks/reliability_bounds.py           # the sweep, then compile each maximum
    .venv/bin/python benchmarks/reliability_bounds.py --quick   # the sweep only
"""

from __future__ import annotations

import copy
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.analysis import memory  # noqa: E402
from app.core.analysis.validate import analyze  # noqa: E402
from app.core.document.fileformat import ProjectError, from_dict  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.graph.params import FLOAT, INT, INTS, SHAPE, Param  # noqa: E402
from app.core.nodes import REGISTRY, Context  # noqa: E402
from benchmarks.reliability import run_alone  # noqa: E402

MODELS = ROOT / "resources" / "models"
NUMERIC = (INT, FLOAT, SHAPE, INTS)
CONFIG_UNITS = "config.units"  # a number inside a Keras layer's config: a KerasLayer's Dense

# Absurd scalars: each kind of number a file or a field can hold that no layer should get.
SCALARS = (0, -1, 10**9, 1e9, 10**12, 1e30, 1e308, -1e308, math.nan, math.inf, -math.inf,
           1e-320, True, "7", [])
HUGE_LIST = [1] * 100_000

# What each node type is fed: input port → (shape, dtype). Every type in the catalog is here,
# so a new one is swept (the test fails on a type missing from this table).
FEEDS: dict[str, dict[str, tuple[list, str]]] = {
    "Input": {},
    "Output": {"in": ([8], "float32")},
    "Application": {"in": ([224, 224, 3], "float32")},
    "ModelFile": {"in": ([64], "float32")},
    **{name: {"in": ([8], "float32")} for name in (
        "Dense", "Reshape", "Flatten", "Rescaling", "Cast", "Dropout", "BatchNormalization",
        "LayerNormalization", "Activation", "KerasLayer")},
    **{name: {"in": ([6, 8], "float32")} for name in (
        "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Permute")},
    **{name: {"in": ([8, 8, 3], "float32")} for name in (
        "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Resizing", "ChannelProjection",
        "Preprocess")},
    "Embedding": {"in": ([5], "int32")},
    **{name: {"in0": ([4], "float32"), "in1": ([4], "float32")} for name in (
        "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot")},
    "AttentionFusion": {"query": ([3, 4], "float32"), "value": ([3, 4], "float32")},
}
PARAMS = {"ModelFile": {"path": "digits_mlp.keras"}}  # what a type needs beyond its defaults

# Absurd values that are real choices, by (node type, parameter): repr of each value.
HARMLESS: dict[tuple[str, str], set[str]] = {
    ("Output", "loss_weight"): {"0", "1e-320"},  # an Output that is watched, not trained on
    ("Application", "trainable_last_n"): {"0"},
    ("ModelFile", "trainable_last_n"): {"0"},
    ("Reshape", "target_shape"): {"[-1]"},  # flatten: -1 is inferred
    ("Rescaling", "scale"): {"0", "-1", "1e-320"},
    ("Rescaling", "offset"): {"0", "-1", "1e-320"},
    ("Dropout", "rate"): {"0", "1e-320"},
    ("AttentionFusion", "dropout"): {"0", "1e-320"},
    ("BatchNormalization", "momentum"): {"0", "1e-320"},  # no moving average: the last batch's
    ("Concatenate", "axis"): {"-1"},
    ("Dot", "axes"): {"-1"},
    ("KerasLayer", CONFIG_UNITS): {"True"},  # Keras takes true as 1 unit
}

LOAD, VALIDATION, HARMLESS_OK, ACCEPTED, OVER_STRICT, CRASHED = (
    "refused at load", "refused at validation", "harmless, accepted", "accepted",
    "harmless, refused", "crashed")
FAILING = (ACCEPTED, OVER_STRICT, CRASHED)


@dataclass(frozen=True, eq=False)
class Case:
    type_name: str
    param: str
    value: object

    @property
    def label(self) -> str:
        text = repr(self.value)
        return f"{self.type_name}.{self.param}={text if len(text) < 40 else 'a huge list'}"


@dataclass(frozen=True)
class Outcome:
    verdict: str
    message: str = ""
    where: str = ""  # the place a load error must name: nodes[i].params.<param>


def numeric_params(type_name: str) -> list[Param]:
    return [p for p in REGISTRY[type_name].params if p.kind in NUMERIC]


def absurd_values(param: Param) -> list:
    if param.kind in (INT, FLOAT):
        return [*SCALARS, HUGE_LIST]
    first_replaced = [[value, *param.default[1:]] for value in SCALARS]
    return [[], HUGE_LIST, [10**9] * 3, *first_replaced]


def cases() -> list[Case]:
    found = [Case(type_name, param.name, value) for type_name in REGISTRY
             for param in numeric_params(type_name) for value in absurd_values(param)]
    found += [Case("KerasLayer", CONFIG_UNITS, value) for value in (*SCALARS, HUGE_LIST)]
    return found


@cache
def _template(type_name: str) -> tuple[dict, int]:
    """A valid document in which node `target` of the type gets what it needs, and the index
    of that node among the document's nodes."""
    b = GraphBuilder()
    if type_name == "Input":
        b.add("target", "Input", shape=[8])
    else:
        for port, (shape, dtype) in FEEDS[type_name].items():
            b.add(f"feed_{port}", "Input", shape=shape, dtype=dtype)
        b.add("target", type_name, **PARAMS.get(type_name, {}))
        for port in FEEDS[type_name]:
            b.wire(f"feed_{port}", "target", port)
    if type_name != "Output":
        b.add("result", "Output")
        b.wire("target", "result")
    document = b.project.to_dict()
    index = next(i for i, node in enumerate(document["nodes"]) if node["name"] == "target")
    return document, index


def document_with(case: Case) -> tuple[dict, int]:
    document, index = _template(case.type_name)
    document = copy.deepcopy(document)
    params = document["nodes"][index]["params"]
    if case.param == CONFIG_UNITS:
        params["config"] = {"units": case.value}
    else:
        params[case.param] = case.value
    return document, index


def harmless(case: Case) -> bool:
    return repr(case.value) in HARMLESS.get((case.type_name, case.param), ())


def _risky(case: Case, node) -> bool:
    """A value the loader accepted that could make Keras allocate it while the graph is
    validated (a model's card, a layer probe): it is counted as accepted without validating,
    so that the sweep never exhausts the machine's memory (as it would have before the
    bounds). Floats count only where the loader made them integers, as Keras takes no float
    size."""
    if not REGISTRY[case.type_name].needs_keras:
        return False
    if case.param == CONFIG_UNITS:  # a list there is no size: Keras refuses it
        values = [node.params["config"].get("units")]
    else:
        value = node.params[case.param]
        values = value if isinstance(value, list) else [value]
    return len(values) > 16 or any(isinstance(v, int) and not isinstance(v, bool)
                                   and abs(v) > 2**24 for v in values)


def outcome(case: Case) -> Outcome:
    document, index = document_with(case)
    where = f"nodes[{index}].params.{case.param.split('.')[0]}"
    try:
        project = from_dict(document)
    except ProjectError as error:
        return Outcome(OVER_STRICT if harmless(case) else LOAD, str(error), where)
    except Exception as error:  # noqa: BLE001 - any other exception is what this looks for
        return Outcome(CRASHED, f"{type(error).__name__}: {error}", where)
    target = project.graph.node_by_name("target")
    if not harmless(case) and _risky(case, target):
        return Outcome(ACCEPTED, "accepted when read (not validated: building it could "
                                 "exhaust this machine's memory)", where)
    try:
        analysis = analyze(project.graph, Context(MODELS))
    except Exception as error:  # noqa: BLE001
        return Outcome(CRASHED, f"validation raised {type(error).__name__}: {error}", where)
    mine = [p for p in analysis.errors if p.node_id == target.id]
    if mine:
        return Outcome(OVER_STRICT if harmless(case) else VALIDATION, mine[0].message, where)
    if not analysis.ok:  # the template itself is broken: a bug of this sweep
        return Outcome(CRASHED, f"unrelated errors: {[p.message for p in analysis.errors]}", where)
    return Outcome(HARMLESS_OK if harmless(case) else ACCEPTED, "", where)


def sweep() -> list[tuple[Case, Outcome]]:
    return [(case, outcome(case)) for case in cases()]


def edge_values() -> list[Case]:
    """Each bounded INT and FLOAT parameter at its largest allowed value."""
    found = []
    for type_name in REGISTRY:
        for param in numeric_params(type_name):
            if param.kind in (INT, FLOAT) and param.maximum is not None:
                top = param.maximum
                if param.exclusive_maximum:
                    top = top - 1 if param.kind == INT else math.nextafter(top, -math.inf)
                found.append(Case(type_name, param.name, int(top) if param.kind == INT else top))
    return found


def compile_edges() -> tuple[int, int, list[str]]:
    """(compiled, validated, failures) for the largest allowed values: those that validate in
    their small graph must also build."""
    from app.core.build.compile import compile_graph

    compiled = validated = 0
    failures = []
    for case in edge_values():  # one at a time, the others at their defaults
        document, _ = document_with(case)
        project = from_dict(document)
        analysis = analyze(project.graph, Context(MODELS))
        if not analysis.ok:
            continue  # e.g. an axis of 8 for a rank-2 tensor: validation says so, fine
        validated += 1
        try:
            compile_graph(project.graph, Context(MODELS), analysis)
            compiled += 1
        except Exception as error:  # noqa: BLE001
            failures.append(f"{case.label}: {type(error).__name__}: {str(error)[:200]}")
    return compiled, validated, failures


def oversized() -> list[tuple[str, str]]:
    """Graphs of values each within bounds whose node needs terabytes: (label, the memory
    estimate's message, or "" where validation let it through)."""
    graphs = {
        "8192×8192 image → 65,536 filters (16 TB a sample)": [
            ("image", "Input", {"shape": [8192, 8192, 3]}),
            ("wide", "ChannelProjection", {"filters": 65536})],
        "flattened 8192×8192 image → Dense of 2^20 units (768 TB of weights)": [
            ("image", "Input", {"shape": [8192, 8192, 3]}), ("flat", "Flatten", {}),
            ("huge", "Dense", {"units": 2**20})],
        "sequence of 2^24 steps × 65,536 features (4 TB a sample)": [
            ("ids", "Input", {"shape": [2**24], "dtype": "int32"}),
            ("embed", "Embedding", {"output_dim": 65536})],
    }
    found = []
    for label, nodes in graphs.items():
        b = GraphBuilder()
        for name, type_name, params in [*nodes, ("result", "Output", {})]:
            b.add(name, type_name, **params)
        b.chain(*(name for name, _, _ in nodes), "result")
        problems = [p for p in analyze(b.graph).errors if p.code == "too_big"]
        found.append((label, problems[0].message if problems else ""))
    return found


def experiment(quick: bool = False) -> dict:
    """The parameter-bounds experiment, as the reliability report shows it."""
    results = sweep()
    verdicts = Counter(result.verdict for _, result in results)
    swept_types = sorted({case.type_name for case, _ in results})
    parameters = {(case.type_name, case.param) for case, _ in results}
    failures = sum(verdicts[v] for v in FAILING)
    rows = [
        ("node types in the catalog", f"{len(REGISTRY)} ({len(swept_types)} with numeric parameters)"),
        ("numeric parameters", str(len(parameters))),
        ("absurd values tried", str(len(results))),
        ("refused at load", str(verdicts[LOAD])),
        ("refused at validation", str(verdicts[VALIDATION])),
        ("harmless, accepted", str(verdicts[HARMLESS_OK])),
        ("accepted (must be 0)", str(verdicts[ACCEPTED])),
        ("harmless but refused (must be 0)", str(verdicts[OVER_STRICT])),
        ("crashed (must be 0)", str(verdicts[CRASHED])),
    ]
    for case, result in results:
        if result.verdict in FAILING:
            rows.append((f"  {result.verdict}", f"{case.label}: {result.message[:160]}"))
    big = oversized()
    missed = [label for label, message in big if not message]
    if memory.machine_memory() is not None:  # where it is unknown, nothing is refused for size
        failures += len(missed)
    rows.append(("graphs needing terabytes, refused as too big",
                 f"{len(big) - len(missed)} of {len(big)} (memory here: "
                 f"{memory.human(memory.machine_memory() or 0)})"))
    rows += [("  not refused", label) for label in missed]
    if not quick:
        compiled, validated, edge_failures = compile_edges()
        rows.append(("largest allowed values that compile",
                     f"{compiled} of the {validated} that validate (of {len(edge_values())})"))
        rows += [("  failed to compile", text) for text in edge_failures]
        failures += len(edge_failures)
    return {"title": "Parameter bounds", "rows": rows, "failures": failures}


if __name__ == "__main__":
    sys.exit(run_alone(experiment, "skip compiling the largest values"))
