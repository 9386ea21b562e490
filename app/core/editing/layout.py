"""Auto-layout: data flows left to right, one column per topological generation.

Cycles are laid out through the condensation (each strongly connected group is one unit,
its members stacked in one column) so that a graph mid-edit never makes the layout fail.
Within a column, units are ordered by the mean height of their predecessors (the barycentre
heuristic), which avoids most crossings a fan-out or merge would otherwise cause. Separate
components are stacked one below the other so their columns never interleave.

A project file may leave out node positions; opening it lays those nodes out here
(`open_project`, `place_unplaced`), since the document layer below cannot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.editing.commands import MoveNodes
from app.core.editing.placement import CLEARANCE, COLUMN, node_size
from app.core.graph.graph import Graph

if TYPE_CHECKING:
    import networkx as nx

Position = tuple[float, float]
ROW = 150.0  # between the tops of two nodes stacked in a column


def auto_layout(graph: Graph, column_gap: float = COLUMN, row_gap: float = ROW
                ) -> dict[str, Position]:
    """A new position for every node; the top-left of all nodes stays where it was, so the
    view does not jump. Nodes in a column are `row_gap` apart, or further where a tall card
    (a merge with many inputs) needs it to keep CLEARANCE from the next."""
    import networkx as nx  # here: the editor's launch never lays out

    if not graph.nodes:
        return {}
    order = {node.id: index for index, node in enumerate(graph.nodes)}
    heights = {node.id: node_size(graph, node)[1] for node in graph.nodes}
    condensed = nx.condensation(graph.topology)  # a DAG; acyclic graphs give one node per unit
    members = {unit: sorted(data["members"], key=order.__getitem__)
               for unit, data in condensed.nodes(data=True)}
    first = {unit: order[ids[0]] for unit, ids in members.items()}

    positions: dict[str, Position] = {}
    top = 0.0
    for component in sorted(nx.weakly_connected_components(condensed),
                            key=lambda units: min(first[u] for u in units)):
        placed = _place_component(condensed.subgraph(component), members, first, heights,
                                  column_gap, row_gap)
        lowest = min(y for _, y in placed.values())
        below = max(max(row_gap, heights[node_id] + CLEARANCE) + y for node_id, (_, y) in placed.items())
        positions |= {node_id: (x, y - lowest + top) for node_id, (x, y) in placed.items()}
        top += below - lowest

    old_left = min(node.position[0] for node in graph.nodes)
    old_top = min(node.position[1] for node in graph.nodes)
    new_left = min(x for x, _ in positions.values())
    new_top = min(y for _, y in positions.values())
    return {node.id: (positions[node.id][0] - new_left + old_left,
                      positions[node.id][1] - new_top + old_top)
            for node in graph.nodes}


def _place_component(dag: nx.DiGraph, members: dict[int, list[str]], first: dict[int, int],
                     heights: dict[str, float], column_gap: float, row_gap: float
                     ) -> dict[str, Position]:
    """Positions of one connected component's nodes, its columns centred on y = 0."""
    unit_y: dict[int, float] = {}
    placed: dict[str, Position] = {}

    def barycentre(unit: int) -> float:
        above = [unit_y[p] for p in dag.predecessors(unit)]
        return sum(above) / len(above) if above else 0.0

    import networkx as nx

    for column, generation in enumerate(nx.topological_generations(dag)):
        units = sorted(generation, key=lambda unit: (barycentre(unit), first[unit]))
        stacked = [node_id for unit in units for node_id in members[unit]]
        tops = [0.0]
        for upper in stacked[:-1]:
            tops.append(tops[-1] + max(row_gap, heights[upper] + CLEARANCE))
        middle = tops[-1] / 2
        ys = dict(zip(stacked, (y - middle for y in tops)))
        for unit in units:
            placed |= {node_id: (column * column_gap, ys[node_id]) for node_id in members[unit]}
            unit_y[unit] = sum(ys[node_id] for node_id in members[unit]) / len(members[unit])
    return placed


class AutoLayout(MoveNodes):
    """MoveNodes under the name the undo history shows for it."""

    text = "Auto-layout"


def layout_command(graph: Graph) -> AutoLayout | None:
    """One undoable step moving every node that the layout places elsewhere; None when the
    graph is already laid out."""
    moves = {node_id: position for node_id, position in auto_layout(graph).items()
             if graph.node(node_id).position != position}
    return AutoLayout(moves) if moves else None


def open_project(path: str | Path) -> Project:
    """A project file, read (`fileformat.load`: its errors name the place) and laid out where
    it gives no positions: what a user opens (the editor does) comes through here."""
    project = load(path)
    place_unplaced(project)
    return project


def place_unplaced(project: Project) -> None:
    """Give the nodes that their file left without a position one, so none is piled on another.

    This is part of reading the file, not an edit: nothing goes on the undo stack and the
    project opens unmodified; the positions are written with its next save. With no position
    in the file at all, the whole graph is laid out; otherwise the nodes that have one keep it
    and the others, laid out among themselves, go in a block below them."""
    graph, unplaced = project.graph, set(project.unplaced)
    project.unplaced = []
    if not unplaced:
        return
    laid_out = auto_layout(graph)
    placed = [node for node in graph.nodes if node.id not in unplaced]
    left = top = 0.0
    if placed:
        left = min(node.position[0] for node in placed)
        top = max(node.position[1] + node_size(graph, node)[1] for node in placed) + ROW
    block = {node_id: laid_out[node_id] for node_id in unplaced}
    block_left = min(x for x, _ in block.values())
    block_top = min(y for _, y in block.values())
    for node_id, (x, y) in block.items():
        graph.move(node_id, (x - block_left + left, y - block_top + top))
