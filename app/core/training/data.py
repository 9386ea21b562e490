"""Training data: read a source, check it against the graph, and build tf.data pipelines.

Whatever a run would trip over later (an unmapped Input, a sample shape that does not fit,
a label beyond a classifier's classes, a NaN) is found here first and raised as a
`DataError` naming the file, the field, the node and the fix. TensorFlow and Keras load
lazily, so the editor can list fields and suggest mappings without them."""

from __future__ import annotations

import csv
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.document.training_setup import BUNDLED
from app.core.graph.specs import FLOAT_DTYPES, TensorSpec, format_shape, shapes_compatible
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT
from app.core.nodes.io import CLASSIFIER_LOSSES

if TYPE_CHECKING:
    import tensorflow as tf

    from app.core.analysis.validate import Analysis
    from app.core.graph.graph import Graph

RESOURCES = Path(__file__).resolve().parents[3] / "resources" / "data"
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras's image loader reads
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}
IMAGE_FIELDS = {"image": ((None, None, 3), "float32"), "label": ((), "int32")}
SNIFF_ROWS = 1000  # CSV rows read to tell numeric columns from text ones in `fields`
LABEL_COLUMNS = ("label", "target", "class")


class DataError(ValueError):
    """A data problem, with a message naming the place (file, array/column, Input/Output name) and the fix."""


@dataclass
class PreparedData:
    """Batches of (inputs by Input name, targets by Output name), ready for `Model.fit`."""

    train: tf.data.Dataset  # shuffled every epoch with the seed when data["shuffle"]
    validation: tf.data.Dataset | None  # not shuffled; None without a split or validation_path
    train_count: int
    validation_count: int
    steps_per_epoch: int
    class_names: dict[str, list[str]]  # per classifier Output: the name of each class id
    validation_arrays: tuple[dict, dict] | None  # the validation samples in numpy, for evaluation


@dataclass(frozen=True)
class _Role:
    """A mapped node: an Input (loss None) or an Output that carries a loss."""

    node: str
    field: str | list[str]
    spec: TensorSpec  # an Input's tensor, or the tensor an Output receives
    loss: str | None = None

    @property
    def title(self) -> str:
        return f"{'Output' if self.loss else 'Input'} {self.node!r}"


# -- public API -----------------------------------------------------------------


def fields(data: dict, base_dir: Path) -> dict[str, tuple[tuple, str]]:
    """The fields a source offers, each with its per-sample shape and dtype, read cheaply
    (array headers, the first CSV rows) because the editor asks on every menu."""
    kind, path = _locate(data["source"], data["path"], base_dir)
    if kind == "images":
        return dict(IMAGE_FIELDS)
    if kind == "npz":
        return _npz_fields(path)
    header, rows, _ = _read_csv(path, limit=SNIFF_ROWS)
    return {name: ((), "float32" if _numeric([row[i] for row in rows]) else "string")
            for i, name in enumerate(header)}


def suggest_mapping(data: dict, base_dir: Path, graph: Graph, analysis: Analysis) -> dict:
    """A mapping for the obvious cases: fields named like nodes, an image folder's image and
    label, a CSV's label column against the other columns, and fields whose shape fits only
    one node. Nodes it cannot guess are left out, as is everything when the source cannot
    be read (the run's checks will say why)."""
    try:
        kind = _locate(data["source"], data["path"], base_dir)[0]
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
    kind, path = _locate(data["source"], data["path"], base_dir)
    validation_path = None
    if data.get("validation_path"):
        validation_path = _locate(data["source"], data["validation_path"], base_dir)[1]
    inputs, targets = _roles(data["mapping"], graph, analysis, losses)
    if kind == "images":
        return _prepare_images(path, validation_path, data, inputs, targets, batch_size, seed)
    return _prepare_table(kind, path, validation_path, data, inputs, targets, batch_size, seed)


# -- locating and reading sources ----------------------------------------------


def _locate(source: str, path: str, base_dir: Path) -> tuple[str, Path]:
    """The kind of source to read (npz, csv or images) and where it is."""
    if source == "bundled":
        if path not in BUNDLED:
            raise DataError(f"there is no bundled data set {path!r}; choose one of: {', '.join(BUNDLED)}")
        file = next((f for f in (RESOURCES / f"{path}.npz", RESOURCES / f"{path}.csv") if f.is_file()), None)
        if file is None:
            raise DataError(f"the bundled data set {path!r} is missing from {RESOURCES}; reinstall Graft")
        return file.suffix[1:], file
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path(base_dir) / resolved
    if source == "images":
        if not resolved.is_dir():
            raise DataError(f"image folder {resolved} not found; set the data path to a folder with one "
                            "sub-folder of images per class (relative paths start at the project's folder)")
    elif not resolved.is_file():
        raise DataError(f"data file {resolved} not found; check the data path (relative paths start at the "
                        "project's folder)")
    return source, resolved


