"""Project files: a versioned, documented JSON format (docs/project-format.md).

Loading reads plain JSON into checked records before any live object is built: no
pickle, no code execution, and a malformed file raises one ProjectError naming the
place (`nodes[3].params.units: expected an integer >= 1, got "abc"`). Saving writes the file
whole and never changes the project: relative paths are rebased for the file's folder in the
file only (see paths.py)."""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
from pathlib import Path

from app.core.cards.card import CardError, card_from_dict, card_to_dict, remember_card
from app.core.document.atomic import atomic_write_text
from app.core.document.migrations import MigrationError, migrate
from app.core.document.paths import rebase_document, relative_paths
from app.core.document.project import FORMAT, CardRecord, Project, known_cards
from app.core.document.training_setup import ConfigError, config_from_dict
from app.core.graph.bulk import collector_paused
from app.core.graph.graph import Edge, Graph, GraphError, Node, check_name
from app.core.graph.params import ParamError, describe, finite, place, printable
from app.core.nodes import REGISTRY
from app.core.nodes.base import PRETRAINED

PLACE_CHARACTERS = 80  # of a place in a message: a key may be megabytes long, a value nested 100 deep


class ProjectError(ValueError):
    """A project file that cannot be read; `where` is the place inside the file, cut to
    PLACE_CHARACTERS so that the message stays one short line."""

    def __init__(self, where: str, message: str, file: Path | None = None):
        if len(where) > PLACE_CHARACTERS:
            where = f"{where[:PLACE_CHARACTERS]}…"
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
    with collector_paused():
        _PARSING.refused = False
        try:
            document = json.loads(text.removeprefix("\ufeff"), parse_constant=_refuse_constant,
                                  parse_float=_parse_float, parse_int=_parse_int,
                                  object_pairs_hook=_refuse_duplicate_keys)
        except json.JSONDecodeError as error:
            raise ProjectError(f"line {error.lineno} column {error.colno}",
                               f"not valid JSON ({error.msg})") from None
        except RecursionError:
            raise ProjectError("", "nested too deeply to be a project file") from None
        except ValueError as error:
            raise ProjectError("", f"not a usable JSON document ({error})") from None
        _check_parsed(document, text, _PARSING.refused)
        return from_dict(document)


class _Refused:
    """Stands in for a value the parser must not accept, so that its place can be named.
    Each one made is noted on this thread, so a file without any is not searched for them."""

    def __init__(self, message: str):
        self.message = message
        _PARSING.refused = True


_PARSING = threading.local()  # what the parse of a file on this thread met


def _refuse_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number JSON allows; use a finite number")


def _parse_float(text: str):
    """A float, or a refusal for one too large for a float (1e400 would become inf, which no
    JSON file can hold: the project would open, then never save)."""
    value = float(text)
    if math.isfinite(value):
        return value
    shown = text if len(text) <= 20 else f"a number of {len(text):,} characters"
    return _Refused(f"{shown} is too large for a number; use a finite number")


MAX_DIGITS = 309  # of an integer: a larger one is beyond any float, so no parameter takes it


def _parse_int(text: str):
    """An int, or a refusal for one of more digits than any number a project holds (Python
    itself refuses more than 4,300, without a place)."""
    if len(text.lstrip("-")) <= MAX_DIGITS:
        return int(text)
    return _Refused(f"an integer of {len(text.lstrip('-')):,} digits is too large; use a finite "
                    "number")


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


def _check_parsed(document, text: str | None = None, refused: bool = True) -> None:
    """One walk over the parsed JSON: name the place of anything refused while parsing, of
    strings that could never be written back as UTF-8, and of values nested so deeply that
    reading or saving them would exhaust Python's stack. A place is spelled out only for what
    is refused; plain values are looked at only when the parse `refused` some, and strings
    only when `text` (what was parsed) may hold a lone surrogate, so that a project of
    100,000 nodes is walked in a fraction of a second."""
    strings = text is None or _may_hold_surrogates(text)
    values = refused or strings
    _check_value(document, None, strings)
    stack = [(document, 0, None)] if type(document) in (dict, list) else []
    while stack:  # (container, its depth, its link); a link is (parent link, key or index)
        container, depth, link = stack.pop()
        if type(container) is dict:
            if strings:
                for key in container:
                    _check_utf8(key, _where(link))  # before the key becomes part of a printed place
            items = container.items()
        else:
            items = enumerate(container)
        if depth >= MAX_DEPTH and container:
            first = next(iter(items))[0]
            raise ProjectError(_where((link, first)), f"nested deeper than {MAX_DEPTH} levels; "
                               "no project needs that, so the file is damaged or not written by Graft")
        if values:
            deeper = []
            for key, item in items:
                if type(item) in (dict, list):
                    deeper.append((item, depth + 1, (link, key)))
                else:
                    _check_value(item, (link, key), strings)
        else:
            deeper = [(item, depth + 1, (link, key)) for key, item in items if type(item) in (dict, list)]
        stack.extend(reversed(deeper))  # the first problem in the file is the one named


