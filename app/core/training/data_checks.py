"""Data checks before training: each mapped field against the Input it feeds (numbers, shape,
dtype, no NaN) and the Output it trains (class ids in range for sparse categorical
crossentropy, one-hot rows of the Output's width for categorical, values in [0, 1] for
binary, the Output's shape for regression), and the warnings a careful colleague would give:
labels that cover fewer than half of an Output's classes, one class holding almost every
sample, an Input whose samples are all the same.

One set of checks serves everyone. `checked_arrays` is what a run prepares its arrays with
(data.py: `prepare` raises all its errors at once); `check_data` lists errors and warnings
as analysis Problems, for the editor's Problems panel and `graft train`; Suggest maps only
fields that pass them. Files are read once while they are unchanged (sources.py: `FILES`),
so checking in the editor and then training reads the data once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.analysis.validate import ERROR, WARNING, Problem
from app.core.graph.specs import FLOAT_DTYPES, TensorSpec, format_shape, shapes_compatible
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT
from app.core.nodes.io import CLASSIFIER_LOSSES, fed_inputs
from app.core.training.images import check_image_classes, image_roles
from app.core.training.sources import IMAGE_SUFFIXES, DataError, Role, Table, load_table, locate, preview

if TYPE_CHECKING:
    from app.core.analysis.validate import Analysis
    from app.core.graph.graph import Graph

SAMPLE_ROWS = 4096  # samples of each Input that `check_data` looks at; labels are checked whole
FEW_CLASSES = 0.5  # labels covering fewer than this share of an Output's classes are warned about
ONE_CLASS = 0.9  # one class holding at least this share of the labels is warned about

DATA_ERROR = "data"
FEW_CLASSES_CODE, ONE_CLASS_CODE, CONSTANT_CODE = "data_few_classes", "data_one_class", "data_constant_input"
DATA_CODES = (DATA_ERROR, FEW_CLASSES_CODE, ONE_CLASS_CODE, CONSTANT_CODE)  # the codes of its Problems


@dataclass
class Checked:
    """A table's mapped fields checked and cast: arrays for the fields that pass, and for each
    node whose field does not, why (a DataError naming the place and the fix)."""

    features: dict[str, np.ndarray] = field(default_factory=dict)  # by Input name
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # by Output name, as its loss wants them
    class_names: dict[str, list[str]] = field(default_factory=dict)  # per classifier Output
    errors: dict[str, DataError] = field(default_factory=dict)  # by node name, in the roles' order


# -- the graph's side ------------------------------------------------------------------------


def io_nodes(graph: Graph) -> tuple[list, list]:
    inputs = [n for n in graph.nodes if node_type(n.type).category == INPUT]
    outputs = [n for n in graph.nodes if node_type(n.type).category == OUTPUT]
    return inputs, outputs


def node_spec(node, analysis: Analysis) -> TensorSpec | None:
    """An Input's tensor, or the tensor an Output receives; None when the graph says nothing."""
    result = analysis.nodes.get(node.id)
    if result is None:
        return None
    if node_type(node.type).category == INPUT:
        return analysis.output_spec(node.id)
    return result.inputs.get("in")


def own_losses(graph: Graph) -> dict[str, str]:
    """Each Output's own loss, for the Outputs that carry one."""
    return {n.name: n.params["loss"] for n in io_nodes(graph)[1] if n.params["loss"] != "none"}


def mapped_roles(data: dict, graph: Graph, analysis: Analysis,
                 losses: dict[str, str] | None = None) -> tuple[list[Role], list[Role]]:
    """The mapped Inputs that some Output depends on and the mapped Outputs that carry a loss
    (`losses`: by Output name; each Output's own by default), with their tensors. Nodes whose
    tensor the graph does not know are left out: the graph's own problems say why."""
    losses = own_losses(graph) if losses is None else losses
    mapping = data["mapping"]
    inputs, outputs = io_nodes(graph)
    fed = fed_inputs(graph)
    mapped_inputs, mapped_outputs = [], []
    for node in inputs:
        spec = node_spec(node, analysis) if node.name in mapping and node.id in fed else None
        if spec is not None:
            mapped_inputs.append(Role(node.name, mapping[node.name], spec, None, node.id))
    for node in outputs:
        spec = node_spec(node, analysis) if node.name in mapping and node.name in losses else None
        if spec is not None:
            mapped_outputs.append(Role(node.name, mapping[node.name], spec, losses[node.name], node.id))
    return mapped_inputs, mapped_outputs


