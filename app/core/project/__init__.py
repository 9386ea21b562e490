"""Project files: a versioned, documented JSON format (docs/project-format.md).

Loading reads plain JSON into checked records before any live object is built: no
pickle, no code execution, and a malformed file raises one ProjectError naming the
place (`nodes[3].params.units: expected an integer >= 1, got "abc"`). Saving is atomic."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.core.graph import Edge, Graph, GraphError, Node, check_name
from app.core.nodes import REGISTRY, Context
from app.core.params import PATH, ParamError, describe
from app.core.project.migrations import CURRENT_VERSION, MigrationError, migrate

FORMAT = "graft-project"
SUFFIX = ".graft"


class ProjectError(ValueError):
    """A project file that cannot be read; `where` is the place inside the file."""

    def __init__(self, where: str, message: str, file: Path | None = None):
        self.where, self.message, self.file = where, message, file
        place = f"{file}: " if file else ""
        super().__init__(f"{place}{where}: {message}" if where else f"{place}{message}")


@dataclass
class Project:
    graph: Graph = field(default_factory=Graph)
    name: str = "Untitled"
    description: str = ""
    path: Path | None = None

    @property
    def context(self) -> Context:
        return Context(self.path.parent if self.path else Path.cwd())

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": CURRENT_VERSION,
            "name": self.name,
            "description": self.description,
            "nodes": [
                {"id": n.id, "type": n.type, "name": n.name,
                 "position": [round(n.position[0], 2), round(n.position[1], 2)],
                 "params": n.params}
                for n in self.graph.nodes
            ],
            "edges": [
                {"id": e.id, "from": {"node": e.source, "port": e.source_port},
                 "to": {"node": e.target, "port": e.target_port}}
                for e in self.graph.edges
            ],
        }


def dumps(project: Project) -> str:
    """Stable, diffable JSON: fixed key order, two-space indent, trailing newline."""
    return json.dumps(project.to_dict(), indent=2, ensure_ascii=False) + "\n"


def save(project: Project, path: str | Path) -> None:
    """Write atomically; model-file paths are rewritten relative to the new location."""
    path = Path(path)
    if project.path is not None and project.path.parent.resolve() != path.parent.resolve():
        _rebase_paths(project, project.path.parent, path.parent)
    atomic_write_text(path, dumps(project))
    project.path = path


def atomic_write_text(path: Path, text: str) -> None:
    """Temp file, flush, fsync, rename: a crash mid-save leaves the old file intact."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rebase_paths(project: Project, old_dir: Path, new_dir: Path) -> None:
    for node in project.graph.nodes:
        for param in REGISTRY[node.type].params:
            value = node.params.get(param.name)
            if param.kind == PATH and value and not Path(value).is_absolute():
                target = (old_dir / value).resolve()
                node.params[param.name] = os.path.relpath(target, new_dir.resolve())


