"""Every run of a project, as read from its runs folder (`<project>.runs/run-NNN/`): what the
Runs panel and `graft runs` list. A run's record (`run.json`, see record.py) says it all; a run
made before records existed is read from its `state.json` and `history.json`, and started when
its folder last changed. Nothing here raises for a damaged run: its row says "unreadable" and
the others are listed."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.core.document.project import Project
from app.core.training.events import duration
from app.core.training.record import FORMAT, RECORD_FILE, read_record
from app.core.training.store import runs_dir

UNREADABLE, UNKNOWN = "unreadable", "unknown"


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
