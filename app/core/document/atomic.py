"""Every file Graft writes is written whole: a temporary file beside the target, flushed and
synced, then moved into place, so a crash or a full disk never leaves half a file."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from pathlib import Path


def atomic_write_text(path: Path, text: str, newline: str | None = None) -> None:
    """Temp file, flush, fsync, rename: a crash mid-save leaves the old file intact.
    `newline` as for `open` ("\\n" writes the same file on every platform). A read-only
    file is not replaced (a rename would need only the folder's permission), and what an
    earlier write killed halfway left behind is removed."""
    path = path.resolve()  # through a symlink to its target
    if path.exists() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(errno.EACCES, "the file is read-only; make it writable or save it "
                              "elsewhere", str(path))
    _remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Exclusive create: a fresh name, and the user's umask decides a new file's mode.
        with open(tmp, "x", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _remove_leftovers(path: Path) -> None:
    """The temporary files of earlier writes of `path` that were killed before their rename."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.tmp")
    for candidate in path.parent.iterdir():  # not glob: a name may hold [ or *
        if pattern.fullmatch(candidate.name):
            candidate.unlink(missing_ok=True)