def load(path: str | Path) -> Project:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError("", "file not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError("", f"cannot read the file: {error}", path) from None
    try:
        project = loads(text)
    except ProjectError as error:
        raise ProjectError(error.where, error.message, path) from None
    project.path = path
    return project


def loads(text: str) -> Project:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProjectError(f"line {error.lineno} column {error.colno}",
                           f"not valid JSON ({error.msg})") from None
    return from_dict(document)


def from_dict(document) -> Project:
    """Check every field, then build the project. Nothing is built from an invalid file."""
    if not isinstance(document, dict):
        raise ProjectError("", f"expected a JSON object at the top level, got {describe(document)}")
    if document.get("format") != FORMAT:
        raise ProjectError("format", f'expected "{FORMAT}", got {describe(document.get("format"))}'
                           " — this is not a Graft project file")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ProjectError("format_version", f"expected a whole number, got {describe(version)}")
    try:
        document = migrate(document, version)
    except MigrationError as error:
        raise ProjectError("format_version", str(error)) from None
    _only_keys(document, "", {"format", "format_version", "name", "description", "nodes", "edges"})
    name = _string(document, "name", "", default="Untitled")
    description = _string(document, "description", "", default="")
    nodes = [_read_node(item, f"nodes[{i}]") for i, item in enumerate(_list(document, "nodes"))]
    edges = [_read_edge(item, f"edges[{i}]") for i, item in enumerate(_list(document, "edges"))]

    graph = Graph()
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        if graph.has_node(node.id):
            raise ProjectError(f"{where}.id", f"duplicate node id {describe(node.id)}")
        if graph.node_by_name(node.name) is not None:
            raise ProjectError(f"{where}.name", f"duplicate node name {describe(node.name)}; "
                               "node names must be unique")
        graph.add_node(node)
    for i, edge in enumerate(edges):
        where = f"edges[{i}]"
        for end, node_id in (("from", edge.source), ("to", edge.target)):
            if not graph.has_node(node_id):
                raise ProjectError(f"{where}.{end}.node", f"no node with id {describe(node_id)}")
        if graph.has_edge(edge.id):
            raise ProjectError(f"{where}.id", f"duplicate edge id {describe(edge.id)}")
        try:
            graph.add_edge(edge)
        except GraphError as error:
            raise ProjectError(f"{where}.to", str(error)) from None
    return Project(graph=graph, name=name, description=description)


def _read_node(item, where: str) -> Node:
    if not isinstance(item, dict):
        raise ProjectError(where, f"expected an object, got {describe(item)}")
    _only_keys(item, where, {"id", "type", "name", "position", "params"})
    node_id = _string(item, "id", where)
    type_name = _string(item, "type", where)
    if type_name not in REGISTRY:
        raise ProjectError(f"{where}.type", f"unknown node type {describe(type_name)} "
                           f"(known: {', '.join(sorted(REGISTRY))})")
    name = _string(item, "name", where)
    try:
        check_name(name)
    except GraphError as error:
        raise ProjectError(f"{where}.name", str(error)) from None
    position = item.get("position", [0, 0])
    if not (isinstance(position, list) and len(position) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in position)):
        raise ProjectError(f"{where}.position", f"expected [x, y] numbers, got {describe(position)}")
    params = item.get("params", {})
    try:
        params = REGISTRY[type_name].check_params(params)
    except ParamError as error:
        place = f"{where}.params.{error.param}" if error.param else f"{where}.params"
        raise ProjectError(place, error.detail) from None
    return Node(node_id, type_name, name, params, (float(position[0]), float(position[1])))


def _read_edge(item, where: str) -> Edge:
    if not isinstance(item, dict):
        raise ProjectError(where, f"expected an object, got {describe(item)}")
    _only_keys(item, where, {"id", "from", "to"})
    edge_id = _string(item, "id", where)
    ends = []
    for end in ("from", "to"):
        value = item.get(end)
        if not isinstance(value, dict):
            raise ProjectError(f"{where}.{end}",
                               f'expected {{"node": ..., "port": ...}}, got {describe(value)}')
        _only_keys(value, f"{where}.{end}", {"node", "port"})
        ends.append((_string(value, "node", f"{where}.{end}"),
                     _string(value, "port", f"{where}.{end}")))
    (source, source_port), (target, target_port) = ends
    return Edge(edge_id, source, source_port, target, target_port)


_MISSING = object()


def _string(container: dict, key: str, where: str, default=_MISSING) -> str:
    place = f"{where}.{key}" if where else key
    value = container.get(key, default)
    if value is _MISSING:
        raise ProjectError(place, "missing")
    if not isinstance(value, str) or (default is _MISSING and not value):
        raise ProjectError(place, f"expected a non-empty string, got {describe(value)}"
                           if default is _MISSING else f"expected a string, got {describe(value)}")
    return value


def _list(container: dict, key: str) -> list:
    value = container.get(key, [])
    if not isinstance(value, list):
        raise ProjectError(key, f"expected a list, got {describe(value)}")
    return value


def _only_keys(container: dict, where: str, allowed: set[str]) -> None:
    for key in container:
        if key not in allowed:
            place = f"{where}.{key}" if where else key
            raise ProjectError(place, f"unknown field (expected: {', '.join(sorted(allowed))})")
