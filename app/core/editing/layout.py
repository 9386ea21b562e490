"""Auto-layout: data flows left to right, one column per topological generation.

Cycles are laid out through the condensation (each strongly connected group is one unit,
its members stacked in one column) so that a graph mid-edit never makes the layout fail.
Within a column, units are ordered by the mean height of their predecessors (the barycentre
heuristic), which avoids most crossings a fan-out or merge would otherwise cause. Separate
components are stacked one below the other so their columns never interleave."""

from __future__ import annotations

import networkx as nx

from app.core.editing.commands import MoveNodes
from app.core.graph.graph import Graph

Position = tuple[float, float]


def auto_layout(graph: Graph, column_gap: float = 320.0, row_gap: float = 150.0
                ) -> dict[str, Position]:
    """A new position for every node; the top-left of all nodes stays where it was, so the
    view does not jump."""
    if not graph.nodes:
        return {}
    order = {node.id: index for index, node in enumerate(graph.nodes)}
    condensed = nx.condensation(graph.topology)  # a DAG; acyclic graphs give one node per unit
    members = {unit: sorted(data["members"], key=order.__getitem__)
               for unit, data in condensed.nodes(data=True)}
    first = {unit: order[ids[0]] for unit, ids in members.items()}

    positions: dict[str, Position] = {}
    top = 0.0
    for component in sorted(nx.weakly_connected_components(condensed),
                            key=lambda units: min(first[u] for u in units)):
        placed = _place_component(condensed.subgraph(component), members, first, column_gap, row_gap)
        lowest = min(y for _, y in placed.values())
        highest = max(y for _, y in placed.values())
        positions |= {node_id: (x, y - lowest + top) for node_id, (x, y) in placed.items()}
        top += highest - lowest + row_gap

    old_left = min(node.position[0] for node in graph.nodes)
    old_top = min(node.position[1] for node in graph.nodes)
    new_left = min(x for x, _ in positions.values())
    new_top = min(y for _, y in positions.values())
    return {node.id: (positions[node.id][0] - new_left + old_left,
                      positions[node.id][1] - new_top + old_top)
            for node in graph.nodes}


def _place_component(dag: nx.DiGraph, members: dict[int, list[str]], first: dict[int, int],
                     column_gap: float, row_gap: float) -> dict[str, Position]:
    """Positions of one connected component's nodes, its columns centred on y = 0."""
    unit_y: dict[int, float] = {}
    placed: dict[str, Position] = {}

    def barycentre(unit: int) -> float:
        above = [unit_y[p] for p in dag.predecessors(unit)]
        return sum(above) / len(above) if above else 0.0

    for column, generation in enumerate(nx.topological_generations(dag)):
        units = sorted(generation, key=lambda unit: (barycentre(unit), first[unit]))
        rows = sum(len(members[unit]) for unit in units)
        row = 0
        for unit in units:
            ys = [(row + i - (rows - 1) / 2) * row_gap for i in range(len(members[unit]))]
            placed |= {node_id: (column * column_gap, y) for node_id, y in zip(members[unit], ys)}
            unit_y[unit] = sum(ys) / len(ys)
            row += len(ys)
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
