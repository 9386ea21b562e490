"""Training data: check a source (see sources.py) against the graph, and build tf.data pipelines.

Whatever a run would trip over later (an unmapped Input, a sample shape that does not fit,
a label beyond a classifier's classes, a NaN) is found here first and raised as a
`DataError` naming the file, the field, the node and the fix. TensorFlow and Keras load
lazily, so the editor can list fields and suggest mappings without them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.graph.specs import FLOAT_DTYPES, TensorSpec, format_shape, shapes_compatible
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT
from app.core.nodes.io import CLASSIFIER_LOSSES, fed_inputs
from app.core.training.images import prepare_images
from app.core.training.sources import (
    DataError,
    PreparedData,
    Role,
    Table,
    fields,
    load_table,
    locate,
    preview,
)

if TYPE_CHECKING:
    import tensorflow as tf

    from app.core.analysis.validate import Analysis
    from app.core.graph.graph import Graph

LABEL_COLUMNS = ("label", "target", "class")


def suggest_mapping(data: dict, base_dir: Path, graph: Graph, analysis: Analysis) -> dict:
    """A mapping for the obvious cases: fields named like nodes, an image folder's image and
    label, a CSV's label column against the other columns, and fields whose shape fits only
    one node. Nodes it cannot guess are left out, as is everything when the source cannot
    be read (the run's checks will say why)."""
    try:
        kind = locate(data["source"], data["path"], base_dir)[0]
        offered = fields(data, base_dir)
    except DataError:
        return {}
    inputs, outputs = _io_nodes(graph)
    outputs = [n for n in outputs if n.params["loss"] != "none"]
    mapping: dict = {}
    lowered = {name.lower(): name for name in offered}
    for node in inputs + outputs:
        if node.name.lower() in lowered:
            mapping[node.name] = lowered[node.name.lower()]
    if kind == "images":
        if len(inputs) == 1:
            mapping.setdefault(inputs[0].name, "image")
        classifiers = [n for n in outputs if n.params["loss"] in CLASSIFIER_LOSSES] or outputs
        if len(classifiers) == 1:
            mapping.setdefault(classifiers[0].name, "label")
        return mapping
    if kind == "csv":
        target = next((name for name in offered if name.lower() in LABEL_COLUMNS), list(offered)[-1])
        if len(outputs) == 1 and outputs[0].name not in mapping:
            mapping[outputs[0].name] = target
        features = [name for name, (_, dtype) in offered.items() if name != target and dtype == "float32"]
        if len(inputs) == 1 and inputs[0].name not in mapping and features:
            mapping[inputs[0].name] = features
        return mapping
    unmapped = [n for n in inputs + outputs if n.name not in mapping]
    for node in unmapped:
        used = {f for f in mapping.values() if isinstance(f, str)}
        spec = _node_spec(node, analysis)
        fitting = [name for name, (shape, dtype) in offered.items()
                   if name not in used and spec is not None and _could_feed(node, spec, shape, dtype)]
        if len(fitting) == 1:
            mapping[node.name] = fitting[0]
    left_nodes = [n for n in inputs + outputs if n.name not in mapping]
    left_fields = [name for name in offered if name not in mapping.values()]
    if len(left_nodes) == 1 and len(left_fields) == 1:
        mapping[left_nodes[0].name] = left_fields[0]
    return mapping


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


def _io_nodes(graph: Graph) -> tuple[list, list]:
    inputs = [n for n in graph.nodes if node_type(n.type).category == INPUT]
    outputs = [n for n in graph.nodes if node_type(n.type).category == OUTPUT]
    return inputs, outputs


def _node_spec(node, analysis: Analysis) -> TensorSpec | None:
    """An Input's tensor, or the tensor an Output receives; None when the graph says nothing."""
    result = analysis.nodes.get(node.id)
    if result is None:
        return None
    if node_type(node.type).category == INPUT:
        return analysis.output_spec(node.id)
    return result.inputs.get("in")


def _roles(mapping: dict, graph: Graph, analysis: Analysis, losses: dict[str, str]) -> tuple[list, list]:
    """The mapped Inputs and loss-carrying Outputs, after checking that the mapping fits the graph;
    an Input that reaches no Output is left out, as the compiled model leaves it out."""
    inputs, outputs = _io_nodes(graph)
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
        spec = _node_spec(node, analysis)
        kind = "Input" if node in inputs else "Output"
        if spec is None:
            raise DataError(f"{kind} {node.name!r} has no known tensor; fix the graph's errors first")
        roles.append(Role(node.name, mapping[node.name], spec, losses.get(node.name)))
    return roles[:len(inputs)], roles[len(inputs):]


def _could_feed(node, spec: TensorSpec, shape: tuple, dtype: str) -> bool:
    """Whether a field of this shape and dtype fits a node, for guessing a mapping."""
    if dtype == "string":
        return node.params.get("loss") in CLASSIFIER_LOSSES
    if node_type(node.type).category == INPUT:
        return shapes_compatible(shape, spec.features)
    if node.params["loss"] == "sparse_categorical_crossentropy":
        return dtype.startswith(("int", "uint")) and shape in ((), (1,))
    return shapes_compatible(shape, spec.features) or (shape == () and spec.features == (1,))


def _prepare_table(kind, path, validation_path, data, inputs, targets, batch_size, seed) -> PreparedData:
    roles = inputs + targets
    table = _checked_table(kind, path, roles)
    arrays, class_names = _arrays(table, inputs, targets)
    count = table.count(roles[0].field)
    if validation_path is not None:
        validation_table = _checked_table(kind, validation_path, roles)
        train = arrays
        validation = _arrays(validation_table, inputs, targets, class_names)[0]
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


def _checked_table(kind: str, path: Path, roles: list[Role]) -> Table:
    """The file's mapped columns, once every mapped name exists and all have one value per sample."""
    wanted = {name for role in roles for name in _names(role.field)}
    table = load_table(kind, path, wanted)
    noun = "array" if kind == "npz" else "column"
    for role in roles:
        if isinstance(role.field, list) and kind == "npz":
            raise DataError(f"{role.title} is mapped to a list of names, but lists are for CSV columns; "
                            f"map it to one array of {path.name} ({', '.join(table.names)})")
        for name in _names(role.field):
            if name not in table.columns:
                raise DataError(f"{role.title} is mapped to {name!r}, but {path.name} has no {noun} of that "
                                f"name ({noun}s: {', '.join(table.names)}); choose one of them")
            if table.columns[name].ndim == 0:
                raise DataError(f"{table.describe(name)} holds a single value, not one per sample; "
                                f"map {role.title} to an array with a sample axis first")
            if len(table.columns[name]) == 0:
                raise DataError(f"{table.describe(name)} has no samples; {role.title} needs at least one")
    first = roles[0]
    for role in roles[1:]:
        if table.count(role.field) != table.count(first.field):
            raise DataError(f"{table.describe(role.field)} has {table.count(role.field)} samples, but "
                            f"{table.describe(first.field)} has {table.count(first.field)}; every mapped "
                            "array needs the same number of samples")
    return table


def _names(field: str | list[str]) -> list[str]:
    return [field] if isinstance(field, str) else field


def _arrays(table: Table, inputs: list[Role], targets: list[Role],
            known_classes: dict[str, list[str]] | None = None) -> tuple[list[dict], dict[str, list[str]]]:
    """Checked, cast ({input: array}, {output: array}) and the classifier Outputs' class names.
    `known_classes` (from the training data) fixes the class ids of text labels in validation data."""
    features = {role.node: _input_array(table, role) for role in inputs}
    labels, class_names = {}, {}
    for role in targets:
        labels[role.node], names = _target_array(table, role, (known_classes or {}).get(role.node))
        if names is not None:
            class_names[role.node] = names
    return [features, labels], class_names


def _input_array(table: Table, role: Role) -> np.ndarray:
    where = table.describe(role.field)
    values = table.numbers(role.field, role.title)
    expected = role.spec.features
    if values.shape[1:] == () and expected == (1,):
        values = values.reshape(-1, 1)  # one CSV column for an Input of one feature
    if not shapes_compatible(values.shape[1:], expected):
        raise DataError(f"{role.title} expects samples of shape {format_shape(expected)}, but {where} has "
                        f"{format_shape(values.shape[1:])}; reshape the data or change the Input's shape")
    _check_finite(values, table, role)
    dtype = role.spec.dtype
    if dtype in FLOAT_DTYPES:
        return values.astype(np.float32 if dtype == "bfloat16" else dtype)  # Keras casts to bfloat16
    with np.errstate(invalid="ignore", over="ignore"):
        cast = values.astype(dtype)
    inexact = cast != values
    if inexact.any():
        raise DataError(f"{role.title} takes {dtype} values, but {where} holds "
                        f"{values[inexact][0].item()!r}, which {dtype} cannot hold; round or rescale the "
                        "data, or make the Input float32")
    return cast


def _target_array(table: Table, role: Role, known: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """The targets for an Output in the form its loss wants, checked against the tensor it
    receives; class names for classifiers."""
    where, loss, out = table.describe(role.field), role.loss, role.spec.features
    if loss in CLASSIFIER_LOSSES:
        if not out:
            raise DataError(f"{role.title} uses {loss}, but receives {format_shape(role.spec.shape)}; a "
                            "classifier needs a tensor of class scores, shape (None, classes)")
        text = table.text(role.field)
        if text is not None:
            return _text_labels(text, known, where, role)
    values = table.numbers(role.field, role.title)
    _check_finite(values, table, role)
    sample = values.shape[1:]
    if loss == "sparse_categorical_crossentropy":
        if shapes_compatible(sample, out[:-1] + (1,)):
            values = values.reshape(values.shape[:-1])
        elif not shapes_compatible(sample, out[:-1]):
            hint = ("; these look like one-hot rows: use categorical_crossentropy"
                    if shapes_compatible(sample, out) else "")
            raise DataError(f"{role.title} uses {loss}, which wants one class id per sample (shape "
                            f"{format_shape(out[:-1])}), but {where} has samples of shape "
                            f"{format_shape(sample)}{hint}")
        _check_class_ids(values, where, role)
        classes = out[-1]
        largest = int(values.max())
        if classes is not None and largest >= classes:
            raise DataError(f"{role.title} has {classes} classes (it receives "
                            f"{format_shape(role.spec.shape)}), but {where} holds labels up to {largest}; "
                            f"labels must be 0 to {classes - 1}: give the layer before {role.title} "
                            f"{largest + 1} units, or fix the labels")
        return values.astype(np.int32), [str(i) for i in range(classes or largest + 1)]
    if loss == "categorical_crossentropy" and shapes_compatible(sample, out[:-1]) and _is_integral(values):
        raise DataError(f"{role.title} uses {loss}, which wants one-hot rows of {out[-1]} class "
                        f"probabilities, but {where} holds class ids of shape {format_shape(sample)}; use "
                        "sparse_categorical_crossentropy for class ids")
    if sample == () and out == (1,):
        values = values.reshape(-1, 1)
    elif not shapes_compatible(sample, out):
        raise DataError(f"{role.title} receives samples of shape {format_shape(out)}, but its targets, "
                        f"{where}, have {format_shape(sample)}; reshape the targets or change the layer "
                        f"before {role.title}")
    if loss in ("categorical_crossentropy", "binary_crossentropy"):
        outside = (values < 0) | (values > 1)
        if outside.any():
            raise DataError(f"{role.title} uses {loss}, which wants values from 0 to 1, but {where} holds "
                            f"{values[outside][0].item()!r}; rescale the targets or choose another loss")
    names = [str(i) for i in range(values.shape[-1])] if loss == "categorical_crossentropy" else None
    return values.astype(np.float32), names


def _text_labels(text: np.ndarray, known: list[str] | None, where: str,
                 role: Role) -> tuple[np.ndarray, list[str]]:
    """Class ids for text labels, numbered by the sorted distinct names (the training data's
    names when `known`); one-hot rows for categorical_crossentropy."""
    names = known if known is not None else sorted(set(text.tolist()))
    unknown = sorted(set(text.tolist()) - set(names))
    if unknown:
        raise DataError(f"{where} holds the label {unknown[0]!r}, which the training data does not have "
                        f"(classes: {', '.join(names)}); {role.title} can only learn the training classes")
    if len(role.spec.features) != 1:
        raise DataError(f"{role.title} receives {format_shape(role.spec.shape)}, but {where} holds one text "
                        "label per sample; a classifier for these needs a tensor of shape (None, classes)")
    classes = role.spec.features[-1]
    if classes is not None and len(names) > classes:
        raise DataError(f"{role.title} has {classes} classes (it receives {format_shape(role.spec.shape)}), "
                        f"but {where} holds {len(names)} distinct labels ({preview(names)}); give the layer "
                        f"before {role.title} {len(names)} units")
    ids = np.searchsorted(np.array(names), text).astype(np.int32)
    if role.loss == "categorical_crossentropy":
        return np.eye(classes or len(names), dtype=np.float32)[ids], names
    return ids, names


def _check_finite(values: np.ndarray, table: Table, role: Role) -> None:
    """Refuse NaN and infinity, naming where the first one is: the CSV row and column, or the
    sample of an npz array."""
    if values.dtype.kind != "f":
        return
    finite = np.isfinite(values)
    bad = values.size - np.count_nonzero(finite)
    if not bad:
        return
    first = np.unravel_index(np.argmin(finite), values.shape)  # the first False
    sample, value = int(first[0]), values[first].item()
    columns = role.field if isinstance(role.field, list) else [role.field]
    column = columns[int(first[1])] if len(columns) > 1 else columns[0]
    if table.kind == "csv":
        place = f"{table.file}, row {table.rows[sample]}, column {column!r}"
    else:
        place = f"{table.describe(column)}, sample {sample}"
    count = f"{bad:,} NaN or infinite value{'s' if bad > 1 else ''}"
    raise DataError(f"{place} holds {value} ({count} in all, data for {role.title}); fill them in or "
                    "drop those samples")


def _is_integral(values: np.ndarray) -> bool:
    return values.dtype.kind in "biu" or bool(np.all(values == np.round(values)))


def _check_class_ids(values: np.ndarray, where: str, role: Role) -> None:
    if not _is_integral(values):
        fraction = values[values != np.round(values)][0].item()
        raise DataError(f"{where} holds {fraction!r}, not a class id; {role.title} uses "
                        "sparse_categorical_crossentropy, which wants whole numbers from 0")
    if values.size and values.min() < 0:
        raise DataError(f"{where} holds the label {values.min().item()!r}; class ids for {role.title} "
                        "start at 0")


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