def _npz_fields(path: Path) -> dict[str, tuple[tuple, str]]:
    """Array names, shapes and dtypes from the .npy headers, without reading the data."""
    found = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(stream)
                found[member.removesuffix(".npy")] = (tuple(shape[1:]), _dtype_name(dtype))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise _unreadable_npz(path, error) from None
    return found


def _unreadable_npz(path: Path, error: Exception) -> DataError:
    return DataError(f"{path.name} is not a readable NumPy .npz file ({error}); save it with np.savez")


def _dtype_name(dtype: np.dtype) -> str:
    return "string" if dtype.kind in "USO" else dtype.name


@dataclass
class _Table:
    """The mapped columns of one npz or csv file: npz arrays, or csv cells as strings."""

    file: str  # the file's name, as messages show it
    kind: str
    names: list[str]  # every array or column the file has
    columns: dict[str, np.ndarray]
    rows: list[int] | None = None  # csv: the line of each sample, as a spreadsheet numbers it

    def describe(self, field: str | list[str]) -> str:
        if isinstance(field, str):
            return f"{'array' if self.kind == 'npz' else 'column'} {field!r} in {self.file}"
        shown = ", ".join(map(repr, field)) if len(field) <= 4 else f"{field[0]!r} … {field[-1]!r}"
        return f"the {len(field)} columns {shown} in {self.file}"

    def count(self, field: str | list[str]) -> int:
        return len(self.columns[field if isinstance(field, str) else field[0]])

    def numbers(self, field: str | list[str], user: str) -> np.ndarray:
        """The field as numbers; a list of CSV columns stacks into one vector per sample."""
        if isinstance(field, list):
            return np.stack([self.numbers(column, user) for column in field], axis=1)
        values = self.columns[field]
        if self.kind == "npz":
            if values.dtype.kind not in "biuf":
                raise DataError(f"{self.describe(field)} holds {_dtype_name(values.dtype)} values, but "
                                f"{user} needs numbers; map a numeric array")
            return values
        try:
            return values.astype(np.float64)
        except ValueError:
            bad = next(i for i, cell in enumerate(values) if not _numeric([cell]))
            problem = "is empty" if not values[bad] else f"holds {values[bad]!r}, which is not a number"
            raise DataError(f"{self.file}, column {field!r}, row {self.rows[bad]} {problem}, but {user} "
                            "needs numbers; fix the cell or map another column") from None

    def text(self, field: str | list[str]) -> np.ndarray | None:
        """The field's values as strings when they are text rather than numbers (class names)."""
        if isinstance(field, list):
            return None
        values = self.columns[field]
        if self.kind == "npz":
            return values.astype(str) if values.dtype.kind in "US" else None
        return None if _numeric(values) else values


def _numeric(cells) -> bool:
    try:
        np.asarray(cells, dtype=str).astype(np.float64)
    except ValueError:
        return False
    return True


def _load_table(kind: str, path: Path, wanted: set[str]) -> _Table:
    if kind == "npz":
        return _load_npz(path, wanted)
    header, rows, lines = _read_csv(path)
    if not rows:
        raise DataError(f"{path.name} has a header row but no samples; add one row per sample")
    columns = {name: np.array([row[header.index(name)] for row in rows]) for name in wanted if name in header}
    return _Table(path.name, "csv", header, columns, lines)


def _load_npz(path: Path, wanted: set[str]) -> _Table:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise _unreadable_npz(path, error) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path.name} holds a single array, not named arrays; save it with np.savez")
    with archive:
        try:
            columns = {name: archive[name] for name in wanted if name in archive.files}
        except ValueError as error:  # an object array, which only pickle could read
            raise DataError(f"{path.name}: {error}; save plain numeric or string arrays") from None
        return _Table(path.name, "npz", list(archive.files), columns)


def _read_csv(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (cells stripped, blank lines skipped) and each row's line number."""
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = [cell.strip() for cell in next(reader, [])]
            for record in reader:
                if limit is not None and len(rows) >= limit:
                    break
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise DataError(f"{path.name}, row {reader.line_num} has {len(record)} cells, but the "
                                    f"header has {len(header)} columns; every row needs one cell per column")
                rows.append([cell.strip() for cell in record])
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{path.name} is not UTF-8 text; save it as a UTF-8 CSV file") from None
    except csv.Error as error:
        raise DataError(f"{path.name} is not a readable CSV file ({error})") from None
    if not any(header):
        raise DataError(f"{path.name} is empty; a CSV file needs a header row naming its columns, "
                        "then one row per sample")
    if _numeric(header):
        raise DataError(f"the first row of {path.name} holds numbers; add a header row naming the columns")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path.name} has more than one column named {repeated[0]!r}; rename one of them")
    return header, rows, lines


