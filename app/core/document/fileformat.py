"""Project files: a versioned, documented JSON format (docs/project-format.md).

Loading reads plain JSON into checked records before any live object is built: no
pickle, no code execution, and a malformed file raises one ProjectError naming the
place (`nodes[3].params.units: expected an integer >= 1, got "abc"`). Saving writes the file
whole and never changes the project: relative paths are rebased for the file's folder in the
file only (see paths.py)."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.cards.card import CardError, card_from_dict, card_to_dict, remember_card
from app.core.document.atomic import atomic_write_text
from app.core.document.migrations import MigrationError, migrate
from app.core.document.paths import rebase_document, relative_paths
from app.core.document.project import FORMAT, CardRecord, Project, known_cards
from app.core.document.training_setup import ConfigError, config_from_dict
from app.core.graph.graph import Edge, Graph, GraphError, Node, check_name
from app.core.graph.params import ParamError, describe, finite, place
from app.core.nodes import REGISTRY
from app.core.nodes.base import PRETRAINED


class ProjectError(ValueError):
    """A project file that cannot be read; `where` is the place inside the file."""

    def __init__(self, where: str, message: str, file: Path | None = None):
        self.where, self.message, self.file = where, message, file
        place = f"{file}: " if file else ""
        super().__init__(f"{place}{where}: {message}" if where else f"{place}{message}")


def dumps(project: Project) -> str:
    """The project as it is in memory, as stable, diffable JSON (for copies and recovery)."""
    return dump_document(project.to_dict())


def dump_document(document: dict) -> str:
    """Fixed key order, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def file_document(project: Project, path: Path) -> dict:
    """What `save(project, path)` writes: relative paths rebased for the file's folder, and the
    cards of the models known now."""
    document = project.to_dict()
    document["cards"] = [{"key": r.key, "nodes": list(r.nodes), "card": card_to_dict(r.card)}
                         for r in known_cards(project)]
    return rebase_document(document, project.folder, Path(path).parent)


def save(project: Project, path: str | Path) -> None:
    """Write the project's file atomically at `path`, which becomes its path. Nothing else of
    the project changes: its paths stay relative to its folder (see paths.py). A project saved
    for the first time that holds no relative path takes the file's folder as its own."""
    path = Path(path)
    atomic_write_text(path, dump_document(file_document(project, path)))
    if project.path is None and not relative_paths(project.to_dict()):
        project.folder = path.parent
    project.path = path


