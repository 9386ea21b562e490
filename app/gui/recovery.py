"""Autosave to a recovery file, and recovery after a crash.

Each open window owns one recovery file, guarded by a QLockFile. A recovery file whose lock
can be taken belongs to a Graft that is gone (QLockFile recognises locks of dead processes),
so it is offered for recovery at the next start."""

from __future__ import annotations

import json
import os
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QStandardPaths

from app.core.document.atomic import atomic_write_text
from app.core.document.fileformat import loads
from app.core.document.project import Project

SUFFIX = ".recovery.json"


def recovery_dir() -> Path:
    """`GRAFT_RECOVERY_DIR`, or the platform's application data folder."""
    configured = os.environ.get("GRAFT_RECOVERY_DIR")
    if configured:
        return Path(configured)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".graft") / "recovery"


class RecoveryFile:
    """The recovery file of one window; written only while there are unsaved changes."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or recovery_dir()
        with suppress(OSError):  # a folder that cannot be made: each autosave says so, the editor opens
            self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{uuid.uuid4().hex}{SUFFIX}"
        self._lock = QLockFile(str(self.path) + ".lock")
        self._lock.setStaleLockTime(0)  # never stale while this process lives
        self._lock.tryLock(0)

    def write(self, project: Project, text: str) -> None:
        """Raises OSError naming the file or folder that cannot be written (the caller
        reports it); a folder that could not be made before is tried again."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._lock.isLocked():  # the folder was not there to lock in at first
            self._lock.tryLock(0)
        record = {"original": str(project.path) if project.path else None,
                  "folder": str(project.folder.resolve()), "project": text}
        atomic_write_text(self.path, json.dumps(record))

    def discard(self) -> None:
        """Never raises: a folder that is gone or refuses the removal has nothing to lose."""
        with suppress(OSError):
            self.path.unlink(missing_ok=True)

    def release(self) -> None:
        self.discard()
        self._lock.unlock()
        with suppress(OSError):
            Path(str(self.path) + ".lock").unlink(missing_ok=True)


@dataclass
class Recovered:
    file: Path
    original: Path | None
    text: str
    folder: Path | None = None  # what its relative paths are relative to

    @property
    def label(self) -> str:
        return str(self.original) if self.original else "an untitled project"

    def project(self) -> Project:
        """Raises ProjectError when the recovery file is damaged."""
        project = loads(self.text)
        project.path = self.original
        project.folder = self.folder or (self.original.parent if self.original else project.folder)
        return project

    def forget(self) -> None:
        self.file.unlink(missing_ok=True)
        Path(str(self.file) + ".lock").unlink(missing_ok=True)


def orphans(folder: Path | None = None) -> list[Recovered]:
    """Recovery files left by Graft processes that no longer run; their lock files, and those
    of sessions that ended without unsaved changes (a window locks at once, writes later), go."""
    folder = folder or recovery_dir()
    if not folder.is_dir():
        return []
    found = []
    for file in sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime):
        lock = QLockFile(str(file) + ".lock")
        if not lock.tryLock(0):
            continue  # another running Graft owns it
        lock.unlock()
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
            original = Path(record["original"]) if record["original"] else None
            base = Path(record["folder"]) if record.get("folder") else None
            found.append(Recovered(file, original, record["project"], base))
        except (OSError, ValueError, KeyError, TypeError):
            file.unlink(missing_ok=True)  # unreadable: nothing to offer
    for lock_file in folder.glob(f"*{SUFFIX}.lock"):
        lock = QLockFile(str(lock_file))
        if not Path(str(lock_file).removesuffix(".lock")).exists() and lock.tryLock(0):
            lock.unlock()  # a dead session's, with nothing to recover: unlocking removes it
    return found
