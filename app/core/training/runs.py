"""Every run of a project, as read from its runs folder (`<project>.runs/run-NNN/`): what the
Runs panel and `graft runs` list. A run's record (`run.json`, see record.py) says it all; a run
made before records existed is read from its `state.json` and `history.json`, and started when
its folder last changed. Nothing here raises for a damaged run: its row says "unreadable" and
the others are listed.

Deleting runs is a command (`DeleteRuns`) on the project's undo stack: the folders move aside
into `<project>.runs/.deleted/`, which `list_runs` does not list, and come back on undo, until
the project closes and `empty_trash` removes them for good."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.core.document.project import Project
from app.core.editing.commands import Command
from app.core.training.compare import graph_differences
from app.core.training.events import duration
from app.core.training.record import FORMAT, RECORD_FILE, read_record
from app.core.training.store import BEST_WEIGHTS, LAST_WEIGHTS, runs_dir

UNREADABLE, UNKNOWN = "unreadable", "unknown"
TRASH = ".deleted"  # in the runs folder: deleted runs, until the project closes


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table. `best` is the lowest value of `monitor` in any phase (the
    monitored value is a loss: lower is better); None where the run has no epoch yet."""

    folder: Path
    name: str
    started: datetime
    status: str
    phases: tuple[str, ...] = ()
    monitor: str | None = None
    best: float | None = None
    duration_s: float | None = None
    tags: tuple[str, ...] = ()
    notes: str = ""

    @property
    def date_text(self) -> str:
        """When it started, in local time: `2026-12-05 13:00`."""
        return self.started.astimezone().strftime("%Y-%m-%d %H:%M")

    @property
    def best_text(self) -> str:
        """`val_loss 0.4321`, or "" before the first epoch."""
        return "" if self.best is None else f"{self.monitor} {self.best:.4f}"

    @property
    def duration_text(self) -> str:
        return "" if self.duration_s is None else duration(self.duration_s)

    def to_dict(self) -> dict:
        """For `graft runs --json`: plain JSON types, the folder as an absolute path."""
        return {"folder": str(self.folder), "name": self.name, "started": self.started.isoformat(),
                "status": self.status, "phases": list(self.phases), "monitor": self.monitor,
                "best": self.best, "duration_s": self.duration_s, "tags": list(self.tags),
                "notes": self.notes}


def list_runs(project: Project) -> list[RunSummary]:
    """The project's runs, oldest first (by folder: run-001, run-002, …); [] for a project that
    was never saved or never trained. Runs written elsewhere (`graft train --out`) are not here."""
    if project.path is None:
        return []
    folder = runs_dir(project)
    try:
        found = [path for path in folder.iterdir() if path.name.startswith("run-") and path.is_dir()]
    except OSError:  # no runs folder yet, or one that cannot be read
        return []
    return [read_run(path) for path in sorted(found, key=_folder_order)]


def read_run(folder: Path) -> RunSummary:
    """One run folder as a row. Its record says it all (record.py makes one from state.json and
    history.json for a run from before records existed); a run.json or state.json that cannot
    be read makes the row "unreadable", and a folder with neither yet (a run being set up) "unknown"."""
    folder = Path(folder)
    if (folder / RECORD_FILE).exists() and not _is_record(folder / RECORD_FILE):
        return RunSummary(folder, folder.name, _modified(folder), UNREADABLE)
    record = read_record(folder)
    if record is None:
        status = UNREADABLE if (folder / "state.json").exists() else UNKNOWN
        return RunSummary(folder, folder.name, _modified(folder), status)
    metrics = record["metrics"] if isinstance(record["metrics"], dict) else {}
    monitor = metrics.get("monitor") if isinstance(metrics.get("monitor"), str) else None
    best_rows = [phase.get("best") for phase in _dicts(metrics.get("phases"))]
    best = _lowest(row.get(monitor) for row in best_rows if isinstance(row, dict)) if monitor else None
    duration = record["duration_s"]
    return RunSummary(
        folder, record["name"], _parse_time(record["started"]) or _modified(folder),
        str(record["status"] or UNKNOWN),
        tuple(str(p.get("name", "")) for p in _dicts(record["phases"])),
        monitor if best is not None else None, best,
        float(duration) if _number(duration) else None,
        tuple(record["tags"]), record["notes"])