# -- errors: one field at a time -------------------------------------------------------------


def field_names(field: str | list[str]) -> list[str]:
    return [field] if isinstance(field, str) else field


def field_errors(table: Table, roles: list[Role]) -> dict[str, DataError]:
    """Why a role's field cannot be read from the table (a missing name, a list of npz arrays,
    no sample axis, no samples, another number of samples than the first good field), by node."""
    noun = "array" if table.kind == "npz" else "column"
    errors = {}
    for role in roles:
        try:
            if isinstance(role.field, list) and table.kind == "npz":
                raise DataError(f"{role.title} is mapped to a list of names, but lists are for CSV columns; "
                                f"map it to one array of {table.file} ({', '.join(table.names)})")
            for name in field_names(role.field):
                if name not in table.columns:
                    raise DataError(f"{role.title} is mapped to {name!r}, but {table.file} has no {noun} of "
                                    f"that name ({noun}s: {', '.join(table.names)}); choose one of them")
                if table.columns[name].ndim == 0:
                    raise DataError(f"{table.describe(name)} holds a single value, not one per sample; "
                                    f"map {role.title} to an array with a sample axis first")
                if len(table.columns[name]) == 0:
                    raise DataError(f"{table.describe(name)} has no samples; {role.title} needs at least one")
        except DataError as error:
            errors[role.node] = error
    readable = [role for role in roles if role.node not in errors]
    for role in readable[1:]:
        first = readable[0]
        if table.count(role.field) != table.count(first.field):
            errors[role.node] = DataError(
                f"{table.describe(role.field)} has {table.count(role.field)} samples, but "
                f"{table.describe(first.field)} has {table.count(first.field)}; every mapped array needs "
                "the same number of samples")
    return errors


def checked_arrays(table: Table, inputs: list[Role], targets: list[Role],
                   known_classes: dict[str, list[str]] | None = None, *,
                   input_samples: int | None = None) -> Checked:
    """Every role's field checked and cast, each error kept rather than raised. `known_classes`
    (from the training data) fixes the class ids of text labels in validation data;
    `input_samples` bounds how many samples of each Input are looked at (labels: all)."""
    checked = Checked(errors=field_errors(table, inputs + targets))
    for role in inputs:
        if role.node in checked.errors:
            continue
        try:
            checked.features[role.node] = input_array(_bounded(table, role, input_samples), role)
        except DataError as error:
            checked.errors[role.node] = error
    for role in targets:
        if role.node in checked.errors:
            continue
        try:
            labels, names = target_array(table, role, (known_classes or {}).get(role.node))
        except DataError as error:
            checked.errors[role.node] = error
            continue
        checked.labels[role.node] = labels
        if names is not None:
            checked.class_names[role.node] = names
    order = [role.node for role in inputs + targets]
    checked.errors = dict(sorted(checked.errors.items(), key=lambda item: order.index(item[0])))
    return checked


def _bounded(table: Table, role: Role, limit: int | None) -> Table:
    """The role's columns, or `limit` samples of them spread evenly over the file."""
    count = table.count(role.field)
    columns = {name: table.columns[name] for name in field_names(role.field)}
    narrowed = Table(table.file, table.kind, table.names, columns, table.rows, table.samples)
    if limit is None or count <= limit:
        return narrowed
    return narrowed.subset(np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64)))


def input_array(table: Table, role: Role) -> np.ndarray:
    """The samples for an Input, cast to its dtype, once they fit its shape and dtype."""
    where = table.describe(role.field)
    values = table.numbers(role.field, role.title)
    expected = role.spec.features
    if values.shape[1:] == () and expected == (1,):
        values = values.reshape(-1, 1)  # one CSV column for an Input of one feature
    if not shapes_compatible(values.shape[1:], expected):
        raise DataError(f"{role.title} expects samples of shape {format_shape(expected)}, but {where} has "
                        f"{format_shape(values.shape[1:])}; reshape the data or change the Input's shape")
    check_finite(values, table, role)
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