def load(path: str | Path) -> Project:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ProjectError("", "file not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError("", f"cannot read the file: {error}", path) from None
    try:
        project = loads(text)
    except ProjectError as error:
        raise ProjectError(error.where, error.message, path) from None
    project.path, project.folder = path, path.parent
    return project


def loads(text: str) -> Project:
    try:
        document = json.loads(text.removeprefix("\ufeff"), parse_constant=_refuse_constant,
                              object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ProjectError(f"line {error.lineno} column {error.colno}",
                           f"not valid JSON ({error.msg})") from None
    except RecursionError:
        raise ProjectError("", "nested too deeply to be a project file") from None
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise ProjectError("", f"not a usable JSON document ({error})") from None
    _check_parsed(document)
    return from_dict(document)


class _Refused:
    """Stands in for a value the parser must not accept, so that its place can be named."""

    def __init__(self, message: str):
        self.message = message


def _refuse_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number JSON allows; use a finite number")


def _refuse_duplicate_keys(pairs: list):
    obj = dict(pairs)
    if len(obj) < len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for key in keys if keys.count(key) > 1)
        return _Refused(f'the key "{duplicate}" appears twice; keep one')
    return obj


_SURROGATE = ("contains an unpaired surrogate escape (like \\ud800); remove it so the file "
              "can be saved again")


MAX_DEPTH = 100  # of nested values: a Keras layer's config needs a few dozen, Python's stack ~1000


def _check_parsed(value, where: str = "", depth: int = 0) -> None:
    """One walk over the parsed JSON: name the place of anything refused while parsing, of
    strings that could never be written back as UTF-8, and of values nested so deeply that
    reading or saving them would exhaust Python's stack."""
    if depth > MAX_DEPTH:
        raise ProjectError(where, f"nested deeper than {MAX_DEPTH} levels; no project needs that, so "
                           "the file is damaged or not written by Graft")
    if isinstance(value, _Refused):
        raise ProjectError(where, value.message)
    if isinstance(value, str):
        _check_utf8(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_utf8(key, where)  # before the key becomes part of a printed place
            _check_parsed(item, place(where, key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_parsed(item, f"{where}[{i}]", depth + 1)


def _check_utf8(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProjectError(where, _SURROGATE) from None


def from_dict(document) -> Project:
    """Check every field, then build the project. Nothing is built from an invalid file."""
    if not isinstance(document, dict):
        raise ProjectError("", f"expected a JSON object at the top level, got {describe(document)}")
    if document.get("format") != FORMAT:
        raise ProjectError("format", f'expected "{FORMAT}", got {describe(document.get("format"))}'
                           " — this is not a Graft project file")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ProjectError("format_version",
                           f"expected a whole number >= 0, got {describe(version)}")
    try:
        document = migrate(document, version)
    except MigrationError as error:
        raise ProjectError("", str(error)) from None
    _only_keys(document, "", {"format", "format_version", "name", "description", "nodes", "edges",
                              "cards", "training"})
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
    cards = [_read_card(item, f"cards[{i}]", graph) for i, item in enumerate(_list(document, "cards"))]
    try:
        training = config_from_dict(document.get("training"))
    except ConfigError as error:
        raise ProjectError(error.where, error.message) from None
    for record in cards:
        remember_card(record.key, record.card)
    return Project(graph=graph, name=name, description=description, cards=cards, training=training)


def snapshot(project: Project) -> Project:
    """An independent copy (through the file format), for work on another thread."""
    copied = from_dict(json.loads(dumps(project)))
    copied.path, copied.folder = project.path, project.folder
    return copied


def _read_card(item, where: str, graph: Graph) -> CardRecord:
    if not isinstance(item, dict):
        raise ProjectError(where, f"expected an object, got {describe(item)}")
    _only_keys(item, where, {"key", "nodes", "card"})
    key = item.get("key")
    if not isinstance(key, dict) or not key:
        raise ProjectError(f"{where}.key", f"expected an object naming the model, got {describe(key)}")
    nodes = item.get("nodes", [])
    if not isinstance(nodes, list):
        raise ProjectError(f"{where}.nodes", f"expected a list of node ids, got {describe(nodes)}")
    for j, node_id in enumerate(nodes):
        if not isinstance(node_id, str) or not graph.has_node(node_id):
            raise ProjectError(f"{where}.nodes[{j}]", f"no node with id {describe(node_id)}")
        if REGISTRY[graph.node(node_id).type].category != PRETRAINED:
            raise ProjectError(f"{where}.nodes[{j}]", f"node {describe(node_id)} is not a pretrained "
                               "model, so it has no card; remove it from this list")
    try:
        card = card_from_dict(item.get("card"))
    except CardError as error:
        place = f"{where}.card.{error.where}" if error.where else f"{where}.card"
        raise ProjectError(place, f"{error.message}; delete this entry and Graft reads the model "
                           "again") from None
    return CardRecord(dict(key), list(nodes), card)


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
            isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v)
            for v in position)):
        raise ProjectError(f"{where}.position", f"expected [x, y] numbers, got {describe(position)}")
    params = item.get("params", {})
    try:
        params = REGISTRY[type_name].check_params(params)
    except ParamError as error:
        raise ProjectError(place(f"{where}.params", error.param) if error.param else f"{where}.params",
                           error.detail) from None
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
            raise ProjectError(place(where, key), f"unknown field (expected: {', '.join(sorted(allowed))})")
