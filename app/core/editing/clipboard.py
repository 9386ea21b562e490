"""Copy and paste as project JSON.

The clipboard holds a complete project document, so nodes travel between windows through
the system clipboard as plain text, and a paste reads them with the same strict loader as
a file: a malformed clipboard is refused with its place named, and nothing in it runs.

Relative model-file paths are relative to the project file. The copied document's
description names the folder they were relative to, so a paste into a project stored
elsewhere rebases them; text without that note (say, a .graft file's content) is taken as
relative to the pasting project."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from app.core.document.fileformat import ProjectError, dumps, loads
from app.core.document.paths import rebase_document
from app.core.document.project import Project
from app.core.editing.commands import AddNode, Command, Connect, Macro, new_node
from app.core.editing.layout import place_unplaced
from app.core.editing.placement import free_offset
from app.core.graph.graph import Edge, Graph

PATHS_NOTE = "Relative paths are relative to "


class PasteNodes(Macro):
    """A paste as one undoable step; `node_ids` are the pasted nodes, for the editor to select."""

    @property
    def node_ids(self) -> list[str]:
        return [command.node.id for command in self.commands if isinstance(command, AddNode)]


def copy_text(graph: Graph, node_ids: Iterable[str], base_dir: Path | None = None) -> str:
    """The selected nodes (in graph order) and the edges between them, as a project document;
    `base_dir` is the folder their relative paths are relative to (the working directory for
    an unsaved project, as for loading models)."""
    return dumps(_clip(graph, node_ids, base_dir))


def paste_command(graph: Graph, text: str, offset: tuple[float, float] = (40.0, 40.0),
                  at: tuple[float, float] | None = None, base_dir: Path | None = None) -> PasteNodes:
    """Add the document's nodes and edges under fresh ids and names unique in `graph`, shifted
    by `offset`, or with their top-left at `at`, or the nearest place to that where they cover
    no node. Raises ProjectError for malformed text."""
    return _paste(graph, loads(text), "Paste", offset, at, base_dir)


def duplicate_command(graph: Graph, node_ids: Iterable[str],
                      offset: tuple[float, float] = (40.0, 40.0)) -> PasteNodes:
    return _paste(graph, _clip(graph, node_ids, None), "Duplicate", offset, None, None)


def _clip(graph: Graph, node_ids: Iterable[str], base_dir: Path | None) -> Project:
    selected = set(node_ids)
    for node_id in selected:
        graph.node(node_id)  # an unknown id is a caller's bug: raise the GraphError naming it
    clip = Graph()
    for node in graph.nodes:
        if node.id in selected:
            clip.add_node(node.copy())
    for edge in graph.edges:
        if edge.source in selected and edge.target in selected:
            clip.add_edge(edge)
    folder = (base_dir or Path.cwd()).resolve()
    return Project(clip, name="Clipboard", description=f"{PATHS_NOTE}{folder}")


def _paste(graph: Graph, clip: Project, verb: str, offset: tuple[float, float],
           at: tuple[float, float] | None, base_dir: Path | None) -> PasteNodes:
    place_unplaced(clip)  # text without positions is laid out, not piled up
    nodes = clip.graph.nodes
    if at is not None and nodes:
        offset = (at[0] - min(node.position[0] for node in nodes),
                  at[1] - min(node.position[1] for node in nodes))
    offset = free_offset(graph, clip.graph, offset)  # beside what is there, never on it
    rebased = _rebased_params(clip, base_dir or Path.cwd())
    # Ids and names are apart: a node named "n1" keeps its name beside a new node whose id is n1
    ids: set[str] = set()
    names: set[str] = set()
    new_ids: dict[str, str] = {}
    commands: list[Command] = []
    for node in nodes:
        pasted = new_node(graph, node.type, rebased.get(node.id, node.params),
                          (node.position[0] + offset[0], node.position[1] + offset[1]),
                          name=graph.unique_name(node.name, names), reserved=ids)
        ids.add(pasted.id)
        names.add(pasted.name)
        new_ids[node.id] = pasted.id
        commands.append(AddNode(pasted))
    for edge in clip.graph.edges:
        pasted_edge = Edge(graph.new_edge_id(ids), new_ids[edge.source], edge.source_port,
                           new_ids[edge.target], edge.target_port)
        ids.add(pasted_edge.id)
        commands.append(Connect(pasted_edge))
    return PasteNodes(f"{verb} {len(nodes)} node{'s' if len(nodes) != 1 else ''}", commands)


def _rebased_params(clip: Project, base_dir: Path) -> dict[str, dict]:
    """Params with relative paths rewritten for `base_dir`, by node id."""
    if not clip.description.startswith(PATHS_NOTE):
        return {}
    try:
        copied_from = Path(clip.description.removeprefix(PATHS_NOTE)).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a null byte, a symlink loop
        raise ProjectError("description", f"names no usable folder for relative paths ({error})"
                           ) from None
    document = rebase_document(clip.to_dict(), copied_from, base_dir)
    return {node["id"]: node["params"] for node in document["nodes"]}
