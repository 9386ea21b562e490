"""The graph model: nodes with ports, edges between ports, positions — the state that
every view mirrors. Mutations emit events; commands (see commands.py) wrap them with undo.

A networkx DiGraph holds the topology for the graph algorithms (one arc per connected node
pair, however many edges join them: that is all the algorithms need). It is built on first
use: importing networkx is a sixth of the editor's launch, and validating a graph without a
cycle needs only `topological_order`."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.core.graph.params import describe, printable

if TYPE_CHECKING:
    import networkx as nx

MAX_NAME = 100  # characters of a node name: it becomes a Keras layer name and is in every message
NAME_PATTERN = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME - 1}}}")  # used with fullmatch


class GraphError(ValueError):
    """An edit the graph refuses (unknown id, taken name, occupied port)."""


@dataclass
class Node:
    id: str
    type: str
    name: str
    params: dict = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)

    def copy(self) -> Node:
        return Node(self.id, self.type, self.name, copy.deepcopy(self.params), tuple(self.position))


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    source_port: str
    target: str
    target_port: str


@dataclass(frozen=True)
class GraphEvent:
    """What changed. kind: node_added, node_removed, node_changed, node_moved,
    edge_added, edge_removed."""

    kind: str
    node_id: str | None = None
    edge: Edge | None = None


Listener = Callable[[GraphEvent], None]


class Graph:
    def __init__(self):
        self._nodes: dict[str, Node] = {}
        self._edges: dict[str, Edge] = {}
        # Per-node adjacency for fast local queries; `topology` serves the graph algorithms.
        self._in: dict[str, dict[str, Edge]] = {}
        self._out: dict[str, dict[str, Edge]] = {}
        # Indexes that keep loading and editing linear in the graph's size
        self._ids_by_name: dict[str, str] = {}
        self._edge_into: dict[tuple[str, str], Edge] = {}  # (target node, input port) → its edge
        self._topology: nx.DiGraph | None = None  # built by `topology` on first use
        self._listeners: list[Listener] = []

    # -- observing -------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, kind: str, node_id: str | None = None, edge: Edge | None = None) -> None:
        if not self._listeners:  # a graph being loaded: 200,000 events for nobody
            return
        event = GraphEvent(kind, node_id, edge)
        for listener in list(self._listeners):
            listener(event)

    # -- reading ---------------------------------------------------------------
    @property
    def topology(self) -> nx.DiGraph:
        """The connected node pairs as a networkx DiGraph, for its algorithms; kept up to date
        with every edit once built."""
        if self._topology is None:
            import networkx as nx

            topology = nx.DiGraph()
            topology.add_nodes_from(self._nodes)
            for edge in self._edges.values():
                _add_arc(topology, edge)
            self._topology = topology
        return self._topology

    def topological_order(self) -> list[str] | None:
        """Node ids, each after every node that feeds it, in generations as networkx orders
        them; None when the graph has a cycle."""
        feeders = {node_id: {edge.source for edge in edges.values()} for node_id, edges in self._in.items()}
        waiting = {node_id: len(sources) for node_id, sources in feeders.items()}
        ready = [node_id for node_id in self._nodes if not waiting[node_id]]
        order: list[str] = []
        while ready:
            order += ready
            following = []
            for node_id in ready:
                for target in dict.fromkeys(edge.target for edge in self._out[node_id].values()):
                    waiting[target] -= 1
                    if not waiting[target]:
                        following.append(target)
            ready = following
        return order if len(order) == len(self._nodes) else None

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges.values())

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def edge(self, edge_id: str) -> Edge:
        try:
            return self._edges[edge_id]
        except KeyError:
            raise GraphError(f"no edge with id {edge_id!r}") from None

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def has_edge(self, edge_id: str) -> bool:
        return edge_id in self._edges

    def node_by_name(self, name: str) -> Node | None:
        node_id = self._ids_by_name.get(name)
        return None if node_id is None else self._nodes[node_id]

    def in_edges(self, node_id: str) -> list[Edge]:
        if node_id not in self._in:
            self.node(node_id)  # raises the GraphError naming the id
        return list(self._in[node_id].values())

    def out_edges(self, node_id: str) -> list[Edge]:
        if node_id not in self._out:
            self.node(node_id)
        return list(self._out[node_id].values())

    def edge_into(self, node_id: str, port: str) -> Edge | None:
        if node_id not in self._in:
            self.node(node_id)  # raises the GraphError naming the id
        return self._edge_into.get((node_id, port))

    def upstream(self, node_ids) -> set[str]:
        """`node_ids` and every node that feeds them, directly or not: one walk for all of
        them (a trunk shared by many heads is walked once, not once a head)."""
        reached = set(node_ids)
        waiting = list(reached)
        while waiting:
            for source in {edge.source for edge in self._in[waiting.pop()].values()}:
                if source not in reached:
                    reached.add(source)
                    waiting.append(source)
        return reached

    def edges_of(self, node_id: str) -> list[Edge]:
        return self.in_edges(node_id) + [e for e in self.out_edges(node_id) if e.target != node_id]

    def describe_edge(self, edge: Edge) -> str:
        """`backbone.out → head.in` — how messages name an edge."""
        source = self._nodes[edge.source].name if edge.source in self._nodes else edge.source
        target = self._nodes[edge.target].name if edge.target in self._nodes else edge.target
        source, target = printable(source, 40), printable(target, 40)
        return f"{source}.{printable(edge.source_port, 40)} → {target}.{printable(edge.target_port, 40)}"

    # -- ids and names ---------------------------------------------------------
    def new_node_id(self, reserved: set[str] = frozenset()) -> str:
        """A free node id, also avoiding ids reserved by nodes about to be added."""
        return _next_id("n", self._nodes.keys() | reserved)

    def new_edge_id(self, reserved: set[str] = frozenset()) -> str:
        return _next_id("e", self._edges.keys() | reserved)

    def unique_name(self, base: str, taken: set[str] | None = None) -> str:
        """`dense`, `dense_1`, `dense_2`… the first name no node has."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", base) or "node"
        if not re.match(r"[A-Za-z_]", base):
            base = f"n_{base}"
        taken = taken or set()

        def used(name: str) -> bool:
            return name in self._ids_by_name or name in taken

        if not used(base):
            return base
        stem = re.sub(r"_\d+$", "", base)[:MAX_NAME - 8]  # room for the number within MAX_NAME
        i = 1
        while used(f"{stem}_{i}"):
            i += 1
        return f"{stem}_{i}"

    # -- mutating (commands call these) ----------------------------------------
    def node_index(self, node_id: str) -> int:
        return list(self._nodes).index(node_id)

    def edge_index(self, edge_id: str) -> int:
        return list(self._edges).index(edge_id)

    def add_node(self, node: Node, index: int | None = None) -> None:
        """Add at the end, or at `index` (undo puts a node back where it was)."""
        if node.id in self._nodes:
            raise GraphError(f"a node with id {node.id!r} already exists")
        check_name(node.name)
        if self.node_by_name(node.name) is not None:
            raise GraphError(f"the name {node.name!r} is taken by another node")
        _insert(self._nodes, node.id, node, index)
        self._ids_by_name[node.name] = node.id
        self._in[node.id], self._out[node.id] = {}, {}
        if self._topology is not None:
            self._topology.add_node(node.id)
        self._emit("node_added", node_id=node.id)

    def remove_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        if self.edges_of(node_id):
            raise GraphError(f"node {node.name!r} still has connections; remove them first")
        del self._nodes[node_id], self._in[node_id], self._out[node_id], self._ids_by_name[node.name]
        if self._topology is not None:
            self._topology.remove_node(node_id)
        self._emit("node_removed", node_id=node_id)
        return node

    def set_params(self, node_id: str, params: dict) -> None:
        self.node(node_id).params = copy.deepcopy(params)
        self._emit("node_changed", node_id=node_id)

    def rename(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        check_name(name)
        other = self.node_by_name(name)
        if other is not None and other.id != node_id:
            raise GraphError(f"the name {name!r} is taken by another node")
        del self._ids_by_name[node.name]
        node.name = name
        self._ids_by_name[name] = node_id
        self._emit("node_changed", node_id=node_id)

    def move(self, node_id: str, position: tuple[float, float]) -> None:
        self.node(node_id).position = (float(position[0]), float(position[1]))
        self._emit("node_moved", node_id=node_id)

    def add_edge(self, edge: Edge, index: int | None = None) -> None:
        if edge.id in self._edges:
            raise GraphError(f"an edge with id {edge.id!r} already exists")
        self.node(edge.source)
        target = self.node(edge.target)
        occupied = self.edge_into(edge.target, edge.target_port)
        if occupied is not None:
            raise GraphError(
                f"input {target.name}.{edge.target_port} already receives "
                f"{self.node(occupied.source).name}.{occupied.source_port}; an input takes one edge")
        _insert(self._edges, edge.id, edge, index)
        self._in[edge.target][edge.id] = self._out[edge.source][edge.id] = edge
        self._edge_into[(edge.target, edge.target_port)] = edge
        if self._topology is not None:
            _add_arc(self._topology, edge)
        self._emit("edge_added", edge=edge)

    def remove_edge(self, edge_id: str) -> Edge:
        edge = self.edge(edge_id)
        del self._edges[edge_id], self._in[edge.target][edge_id], self._out[edge.source][edge_id]
        del self._edge_into[(edge.target, edge.target_port)]
        if self._topology is not None:
            arc = self._topology[edge.source][edge.target]
            arc["edges"] -= 1
            if not arc["edges"]:
                self._topology.remove_edge(edge.source, edge.target)
        self._emit("edge_removed", edge=edge)
        return edge


def _add_arc(topology: nx.DiGraph, edge: Edge) -> None:
    """Count `edge` on the arc between its nodes (an arc for the first edge between them)."""
    if topology.has_edge(edge.source, edge.target):
        topology[edge.source][edge.target]["edges"] += 1
    else:
        topology.add_edge(edge.source, edge.target, edges=1)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise GraphError(
            f"invalid node name {describe(name)}: use up to {MAX_NAME} letters, digits and "
            "underscores, not starting with a digit"
        )


def _insert(items: dict, key: str, value, index: int | None) -> None:
    """Insert into an ordered dict at `index` (the end when None): file order is user-visible."""
    if index is None or index >= len(items):
        items[key] = value
        return
    entries = list(items.items())
    entries.insert(index, (key, value))
    items.clear()
    items.update(entries)


def _next_id(prefix: str, taken) -> str:
    i = len(taken) + 1
    while f"{prefix}{i}" in taken:
        i += 1
    return f"{prefix}{i}"
