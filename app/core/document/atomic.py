"""Every file Graft writes is written whole: a temporary file beside the target, flushed and
synced, then moved into place, so a crash or a full disk never leaves half a file.

A failed write raises OSError whose `filename` is the target (never the temporary file), so
every caller can name the file the user knows."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from pathlib import Path

# What copying owner, group or an extended attribute may meet where it cannot be done (not
# the file's owner, a filesystem without xattrs, a security.* name only root may set): the
# new file then keeps what it was created with, as a plain rename would.
NOT_KEPT = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL}


def atomic_write_text(path: Path, text: str, newline: str | None = None) -> None:
    """`text` as UTF-8, written as `atomic_write_bytes` writes. `newline` as for `open`
    ("\\n" writes the same file on every platform; None: the platform's line ends)."""
    newline = os.linesep if newline is None else newline
    if newline not in ("", "\n"):
        text = text.replace("\n", newline)  # what a text-mode `open` does on write
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file beside `path`, write, fsync, rename: a crash or a full disk mid-write leaves
    the old file intact. The new file keeps the old one's mode, owner and group (where this
    process may set them) and extended attributes. A read-only file is not replaced (a
    rename would need only the folder's permission), and what an earlier write killed
    halfway left behind is removed.

    A file with other hard links is not renamed over (that would detach it from its other
    names): the whole new content goes to the temp file first, so a full disk fails there
    with the old file untouched; then its size is reserved and it is copied into the file in
    place. The price: a crash during that copy (not a full disk, which the reservation rules
    out where the filesystem supports it) can leave the linked file partly rewritten."""
    path = Path(path).resolve()  # through a symlink to its target
    old = path.stat() if path.exists() else None
    if old is not None and not old.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(errno.EACCES, "the file is read-only; make it writable or save it "
                              "elsewhere", str(path))
    try:
        _remove_leftovers(path)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # Exclusive create: a fresh name, and the user's umask decides a new file's mode.
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if old is not None and old.st_nlink > 1 and stat.S_ISREG(old.st_mode):
                _rewrite_in_place(path, data)
            else:
                if old is not None:
                    _keep_attributes(path, tmp, old)
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        _sync_folder(path.parent)
    except OSError as error:
        if error.filename is None or str(error.filename) != str(path):
            raise _naming(error, path) from error
        raise


def write_advice(error: OSError, elsewhere: str) -> str:
    """The fix for a write that failed, by its cause; `elsewhere` says how to write it in
    another place ("choose another folder with --out")."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"free some space on its disk or {elsewhere}"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make the folder writable or {elsewhere}"
    return elsewhere


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """Overwrite a hard-linked file, its blocks reserved first: a disk too full for the new
    size fails before one byte of the old content changes."""
    size = len(data)
    with open(path, "r+b") as handle:
        old_size = os.fstat(handle.fileno()).st_size
        if size > old_size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as error:
                handle.truncate(old_size)  # what a partial reservation added
                if error.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                    raise
        handle.write(data)
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


def _keep_attributes(path: Path, tmp: Path, old: os.stat_result) -> None:
    """Give `tmp` what `path` has beyond its bytes, before it takes its place."""
    if hasattr(os, "chown") and (old.st_uid, old.st_gid) != _owner(tmp):
        try:
            os.chown(tmp, old.st_uid, old.st_gid)
        except OSError as error:
            if error.errno not in NOT_KEPT:
                raise
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(path)
        except OSError as error:
            if error.errno not in NOT_KEPT:
                raise
            names = []
        for name in names:
            try:
                os.setxattr(tmp, name, os.getxattr(path, name))
            except OSError as error:
                if error.errno not in NOT_KEPT and error.errno != errno.ENODATA:
                    raise
    os.chmod(tmp, old.st_mode & 0o7777)  # last: a chown clears set-user-ID and set-group-ID


def _owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


def _sync_folder(folder: Path) -> None:
    """The rename itself made durable: the folder's entry flushed too."""
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _naming(error: OSError, path: Path) -> OSError:
    """The same error (same errno, so the same subclass), naming the target: a failed write
    or flush names no file, and the temporary file's name means nothing to a user."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def _remove_leftovers(path: Path) -> None:
    """The temporary files of earlier writes of `path` that were killed before their rename."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.tmp")
    for candidate in path.parent.iterdir():  # not glob: a name may hold [ or *
        if pattern.fullmatch(candidate.name):
            candidate.unlink(missing_ok=True)
