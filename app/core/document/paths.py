"""Where a relative path is relative to.

In memory, a relative path in a project is relative to the project's `folder`: the folder its
file was opened from, or the working directory for a new project (which takes its file's
folder when it is first saved, if it holds no relative path yet). In the file, it is relative
to the file's folder. The two are the same folder until a Save As to another folder: the file
then gets the paths rebased, and the project in memory keeps its own, so saving never changes
the document and undo stays valid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from app.core.graph.params import PATH
from app.core.nodes import REGISTRY


def rebase(value: str | None, old_dir: Path, new_dir: Path) -> str | None:
    """`value`, relative to old_dir, as a path relative to new_dir; absolute paths (and no path)
    are returned as they are."""
    if not value or Path(value).expanduser().is_absolute():
        return value
    return relative_path(old_dir / value, new_dir)


def relative_path(path: Path, base: Path) -> str:
    """`path` as seen from the folder `base`: relative (with `..` where needed), or absolute
    where no relative path leads there (another drive on Windows)."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(base).resolve())
    except ValueError:
        return str(Path(path).resolve())


def stored_path(chosen: Path, folder: Path | None) -> str:
    """A file the user chose, as a project stores it: relative to the project's folder when it
    is inside it, so the folder can move with its files; otherwise absolute."""
    if folder is not None and inside(chosen, folder):
        return Path(relative_path(chosen, folder)).as_posix()
    return str(Path(chosen).resolve())


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` lies in `folder` or below it."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def path_places(document: dict) -> Iterator[tuple[dict, str]]:
    """Each (container, key) of a project document (as `Project.to_dict` gives it) that holds a
    file path: node parameters of kind PATH, the trained weights and the data files."""
    for node in document["nodes"]:
        for param in REGISTRY[node["type"]].params:
            if param.kind == PATH and node["params"].get(param.name):
                yield node["params"], param.name
    training = document["training"]
    yield training, "weights"
    if training["data"]["source"] != "bundled":
        yield training["data"], "path"
        yield training["data"], "validation_path"


def relative_paths(document: dict) -> list[str]:
    """The relative file paths a project document holds."""
    return [container[key] for container, key in path_places(document)
            if container[key] and not Path(container[key]).expanduser().is_absolute()]


def rebase_document(document: dict, old_dir: Path, new_dir: Path) -> dict:
    """The document with every relative path rebased from old_dir to new_dir (in place)."""
    if Path(old_dir).resolve() != Path(new_dir).resolve():
        for container, key in path_places(document):
            container[key] = rebase(container[key], old_dir, new_dir)
    return document