def _is_record(path: Path) -> bool:
    """Whether run.json holds a record at all (read_record would quietly fall back to state.json)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(stored, dict) and stored.get("format") == FORMAT


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _lowest(values) -> float | None:
    finite = [float(v) for v in values if _number(v)]
    return min(finite) if finite else None


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _parse_time(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _modified(folder: Path) -> datetime:
    """When a run without a record started, near enough: its folder's last change."""
    try:
        return datetime.fromtimestamp(folder.stat().st_mtime, UTC)
    except OSError:
        return datetime.fromtimestamp(0, UTC)


def _folder_order(folder: Path) -> tuple[int, int, str]:
    """run-2 before run-10: by number, then folders that are not numbered, by name."""
    number = folder.name.removeprefix("run-")
    return (0, int(number), "") if number.isdigit() else (1, 0, folder.name)


# -- a run's weights -----------------------------------------------------------------------------

class RunWeightsError(ValueError):
    """A run's weights that cannot go into the project, and why, in words."""


def run_weights(folder: Path) -> Path | None:
    """The weights a run left: its best, else its last; None where it wrote neither."""
    return next((Path(folder) / name for name in (BEST_WEIGHTS, LAST_WEIGHTS)
                 if (Path(folder) / name).is_file()), None)


def checked_run_weights(project: Project, folder: Path) -> Path:
    """The run's weights file, once it loaded into the project's model as the graph is now
    (built here: call it off the UI thread). Raises RunWeightsError naming what differs."""
    from app.core.build.compile import CompileError, compile_graph

    folder = Path(folder)
    record = read_record(folder) or {"name": folder.name}
    weights = run_weights(folder)
    if weights is None:
        raise RunWeightsError(f"{record['name']} has no weights ({folder} holds no {BEST_WEIGHTS} or "
                              f"{LAST_WEIGHTS}: it ended before its first epoch); choose another run")
    try:
        model = compile_graph(project.graph, project.context).model
    except CompileError as error:
        raise RunWeightsError(f"the graph cannot be built to load {record['name']}'s weights: "
                              f"{str(error).splitlines()[0]}; fix the graph first") from None
    try:
        with warnings.catch_warnings():  # Keras warns of each layer it skips before it refuses
            warnings.simplefilter("ignore")
            model.load_weights(weights)
    except Exception:  # noqa: BLE001 - Keras's account lists whole weight arrays: told in words instead
        recorded = (record.get("project") or {}).get("document")
        changes = graph_differences(recorded, project.to_dict()) if isinstance(recorded, dict) else []
        said = "; ".join(f"{row.what}: {row.left} → {row.right}" for row in changes[:4])
        more = f" (and {len(changes) - 4} more)" if len(changes) > 4 else ""
        why = f": the graph differs from the run's in {said}{more}" if said else ""
        raise RunWeightsError(f"{record['name']}'s weights do not fit the graph as it is now{why}; "
                              "change the graph back, or train it again") from None
    return weights


# -- deleting runs -------------------------------------------------------------------------------

@dataclass
class DeleteRuns(Command):
    """Move run folders into the trash beside them (`<project>.runs/.deleted/run-003-1`); undo
    moves them back, to a new number where a run took the old one meanwhile. Refused (OSError,
    nothing moved) where a folder cannot be moved. The project itself does not change."""

    folders: list[Path]
    _moved: list[tuple[Path, Path]] = field(default_factory=list, init=False)

    @property
    def text(self):
        count = len(self.folders)
        return f"Delete {self.folders[0].name}" if count == 1 else f"Delete {count} runs"

    def do(self, project):
        moved = []
        try:
            for folder in self.folders:
                place = _trash_place(folder)
                place.parent.mkdir(exist_ok=True)
                folder.rename(place)
                moved.append((folder, place))
        except OSError:
            for folder, place in reversed(moved):
                place.rename(folder)
            raise
        self._moved = moved

    def undo(self, project):
        restored = []
        for folder, place in self._moved:
            back = folder if not folder.exists() else _next_free(folder.parent)
            if place.exists():  # not emptied meanwhile by another window of the project
                place.rename(back)
            restored.append(back)
        self.folders = restored


def empty_trash(runs: Path) -> None:
    """Remove the runs deleted from the runs folder `runs` for good (the project closes: their
    delete can no longer be undone). A folder that resists stays, hidden, until next time."""
    shutil.rmtree(Path(runs) / TRASH, ignore_errors=True)


def _trash_place(folder: Path) -> Path:
    count = 1
    while (place := folder.parent / TRASH / f"{folder.name}-{count}").exists():
        count += 1
    return place


def _next_free(runs: Path) -> Path:
    taken = [int(p.name[4:]) for p in runs.glob("run-*") if p.name[4:].isdigit()]
    return runs / f"run-{max(taken, default=0) + 1:03d}"
