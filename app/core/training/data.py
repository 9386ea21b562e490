"""Training data: check a source (see sources.py) against the graph, and build tf.data pipelines.

Whatever a run would trip over later (an unmapped Input, a sample shape that does not fit,
a label beyond a classifier's classes, a NaN) is found here first, by the checks of
data_checks.py, and raised as one `DataError` that lists every field that does not fit,
each naming the file, the field, the node and the fix. Suggest maps a node only to a field
that passes those checks. TensorFlow and Keras load lazily, so the editor can list fields
and suggest mappings without them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.analysis.validate import WARNING
from app.core.graph.specs import TensorSpec, shapes_compatible
from app.core.nodes import node_type
from app.core.nodes.base import INPUT
from app.core.nodes.io import CLASSIFIER_LOSSES, fed_inputs
from app.core.training.data_checks import (
    SAMPLE_ROWS,
    Checked,
    check_roles,
    checked_arrays,
    constant_warning,
    field_names,
    io_nodes,
    label_warnings,
    node_spec,
)
from app.core.training.images import prepare_images
from app.core.training.sources import (
    DataError,
    PreparedData,
    Role,
    fields,
    load_table,
    locate,
)

if TYPE_CHECKING:
    import tensorflow as tf

    from app.core.analysis.validate import Analysis
    from app.core.graph.graph import Graph

LABEL_COLUMNS = ("label", "target", "class")
CLEAN, WARNED, FAILED = "clean", "warned", "failed"  # how a field fares in a node's data checks


def suggest_mapping(data: dict, base_dir: Path, graph: Graph, analysis: Analysis) -> dict:
    """A mapping for what fits: fields named like nodes, an image folder's image and label, a
    CSV's label column against the other numeric columns, and otherwise the one field whose
    shape and values pass a node's data checks (data_checks.py) without an error or a warning.
    A field that fails a node's checks is never suggested for it: 0/1 values are valid class
    ids for ten classes, but they cover two of them, so a field with all ten wins. Nodes it
    cannot tell are left out, as is everything when the source cannot be read (the checks
    say why)."""
    try:
        kind = locate(data["source"], data["path"], base_dir)[0]
        offered = fields(data, base_dir)
    except (DataError, OSError):
        return {}
    inputs, outputs = io_nodes(graph)
    nodes = inputs + [n for n in outputs if n.params["loss"] != "none"]
    if kind == "images":
        return _suggest_images(data, base_dir, analysis, inputs, nodes[len(inputs):])
    judge = _Judge(data, base_dir, graph, analysis)
    mapping: dict = {}
    lowered = {name.lower(): name for name in offered}
    for node in nodes:
        named = lowered.get(node.name.lower())
        if named is not None and judge(node, named, mapping) != FAILED:
            mapping[node.name] = named
    if kind == "csv":
        return _suggest_columns(offered, nodes, inputs, mapping, judge)
    for node in nodes:
        if node.name in mapping:
            continue
        used = {f for f in mapping.values() if isinstance(f, str)}
        spec = node_spec(node, analysis)
        fitting = [name for name, (shape, dtype) in offered.items()
                   if name not in used and spec is not None and _could_feed(node, spec, shape, dtype)]
        clean = [name for name in fitting if judge(node, name, mapping) == CLEAN]
        if len(clean) == 1:
            mapping[node.name] = clean[0]
    return mapping


def _suggest_columns(offered: dict, nodes: list, inputs: list, mapping: dict, judge) -> dict:
    """A CSV's label column (or else its last) for the one Output, its other numeric columns as
    one vector for the one Input, each when it passes their checks."""
    outputs = [n for n in nodes if n not in inputs]
    named = next((name for name in offered if name.lower() in LABEL_COLUMNS), None)
    target = named or list(offered)[-1]
    if len(outputs) == 1 and outputs[0].name not in mapping:
        fares = judge(outputs[0], target, mapping)
        if fares == CLEAN or (named and fares == WARNED):
            mapping[outputs[0].name] = target
    used = {name for field in mapping.values() for name in field_names(field)} | {target}
    features = [name for name, (_, dtype) in offered.items() if name not in used and dtype == "float32"]
    alone = inputs[0] if len(inputs) == 1 and inputs[0].name not in mapping else None
    if alone is not None and features and judge(alone, features, mapping) != FAILED:
        mapping[alone.name] = features
    return mapping


def _suggest_images(data: dict, base_dir: Path, analysis: Analysis, inputs: list, outputs: list) -> dict:
    """An image folder offers 'image' for its one Input and 'label' for one classifier Output;
    a node whose checks fail (a size the folder cannot give, more classes than units) is left out."""
    mapping = {}
    if len(inputs) == 1:
        mapping[inputs[0].name] = "image"
    classifiers = [n for n in outputs if n.params["loss"] in CLASSIFIER_LOSSES] or outputs
    if len(classifiers) == 1:
        mapping[classifiers[0].name] = "label"
    roles = {n.name: _role(n, mapping[n.name], analysis) for n in inputs + outputs if n.name in mapping}
    if None in roles.values():
        return mapping  # a node the graph says nothing about yet: nothing to check it against
    problems = check_roles({**data, "mapping": mapping}, [r for r in roles.values() if r.loss is None],
                           [r for r in roles.values() if r.loss is not None], base_dir)
    failed = {p.node_id for p in problems if p.severity != WARNING}
    return {name: field for name, field in mapping.items() if roles[name].node_id not in failed}


def _role(node, field, analysis: Analysis) -> Role | None:
    spec = node_spec(node, analysis)
    if spec is None:
        return None
    loss = None if node_type(node.type).category == INPUT else node.params["loss"]
    return Role(node.name, field, spec, loss, node.id)


class _Judge:
    """How a field fares in a node's data checks, next to the first field suggested so far
    (whose number of samples it must match). A node the graph says nothing about fares
    clean: there is nothing to check it against."""

    def __init__(self, data: dict, base_dir: Path, graph: Graph, analysis: Analysis):
        self.kind, self.path = locate(data["source"], data["path"], base_dir)
        self.by_name = {n.name: n for n in graph.nodes}
        self.analysis = analysis

    def __call__(self, node, field, mapping: dict) -> str:
        role = _role(node, field, self.analysis)
        if role is None:
            return CLEAN
        others = (_role(self.by_name[name], f, self.analysis) for name, f in mapping.items())
        reference = next((r for r in others if r is not None), None)
        roles = [reference, role] if reference is not None else [role]
        try:
            table = load_table(self.kind, self.path, {name for r in roles for name in field_names(r.field)})
        except (DataError, OSError):
            return FAILED
        inputs, targets = [r for r in roles if r.loss is None], [r for r in roles if r.loss is not None]
        checked = checked_arrays(table, inputs, targets, input_samples=SAMPLE_ROWS)
        if role.node in checked.errors:
            return FAILED
        where = table.describe(role.field)
        if role.loss is None:
            warned = constant_warning(role, checked.features[role.node], where) is not None
        else:
            warned = bool(label_warnings(role, checked.labels[role.node], checked.class_names.get(role.node),
                                         where))
        return WARNED if warned else CLEAN


def prepare(data: dict, graph: Graph, analysis: Analysis, base_dir: Path, *, batch_size: int, seed: int,
            losses: dict[str, str]) -> PreparedData:
    """Load, check and pipeline. `losses` maps each Output name that carries a loss to its loss
    name; Outputs not in it need no data."""
    kind, path = locate(data["source"], data["path"], base_dir)
    validation_path = None
    if data.get("validation_path"):
        validation_path = locate(data["source"], data["validation_path"], base_dir)[1]
    inputs, targets = _roles(data["mapping"], graph, analysis, losses)
    if kind == "images":
        return prepare_images(path, validation_path, data, inputs, targets, batch_size, seed)
    return _prepare_table(kind, path, validation_path, data, inputs, targets, batch_size, seed)


def _roles(mapping: dict, graph: Graph, analysis: Analysis, losses: dict[str, str]) -> tuple[list, list]:
    """The mapped Inputs and loss-carrying Outputs, after checking that the mapping fits the graph;
    an Input that reaches no Output is left out, as the compiled model leaves it out."""
    inputs, outputs = io_nodes(graph)
    by_name = {n.name: n for n in inputs + outputs}
    fed = fed_inputs(graph)
    inputs = [n for n in inputs if n.id in fed]
    listing = (f"Inputs: {', '.join(n.name for n in inputs) or 'none'}; "
               f"Outputs: {', '.join(n.name for n in outputs) or 'none'}")
    if not inputs:
        raise DataError("the graph has no Input; add one for the data to flow into")
    for name in mapping:
        if name not in by_name:
            raise DataError(f"the data mapping names {name!r}, which is not an Input or Output of the graph "
                            f"({listing}); rename or remove it")
    for name in losses:
        if name not in {n.name for n in outputs}:
            raise DataError(f"{name!r} carries a loss but is not an Output of the graph ({listing})")
    for node in inputs:
        if node.name not in mapping:
            raise DataError(f"Input {node.name!r} has no data; map it to an array or columns in the data "
                            "mapping")
    for name, loss in losses.items():
        if name not in mapping:
            raise DataError(f"Output {name!r} carries a loss ({loss}) but has no data; map it to the targets "
                            "in the data mapping, or set its loss to none")
    roles = []
    for node in inputs + [by_name[name] for name in losses]:
        spec = node_spec(node, analysis)
        kind = "Input" if node in inputs else "Output"
        if spec is None:
            raise DataError(f"{kind} {node.name!r} has no known tensor; fix the graph's errors first")
        roles.append(Role(node.name, mapping[node.name], spec, losses.get(node.name), node.id))
    return roles[:len(inputs)], roles[len(inputs):]


def _could_feed(node, spec: TensorSpec, shape: tuple, dtype: str) -> bool:
    """Whether a field of this shape and dtype (from the file's header) could feed a node: the
    fields worth running the node's data checks on, when guessing a mapping."""
    if dtype == "string":
        return node.params.get("loss") in CLASSIFIER_LOSSES and shape == ()
    if node_type(node.type).category == INPUT:
        return shapes_compatible(shape, spec.features) or (shape == () and spec.features == (1,))
    out = spec.features
    return any(shapes_compatible(shape, wanted) for wanted in (out, out[:-1], out[:-1] + (1,))) or (
        shape == () and out == (1,))


def _prepare_table(kind, path, validation_path, data, inputs, targets, batch_size, seed) -> PreparedData:
    roles = inputs + targets
    wanted = {name for role in roles for name in field_names(role.field)}
    table = load_table(kind, path, wanted)
    checked = _all_fit(checked_arrays(table, inputs, targets))
    arrays, class_names = [checked.features, checked.labels], checked.class_names
    count = table.count(roles[0].field)
    if validation_path is not None:
        held_out = _all_fit(checked_arrays(load_table(kind, validation_path, wanted), inputs, targets,
                                           class_names))
        train = arrays
        validation = [held_out.features, held_out.labels]
    else:
        train_rows, validation_rows = _split(count, data["validation_split"], seed)
        train = [{k: v[train_rows] for k, v in part.items()} for part in arrays]
        validation = [{k: v[validation_rows] for k, v in part.items()} for part in arrays]
    train_count = _count(train[0])
    validation_count = _count(validation[0])
    if train_count == 0:
        raise DataError(f"{path.name} leaves no samples to train on; add samples or lower the validation "
                        "split")
    return PreparedData(
        train=_pipeline(train, batch_size, seed if data["shuffle"] else None),
        validation=_pipeline(validation, batch_size) if validation_count else None,
        train_count=train_count,
        validation_count=validation_count,
        steps_per_epoch=math.ceil(train_count / batch_size),
        class_names=class_names,
        validation_arrays=(validation[0], validation[1]) if validation_count else None,
    )


def _all_fit(checked: Checked) -> Checked:
    """The checked arrays, or one DataError that lists every field that does not fit."""
    errors = [str(error) for error in checked.errors.values()]
    if len(errors) == 1:
        raise DataError(errors[0])
    if errors:
        raise DataError(f"{len(errors)} mapped fields do not fit the graph:\n" +
                        "\n".join(f"  - {error}" for error in errors))
    return checked


def _split(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows: a seeded random choice, each part kept in file order."""
    if fraction <= 0 or count < 2:
        return np.arange(count), np.arange(0)
    held_out = min(max(round(count * fraction), 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def _count(arrays: dict) -> int:
    return len(next(iter(arrays.values())))


def _pipeline(arrays: list[dict], batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(_count(arrays[0]), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
