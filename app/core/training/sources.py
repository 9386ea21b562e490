"""Reading training data without TensorFlow: where a source is (a bundled set, an .npz or CSV
file, a folder of images), which fields it offers (read cheaply, for the editor's menus), and
its arrays or columns as a `Table`. Every problem is a `DataError` naming the file, the field
and the fix."""

from __future__ import annotations

import csv
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.document.training_setup import BUNDLED, held_out
from app.core.graph.specs import TensorSpec

if TYPE_CHECKING:
    import tensorflow as tf

RESOURCES = Path(__file__).resolve().parents[3] / "resources" / "data"
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras's image loader reads
IMAGE_FIELDS = {"image": ((None, None, 3), "float32"), "label": ((), "int32")}
SNIFF_ROWS = 1000  # CSV rows read to tell numeric columns from text ones in `fields`
# Each bundled set's held-out part (digits_holdout), which no bundled model was trained on: the
# validation_path that makes a bundled model's validation accuracy honest.
HELD_OUT = tuple(held_out(name) for name in BUNDLED)
CACHED_FILES = 2  # data files kept in memory once read: the training file and its validation file


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
class Role:
    """A mapped node: an Input (loss None) or an Output that carries a loss."""

    node: str
    field: str | list[str]
    spec: TensorSpec  # an Input's tensor, or the tensor an Output receives
    loss: str | None = None
    node_id: str | None = None  # for problems that select the node when clicked

    @property
    def title(self) -> str:
        return f"{'Output' if self.loss else 'Input'} {self.node!r}"


def fields(data: dict, base_dir: Path) -> dict[str, tuple[tuple, str]]:
    """The fields a source offers, each with its per-sample shape and dtype, read cheaply
    (array headers, the first CSV rows) because the editor asks on every menu."""
    kind, path = locate(data["source"], data["path"], base_dir)
    if kind == "images":
        return dict(IMAGE_FIELDS)
    if kind == "npz":
        return npz_fields(path)
    header, rows, _ = read_csv(path, limit=SNIFF_ROWS)
    return {name: ((), "float32" if numeric([row[i] for row in rows]) else "string")
            for i, name in enumerate(header)}


def locate(source: str, path: str, base_dir: Path) -> tuple[str, Path]:
    """The kind of source to read (npz, csv or images) and where it is."""
    if source == "bundled":
        if path not in BUNDLED + HELD_OUT:
            raise DataError(f"there is no bundled data set {path!r}; choose one of: {', '.join(BUNDLED)}, "
                            f"or {' or '.join(HELD_OUT)} (their held-out parts) to validate on")
        file = next((f for f in (RESOURCES / f"{path}.npz", RESOURCES / f"{path}.csv") if f.is_file()), None)
        if file is None:
            raise DataError(f"the bundled data set {path!r} is missing from {RESOURCES}; reinstall Graft")
        return file.suffix[1:], file
    if not path:
        noun = "an image folder" if source == "images" else f"a .{source} file"
        raise DataError(f"no data chosen; choose {noun} as the data path")
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path(base_dir) / resolved
    if source == "images":
        if not resolved.is_dir():
            raise DataError(f"image folder {resolved} not found; set the data path to a folder with one "
                            "sub-folder of images per class (relative paths start at the project's folder)")
    elif resolved.is_dir():
        raise DataError(f"{resolved} is a folder; set the data path to a .{source} file")
    elif not resolved.is_file():
        raise DataError(f"data file {resolved} not found; check the data path (relative paths start at the "
                        "project's folder)")
    return source, resolved


def npz_fields(path: Path) -> dict[str, tuple[tuple, str]]:
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
                found[member.removesuffix(".npy")] = (tuple(shape[1:]), dtype_name(dtype))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise unreadable_npz(path, error) from None
    return found


def unreadable_npz(path: Path, error: Exception | str) -> DataError:
    return DataError(f"{path.name} is not a readable NumPy .npz file ({error}); save it with np.savez")


def dtype_name(dtype: np.dtype) -> str:
    return "string" if dtype.kind in "USO" else dtype.name