def target_array(table: Table, role: Role, known: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
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
    check_finite(values, table, role)
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
    if loss == "categorical_crossentropy":
        _check_one_hot(values, table, role)
    names = [str(i) for i in range(values.shape[-1])] if loss == "categorical_crossentropy" else None
    return values.astype(np.float32), names


def _check_one_hot(values: np.ndarray, table: Table, role: Role) -> None:
    """Categorical targets are rows of class probabilities: each sums to 1 (a one-hot row does)."""
    sums = values.sum(axis=-1)
    wrong = np.abs(sums - 1) > 1e-3
    if wrong.any():
        first = np.unravel_index(np.argmax(wrong), wrong.shape)
        sample = table.sample_number(int(first[0]))
        raise DataError(f"{table.describe(role.field)} holds a row that sums to {sums[first].item():g} at "
                        f"sample {sample} ({np.count_nonzero(wrong):,} such rows), but "
                        f"{role.title} uses categorical_crossentropy, which wants one-hot rows (a single 1, "
                        "the rest 0); fix the rows, or use binary_crossentropy for several labels per sample")


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


def check_finite(values: np.ndarray, table: Table, role: Role) -> None:
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
    columns = field_names(role.field)
    column = columns[int(first[1])] if len(columns) > 1 else columns[0]
    if table.kind == "csv":
        place = f"{table.file}, row {table.sample_number(sample)}, column {column!r}"
    else:
        place = f"{table.describe(column)}, sample {table.sample_number(sample)}"
    plural = "s" if bad > 1 else ""
    count = (f"{bad:,} NaN or infinite value{plural} in all" if table.samples is None else
             f"{bad:,} NaN or infinite value{plural} in the {len(table.samples):,} samples checked")
    raise DataError(f"{place} holds {value} ({count}, data for {role.title}); fill them in or "
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


# -- warnings: what fits but is unlikely to be meant -----------------------------------------


def label_warnings(role: Role, labels: np.ndarray, class_names: list[str] | None,
                   where: str) -> list[tuple[str, str]]:
    """(code, message) for labels that cover fewer than half of a classifier's classes, or put
    almost every sample in one class: the wrong field, or data that teaches one answer."""
    classes, ids = _class_ids(role, labels)
    if ids is None or ids.size == 0:
        return []
    counts = np.bincount(ids, minlength=classes or 0)
    classes = classes or len(counts)
    names = class_names if class_names and len(class_names) >= len(counts) else [str(i) for i in
                                                                                   range(len(counts))]
    present = [names[i] for i in np.flatnonzero(counts)]
    if len(present) < classes * FEW_CLASSES:
        return [(FEW_CLASSES_CODE,
                 f"{role.title} has {classes} classes, but its labels, {where}, hold only {len(present)} of "
                f"them ({preview(present)}); map the field that holds this Output's labels, or give the "
                 f"layer before {role.title} {len(present)} units if the data has no more classes")]
    top = int(np.argmax(counts))
    share = counts[top] / ids.size
    if share >= ONE_CLASS:
        return [(ONE_CLASS_CODE,
                 f"{where} puts {share:.0%} of the samples ({counts[top]:,} of {ids.size:,}) in class "
                 f"{names[top]}, so a model scores {share:.0%} by always answering {names[top]}; "
                 "check that this is the right field, or add samples of the other classes")]
    return []


def _class_ids(role: Role, labels: np.ndarray) -> tuple[int | None, np.ndarray | None]:
    """(the Output's number of classes, each label's class id) for a classifier's labels."""
    out = role.spec.features
    if role.loss == "sparse_categorical_crossentropy":
        return out[-1], labels.reshape(-1).astype(np.int64)
    if role.loss == "categorical_crossentropy":
        return labels.shape[-1], labels.argmax(axis=-1).reshape(-1)
    if role.loss == "binary_crossentropy" and labels.shape[1:] in ((), (1,)):
        return 2, (labels.reshape(-1) >= 0.5).astype(np.int64)
    return None, None


def constant_warning(role: Role, values: np.ndarray, where: str) -> str | None:
    """An Input whose samples are all the same teaches the model nothing."""
    if len(values) < 2 or not np.all(values == values[:1]):
        return None
    first = values[0]
    shown = f" ({first.reshape(-1)[0].item()!r} everywhere)" if np.all(first == first.reshape(-1)[0]) else ""
    return (f"every sample of {where} is the same{shown}, so the model learns nothing from it; "
            "map the field that varies, or check the file")


# -- all of it, as problems ------------------------------------------------------------------


def check_data(data: dict, graph: Graph, analysis: Analysis, base_dir: Path,
               losses: dict[str, str] | None = None, *,
               input_samples: int | None = SAMPLE_ROWS) -> list[Problem]:
    """Every error and warning about the mapped data, errors first. Empty when nothing is mapped
    (there is nothing to train on yet). Errors mean a run would stop; warnings that it would
    train on something that is probably not meant."""
    inputs, targets = mapped_roles(data, graph, analysis, losses)
    return check_roles(data, inputs, targets, base_dir, input_samples=input_samples)


def check_roles(data: dict, inputs: list[Role], targets: list[Role], base_dir: Path, *,
                input_samples: int | None = SAMPLE_ROWS) -> list[Problem]:
    """`check_data` for roles found beforehand (the editor finds them on its thread and checks
    on another: this reads files, touching no graph)."""
    roles = inputs + targets
    if not roles:
        return []
    try:
        kind, path = locate(data["source"], data["path"], base_dir)
        if kind == "images":
            found = _image_problems(path, inputs, targets)
        else:
            validation = (locate(data["source"], data["validation_path"], base_dir)[1]
                          if data.get("validation_path") else None)
            found = _table_problems(kind, path, validation, inputs, targets, input_samples)
    except (DataError, OSError) as error:
        return [Problem(ERROR, DATA_ERROR, _reason(error))]
    problems = [Problem(severity, code, _headed(message, role), role.node_id if role else None)
                for severity, code, message, role in found]
    return sorted(problems, key=lambda p: p.severity != ERROR)


def _headed(message: str, role: Role | None) -> str:
    """The message, starting with the node it is about (a list of problems reads by node)."""
    if role is None or message.startswith(role.title):
        return message
    return f"{role.title}: {message}"


def _reason(error: Exception) -> str:
    if isinstance(error, OSError):
        return f"cannot read {error.filename or 'the data'}: {error.strerror or error}; check the data path"
    return str(error)


def _table_problems(kind: str, path: Path, validation: Path | None, inputs: list[Role], targets: list[Role],
                    input_samples: int | None) -> list[tuple]:
    """An npz or CSV file's errors and warnings, then the validation file's errors (its text
    labels numbered by the training file's classes)."""
    wanted = {name for role in inputs + targets for name in field_names(role.field)}
    table = load_table(kind, path, wanted)
    checked = checked_arrays(table, inputs, targets, input_samples=input_samples)
    found = _errors(checked, inputs + targets)
    for role in targets:
        if role.node in checked.labels:
            warnings = label_warnings(role, checked.labels[role.node], checked.class_names.get(role.node),
                                      table.describe(role.field))
            found += [(WARNING, code, text, role) for code, text in warnings]
    for role in inputs:
        if role.node in checked.features:
            text = constant_warning(role, checked.features[role.node], table.describe(role.field))
            if text:
                found.append((WARNING, CONSTANT_CODE, text, role))
    if validation is not None and not checked.errors:
        held_out = checked_arrays(load_table(kind, validation, wanted), inputs, targets, checked.class_names,
                                  input_samples=input_samples)
        found += _errors(held_out, inputs + targets)
    return found


def _errors(checked: Checked, roles: list[Role]) -> list[tuple]:
    by_node = {role.node: role for role in roles}
    return [(ERROR, DATA_ERROR, str(error), by_node[node]) for node, error in checked.errors.items()]


def _image_problems(folder: Path, inputs: list[Role], targets: list[Role]) -> list[tuple]:
    """An image folder's checks that need no image read: the roles, the classes against the
    Output, and how the images spread over the classes."""
    by_title = {role.title: role for role in inputs + targets}
    try:
        image_role, label_role, *_ = image_roles(inputs, targets)
        class_folders = sorted(p for p in folder.iterdir() if p.is_dir())
        if label_role is not None and class_folders:
            check_image_classes(label_role, [p.name for p in class_folders], folder)
    except DataError as error:
        role = next((r for title, r in by_title.items() if title in str(error)), None)
        return [(ERROR, DATA_ERROR, str(error), role)]
    if label_role is None or label_role.loss not in (*CLASSIFIER_LOSSES, "binary_crossentropy"):
        return []
    counts = [sum(f.suffix.lower() in IMAGE_SUFFIXES for f in p.rglob("*")) for p in class_folders]
    if not sum(counts):
        return []
    ids = np.repeat(np.arange(len(counts)), counts)
    if label_role.loss == "categorical_crossentropy":
        ids = np.eye(len(counts), dtype=np.float32)[ids]
    warnings = label_warnings(label_role, ids, [p.name for p in class_folders], f"the images in {folder}")
    return [(WARNING, code, text, label_role) for code, text in warnings]