def _check_value(value, link, strings: bool) -> None:
    if type(value) is _Refused:
        raise ProjectError(_where(link), value.message)
    if strings and type(value) is str:
        _check_utf8(value, _where(link))


def _may_hold_surrogates(text: str) -> bool:
    """Whether a string parsed from `text` may hold a lone surrogate: one written as an escape
    (\\ud800), or one in the text itself (which `loads` may be given)."""
    if _SURROGATE_ESCAPE.search(text):
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _where(link) -> str:
    """The place a link of `_check_parsed` stands for, as messages name it."""
    keys = []
    while link is not None:
        link, key = link
        keys.append(key)
    where = ""
    for key in reversed(keys):
        where = f"{where}[{key}]" if isinstance(key, int) else place(where, key)
    return where


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
    items = _list(document, "nodes")
    nodes = [_read_node(item, f"nodes[{i}]") for i, item in enumerate(items)]
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
        occupied = graph.edge_into(edge.target, edge.target_port)
        if occupied is not None:  # the graph's own message would quote names of any length
            raise ProjectError(f"{where}.to", f"input {printable(graph.node(edge.target).name, 40)}."
                               f"{printable(edge.target_port, 40)} already receives "
                               f"{printable(graph.node(occupied.source).name, 40)}."
                               f"{printable(occupied.source_port, 40)}; an input takes one edge")
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
    unplaced = [node.id for node, item in zip(nodes, items) if "position" not in item]
    return Project(graph=graph, name=name, description=description, cards=cards, training=training,
                   unplaced=unplaced)


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
        inner = error.where if error.where.startswith("[") else f".{error.where}"  # ["a\\nb"]: a quoted key
        raise ProjectError(f"{where}.card{inner if error.where else ''}",
                           f"{error.message}; delete this entry and Graft reads the model again") from None
    return CardRecord(dict(key), list(nodes), card)


def _read_node(item, where: str) -> Node:
    if not isinstance(item, dict):
        raise ProjectError(where, f"expected an object, got {describe(item)}")
    _only_keys(item, where, {"id", "type", "name", "position", "params"})
    node_id = _string(item, "id", where)
    type_name = _string(item, "type", where)
    if type_name not in REGISTRY:
        # Not every type: 32 names would make a message of over 400 characters.
        likely = difflib.get_close_matches(type_name, REGISTRY, n=2) if len(type_name) < 100 else []
        guess = f" (did you mean {' or '.join(describe(t) for t in likely)}?)" if likely else ""
        raise ProjectError(f"{where}.type", f"unknown node type {describe(type_name)}{guess}; every "
                           "type is listed in the node reference of docs/project-format.md")
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
    value = container.get(key, default)
    if isinstance(value, str) and (value or default is not _MISSING):
        return value  # the common case first: a file has hundreds of thousands of these
    place = f"{where}.{key}" if where else key
    if value is _MISSING:
        raise ProjectError(place, "missing")
    raise ProjectError(place, f"expected a non-empty string, got {describe(value)}"
                       if default is _MISSING else f"expected a string, got {describe(value)}")


def _list(container: dict, key: str) -> list:
    value = container.get(key, [])
    if not isinstance(value, list):
        raise ProjectError(key, f"expected a list, got {describe(value)}")
    return value


def _only_keys(container: dict, where: str, allowed: set[str]) -> None:
    if container.keys() <= allowed:
        return
    for key in container:
        if key not in allowed:
            raise ProjectError(place(where, key), f"unknown field (expected: {', '.join(sorted(allowed))})")