@dataclass
class Table:
    """The mapped columns of one npz or csv file: npz arrays, or csv cells as strings."""

    file: str  # the file's name, as messages show it
    kind: str
    names: list[str]  # every array or column the file has
    columns: dict[str, np.ndarray]
    rows: list[int] | None = None  # csv: the line of each sample, as a spreadsheet numbers it
    samples: np.ndarray | None = None  # a subset's sample numbers in the file; None: every sample

    def subset(self, samples: np.ndarray) -> Table:
        """These samples only (numbered as in the file), for checks that look at a bounded sample."""
        rows = [self.rows[i] for i in samples] if self.rows is not None else None
        numbers = samples if self.samples is None else self.samples[samples]
        return replace(self, columns={k: v[samples] for k, v in self.columns.items()}, rows=rows,
                       samples=numbers)

    def sample_number(self, index: int) -> int:
        """The sample's number in the file (npz) or its line (csv)."""
        if self.rows is not None:
            return self.rows[index]
        return int(self.samples[index]) if self.samples is not None else index

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
                raise DataError(f"{self.describe(field)} holds {dtype_name(values.dtype)} values, but "
                                f"{user} needs numbers; map a numeric array")
            return values
        try:
            return values.astype(np.float64)
        except ValueError:
            bad = next(i for i, cell in enumerate(values) if not numeric([cell]))
            problem = "is empty" if not values[bad] else f"holds {str(values[bad])!r}, which is not a number"
            raise DataError(f"{self.file}, column {field!r}, row {self.rows[bad]} {problem}, but {user} "
                            "needs numbers; fix the cell or map another column") from None

    def text(self, field: str | list[str]) -> np.ndarray | None:
        """The field's values as strings when they are text rather than numbers (class names)."""
        if isinstance(field, list):
            return None
        values = self.columns[field]
        if self.kind == "npz":
            return values.astype(str) if values.dtype.kind in "US" else None
        return None if numeric(values) else values


def numeric(cells) -> bool:
    try:
        np.asarray(cells, dtype=str).astype(np.float64)
    except ValueError:
        return False
    return True


class _FileCache:
    """What was read from the last few data files (arrays by name), each kept while the file's
    size and modification time stay the same: the editor's data checks, Suggest and the run
    that follows read a file once. Arrays are made read-only, so no reader can change them
    for the next; readers on several threads share the cache."""

    def __init__(self, size: int):
        self.size = size
        self._files: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, wanted: set[str], read) -> dict:
        """`wanted` of the file's entries, reading with `read(missing)` those not kept yet."""
        try:
            stat = path.stat()
        except OSError as error:
            raise DataError(f"cannot read {path}: {error.strerror or error}; check the data path") from None
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            kept = self._files.pop(key, {})
            self._files[key] = kept  # the most recently used last
            while len(self._files) > self.size:
                self._files.popitem(last=False)
        missing = {name for name in wanted if name not in kept}
        if missing:
            read_now = read(missing)
            for value in read_now.values():
                if isinstance(value, np.ndarray):
                    value.flags.writeable = False
            with self._lock:
                kept.update(read_now)
        return {name: kept[name] for name in wanted if name in kept}

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


FILES = _FileCache(CACHED_FILES)


def load_table(kind: str, path: Path, wanted: set[str]) -> Table:
    """The file's `wanted` arrays or columns (those it has), read once while it is unchanged."""
    if kind == "npz":
        return load_npz(path, wanted)
    header, columns, lines = FILES.get(path, {"csv"}, lambda _: {"csv": _read_csv_columns(path)})["csv"]
    return Table(path.name, "csv", header, {name: columns[name] for name in wanted if name in columns}, lines)


def _read_csv_columns(path: Path) -> tuple[list[str], dict[str, np.ndarray], list[int]]:
    """A CSV's header, its cells as one read-only string array per column, and each row's line."""
    header, rows, lines = read_csv(path)
    if not rows:
        raise DataError(f"{path.name} has a header row but no samples; add one row per sample")
    columns = {name: np.array([row[i] for row in rows]) for i, name in enumerate(header)}
    for column in columns.values():
        column.flags.writeable = False
    return header, columns, lines


def load_npz(path: Path, wanted: set[str]) -> Table:
    if not zipfile.is_zipfile(path):  # else numpy calls it pickled data and advises allow_pickle
        raise unreadable_npz(path, "not a zip archive of .npy arrays")
    names = list(npz_fields(path))
    if not names:
        raise DataError(f"{path.name} holds no named arrays; save it with np.savez")
    columns = FILES.get(path, {name for name in wanted if name in names},
                            lambda missing: _read_npz(path, missing))
    return Table(path.name, "npz", names, columns)


def _read_npz(path: Path, names: set[str]) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise unreadable_npz(path, error) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path.name} holds a single array, not named arrays; save it with np.savez")
    with archive:
        try:
            return {name: archive[name] for name in names}
        except ValueError as error:  # an object array, which only pickle could read
            raise DataError(f"{path.name}: {error}; save plain numeric or string arrays") from None
        except (OSError, zipfile.BadZipFile) as error:
            raise unreadable_npz(path, error) from None


def read_csv(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]], list[int]]:
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
    if numeric(header):
        raise DataError(f"the first row of {path.name} holds numbers; add a header row naming the columns")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path.name} has more than one column named {repeated[0]!r}; rename one of them")
    return header, rows, lines


def preview(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