# -- the graph's side ------------------------------------------------------------


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
    """The mapped Inputs and loss-carrying Outputs, after checking that the mapping fits the graph."""
    inputs, outputs = _io_nodes(graph)
    by_name = {n.name: n for n in inputs + outputs}
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
        roles.append(_Role(node.name, mapping[node.name], spec, losses.get(node.name)))
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


# -- npz and csv -------------------------------------------------------------------


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


def _checked_table(kind: str, path: Path, roles: list[_Role]) -> _Table:
    """The file's mapped columns, once every mapped name exists and all have one value per sample."""
    wanted = {name for role in roles for name in _names(role.field)}
    table = _load_table(kind, path, wanted)
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


def _arrays(table: _Table, inputs: list[_Role], targets: list[_Role],
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


def _input_array(table: _Table, role: _Role) -> np.ndarray:
    where = table.describe(role.field)
    values = table.numbers(role.field, role.title)
    expected = role.spec.features
    if values.shape[1:] == () and expected == (1,):
        values = values.reshape(-1, 1)  # one CSV column for an Input of one feature
    if not shapes_compatible(values.shape[1:], expected):
        raise DataError(f"{role.title} expects samples of shape {format_shape(expected)}, but {where} has "
                        f"{format_shape(values.shape[1:])}; reshape the data or change the Input's shape")
    _check_finite(values, where, role)
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


def _target_array(table: _Table, role: _Role, known: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
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
    _check_finite(values, where, role)
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
                 role: _Role) -> tuple[np.ndarray, list[str]]:
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
                        f"but {where} holds {len(names)} distinct labels ({_preview(names)}); give the layer "
                        f"before {role.title} {len(names)} units")
    ids = np.searchsorted(np.array(names), text).astype(np.int32)
    if role.loss == "categorical_crossentropy":
        return np.eye(classes or len(names), dtype=np.float32)[ids], names
    return ids, names


def _preview(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")


def _check_finite(values: np.ndarray, where: str, role: _Role) -> None:
    if values.dtype.kind != "f":
        return
    bad = values.size - np.count_nonzero(np.isfinite(values))
    if bad:
        raise DataError(f"{where} has {bad} NaN or infinite value{'s' if bad > 1 else ''} (data for "
                        f"{role.title}); fill them in or drop those samples")


def _is_integral(values: np.ndarray) -> bool:
    return values.dtype.kind in "biu" or bool(np.all(values == np.round(values)))


def _check_class_ids(values: np.ndarray, where: str, role: _Role) -> None:
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


# -- image folders ------------------------------------------------------------------


def _prepare_images(path, validation_path, data, inputs, targets, batch_size, seed) -> PreparedData:
    import tensorflow as tf

    image_role, label_role, size, color_mode, label_mode = _image_roles(inputs, targets)
    load = dict(image_size=size, color_mode=color_mode, label_mode=label_mode, batch_size=batch_size,
                seed=seed, verbose=False)
    split = data["validation_split"]
    if validation_path is not None:
        train = _image_folder(path, load, shuffle=data["shuffle"])
        validation = _image_folder(validation_path, load, shuffle=False)
        if validation.class_names != train.class_names:
            raise DataError(f"the validation folder {validation_path} has the classes "
                            f"{', '.join(validation.class_names)}, but the training folder has "
                            f"{', '.join(train.class_names)}; give both the same class sub-folders")
    elif split > 0:
        # Keras splits off the tail of its file order, which is sorted by class unless shuffled;
        # so a split always shuffles, and Keras then reshuffles the training images every epoch.
        train, validation = _image_folder(path, load, shuffle=True, validation_split=split, subset="both")
    else:
        train, validation = _image_folder(path, load, shuffle=data["shuffle"]), None
    class_names = {}
    if label_role is not None:  # Keras names the classes only when it loads labels
        _check_image_classes(label_role, train.class_names, path)
        if label_role.loss in CLASSIFIER_LOSSES:
            class_names[label_role.node] = list(train.class_names)
    train_count = len(train.file_paths)
    validation_count = len(validation.file_paths) if validation is not None else 0
    as_dicts = _image_dicts(image_role, label_role)
    train = train.map(as_dicts).prefetch(tf.data.AUTOTUNE)
    if validation is not None:
        validation = validation.map(as_dicts).prefetch(tf.data.AUTOTUNE)
    return PreparedData(
        train=train,
        validation=validation,
        train_count=train_count,
        validation_count=validation_count,
        steps_per_epoch=math.ceil(train_count / batch_size),
        class_names=class_names,
        validation_arrays=_materialise(validation) if validation is not None else None,
    )


def _image_roles(inputs: list[_Role], targets: list[_Role]):
    """The Input fed by the images and the Output fed by the labels, and how Keras must load them."""
    offered = "an image folder offers 'image' for one Input and 'label' for one Output"
    for role in inputs:
        if role.field != "image":
            raise DataError(f"{role.title} is mapped to {role.field!r}, but {offered}")
    if len(inputs) != 1:
        raise DataError(f"the graph has {len(inputs)} Inputs, but {offered}; an image folder feeds one Input")
    for role in targets:
        if role.field != "label":
            raise DataError(f"{role.title} is mapped to {role.field!r}, but {offered}")
    if len(targets) > 1:
        raise DataError(f"{', '.join(r.title for r in targets)} all carry a loss, but {offered}")
    image_role, label_role = inputs[0], (targets[0] if targets else None)
    shape = image_role.spec.features
    if len(shape) != 3 or None in shape or shape[2] not in COLOR_MODES:
        raise DataError(f"{image_role.title} has samples of shape {format_shape(shape)}, but images need a "
                        "fixed (height, width, channels) with 1, 3 or 4 channels; set the Input's shape, "
                        "e.g. [224, 224, 3]")
    label_mode = None
    if label_role is not None:
        label_mode = {"sparse_categorical_crossentropy": "int", "categorical_crossentropy": "categorical",
                      "binary_crossentropy": "binary"}.get(label_role.loss)
        if label_mode is None:
            raise DataError(f"{label_role.title} uses {label_role.loss}, but an image folder's labels are "
                            "classes; use sparse_categorical_crossentropy (or categorical_crossentropy, or "
                            "binary_crossentropy for two classes)")
    return image_role, label_role, shape[:2], COLOR_MODES[shape[2]], label_mode


def _check_image_classes(role: _Role, class_names: list[str], path: Path) -> None:
    """The class sub-folders must fit the tensor the Output receives."""
    out, found, shown, receives = role.spec.features, len(class_names), _preview(class_names), role.spec.shape
    wanted = {"binary_crossentropy": (1,), "categorical_crossentropy": (found,)}.get(role.loss)
    if wanted is None:  # sparse: at most as many classes as the output has scores
        if len(out) != 1:
            raise DataError(f"{role.title} receives {format_shape(receives)}, but an image folder gives one "
                            "class per image; a classifier for it needs a tensor of shape (None, classes)")
        if out[0] is not None and found > out[0]:
            raise DataError(f"{role.title} has {out[0]} classes (it receives {format_shape(receives)}), but "
                            f"{path} has {found} class sub-folders ({shown}); give the layer before "
                            f"{role.title} {found} units")
    elif role.loss == "binary_crossentropy" and found != 2:
        raise DataError(f"{role.title} uses binary_crossentropy, which needs exactly 2 class sub-folders, "
                        f"but {path} has {found} ({shown}); use sparse_categorical_crossentropy for more "
                        "classes")
    elif not shapes_compatible(out, wanted):
        raise DataError(f"{role.title} receives {format_shape(receives)}, but {path} has {found} class "
                        f"sub-folders ({shown}); give the layer before {role.title} {wanted[0]} units")


def _image_folder(folder: Path, load: dict, *, shuffle: bool, **split):
    """Keras's image dataset for a folder with one sub-folder of images per class."""
    import keras

    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{folder} has no sub-folders; put the images of each class in a sub-folder "
                        "named after the class")
    count = sum(f.suffix.lower() in IMAGE_SUFFIXES for c in classes for f in c.rglob("*"))
    if not count:
        raise DataError(f"the class sub-folders of {folder} hold no images; add "
                        f"{', '.join(IMAGE_SUFFIXES)} files")
    fraction = split.get("validation_split", 0)
    if fraction and int(count * fraction) == 0:  # Keras holds out int(count * fraction) images
        raise DataError(f"{folder} has {count} images, too few for a validation split of {fraction}; "
                        "add images, raise the split, or set it to 0")
    try:
        return keras.utils.image_dataset_from_directory(folder, shuffle=shuffle, **load, **split)
    except ValueError as error:
        raise DataError(f"cannot read the images in {folder}: {error}") from None


def _image_dicts(image_role: _Role, label_role: _Role | None):
    """Keras yields (images, labels) tuples; the model takes dicts by node name."""
    import tensorflow as tf

    dtype = image_role.spec.dtype
    if label_role is None:
        return lambda images: ({image_role.node: tf.cast(images, dtype)}, {})
    return lambda images, labels: ({image_role.node: tf.cast(images, dtype)}, {label_role.node: labels})


def _materialise(dataset) -> tuple[dict, dict]:
    """The whole validation set as numpy, for evaluation and previews."""
    batches = list(dataset.as_numpy_iterator())
    return tuple({name: np.concatenate([batch[part][name] for batch in batches]) for name in batches[0][part]}
                 for part in (0, 1))
