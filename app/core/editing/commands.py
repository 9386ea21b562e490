"""Edits as commands with do/undo on the project. Every change a user makes to a project goes
through one of these: graph edits, parameters, renames, fixes, paste, layout and the training
setup. The editor's QUndoStack wraps them; the CLI and tests use `CommandStack`.

A command is built with everything it needs (ids are chosen up front) so redo after
undo recreates exactly the same nodes and edges."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from app.core.analysis.fixes import Fix
from app.core.document.project import Project
from app.core.document.training_setup import TrainingConfig, rename_node
from app.core.editing.placement import insertion_room
from app.core.graph.graph import Edge, Graph, GraphError, Node
from app.core.nodes import node_type


class Command(ABC):
    """One undoable change to a project; `text` names it in the Edit menu."""

    text = ""

    @abstractmethod
    def do(self, project: Project) -> None:
        """Make the change; raise (GraphError, ParamError, ConfigError) before changing anything."""

    @abstractmethod
    def undo(self, project: Project) -> None:
        """Put the project back exactly as `do` found it."""


def new_node(graph: Graph, type_name: str, params: dict | None = None,
             position=(0.0, 0.0), name: str | None = None, reserved: set[str] = frozenset()
             ) -> Node:
    """A checked, not yet added node with a fresh id and a unique name; `reserved` holds
    ids and names of other nodes about to be added in the same step."""
    kind = node_type(type_name)
    checked = kind.check_params(params or {})
    return Node(graph.new_node_id(reserved), type_name,
                name or graph.unique_name(kind.name_for(checked), set(reserved)),
                checked, (float(position[0]), float(position[1])))


@dataclass
class AddNode(Command):
    node: Node

    @property
    def text(self):
        return f"Add {self.node.name}"

    def do(self, project):
        project.graph.add_node(self.node.copy())

    def undo(self, project):
        project.graph.remove_node(self.node.id)


@dataclass
class Connect(Command):
    """Connect an output port to an input port, replacing what that input had."""

    edge: Edge
    _replaced: tuple[int, Edge] | None = field(default=None, init=False)

    @property
    def text(self):
        return "Connect"

    def do(self, project):
        graph = project.graph
        if self.edge.source == self.edge.target:
            raise GraphError("a node cannot feed itself")
        occupied = graph.edge_into(self.edge.target, self.edge.target_port)
        self._replaced = None
        if occupied is not None:
            self._replaced = (graph.edge_index(occupied.id), graph.remove_edge(occupied.id))
        graph.add_edge(self.edge)

    def undo(self, project):
        graph = project.graph
        graph.remove_edge(self.edge.id)
        if self._replaced is not None:
            index, edge = self._replaced
            graph.add_edge(edge, index)


def connect(graph: Graph, source: str, source_port: str, target: str, target_port: str) -> Connect:
    return Connect(Edge(graph.new_edge_id(), source, source_port, target, target_port))


@dataclass
class Disconnect(Command):
    edge_id: str
    _index: int = field(default=0, init=False)
    _edge: Edge | None = field(default=None, init=False)

    @property
    def text(self):
        return "Disconnect"

    def do(self, project):
        graph = project.graph
        self._index = graph.edge_index(self.edge_id)
        self._edge = graph.remove_edge(self.edge_id)

    def undo(self, project):
        project.graph.add_edge(self._edge, self._index)


@dataclass
class RemoveNodes(Command):
    """Delete nodes with every edge touching them; undo restores both exactly."""

    node_ids: list[str]
    _nodes: list[tuple[int, Node]] = field(default_factory=list, init=False)
    _edges: list[tuple[int, Edge]] = field(default_factory=list, init=False)

    @property
    def text(self):
        return f"Delete {len(self.node_ids)} node{'s' if len(self.node_ids) != 1 else ''}"

    def do(self, project):
        graph = project.graph
        edge_ids = dict.fromkeys(e.id for n in self.node_ids for e in graph.edges_of(n))
        self._edges = [(graph.edge_index(e), graph.remove_edge(e)) for e in edge_ids]
        self._nodes = [(graph.node_index(n), graph.remove_node(n)) for n in self.node_ids]

    def undo(self, project):
        graph = project.graph
        for index, node in reversed(self._nodes):
            graph.add_node(node, index)
        for index, edge in reversed(self._edges):
            graph.add_edge(edge, index)


@dataclass
class SetParams(Command):
    """Change some parameters of one node; refused (ParamError) before anything changes."""

    node_id: str
    changes: dict
    _before: dict | None = field(default=None, init=False)

    @property
    def text(self):
        return f"Change {', '.join(self.changes)}"

    def do(self, project):
        graph = project.graph
        node = graph.node(self.node_id)
        checked = node_type(node.type).check_params({**node.params, **self.changes})
        self._before = dict(node.params)
        graph.set_params(self.node_id, checked)

    def undo(self, project):
        project.graph.set_params(self.node_id, self._before)


@dataclass
class Rename(Command):
    """Rename a node, and the node wherever the training setup names it, as one step."""

    node_id: str
    name: str
    _before: str = field(default="", init=False)
    _setup: TrainingConfig | None = field(default=None, init=False)  # the setup before, when it changed

    @property
    def text(self):
        return f"Rename to {self.name}"

    def do(self, project):
        self._before = project.graph.node(self.node_id).name
        project.graph.rename(self.node_id, self.name)
        renamed = rename_node(project.training, self._before, self.name)
        self._setup = project.training if renamed is not None else None
        if renamed is not None:
            project.set_training(renamed)

    def undo(self, project):
        project.graph.rename(self.node_id, self._before)
        if self._setup is not None:
            project.set_training(self._setup)


@dataclass
class MoveNodes(Command):
    positions: dict[str, tuple[float, float]]
    _before: dict = field(default_factory=dict, init=False)

    @property
    def text(self):
        return f"Move {len(self.positions)} node{'s' if len(self.positions) != 1 else ''}"

    def do(self, project):
        graph = project.graph
        self._before = {i: graph.node(i).position for i in self.positions}
        for node_id, position in self.positions.items():
            graph.move(node_id, position)

    def undo(self, project):
        for node_id, position in self._before.items():
            project.graph.move(node_id, position)


@dataclass
class Macro(Command):
    """Several commands as one undoable step; if one fails, those done are undone."""

    label: str
    commands: list[Command]

    @property
    def text(self):
        return self.label

    def do(self, project):
        done = []
        try:
            for command in self.commands:
                command.do(project)
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.undo(project)
            raise

    def undo(self, project):
        for command in reversed(self.commands):
            command.undo(project)


@dataclass
class SetTraining(Command):
    """Replace the training setup (a setup edit, or the trained weights a run left)."""

    setup: TrainingConfig
    label: str = "Change training setup"
    _before: TrainingConfig | None = field(default=None, init=False)

    @property
    def text(self):
        return self.label

    def do(self, project):
        self._before = project.training
        project.set_training(self.setup)

    def undo(self, project):
        project.set_training(self._before)


def edit_training(setup: TrainingConfig, label: str, **parts) -> SetTraining:
    """A SetTraining giving `setup` with whole parts replaced (settings, data, phases, weights)."""
    return SetTraining(setup.replaced(**parts), label)


@dataclass
class SetInfo(Command):
    """Change the project's name and description."""

    name: str
    description: str
    _before: tuple[str, str] = field(default=("", ""), init=False)

    @property
    def text(self):
        return "Change project name and description"

    def do(self, project):
        self._before = (project.name, project.description)
        project.set_info(self.name, self.description)

    def undo(self, project):
        project.set_info(*self._before)


def apply_fix(graph: Graph, fix: Fix) -> Macro:
    """Insert the fix's adapters on its edge: source → adapter₁ → … → target, the nodes
    downstream moved right to make room for them (see placement.insertion_room)."""
    edge = graph.edge(fix.edge_id)
    source, target = graph.node(edge.source), graph.node(edge.target)
    moves, places = insertion_room(graph, edge, len(fix.steps))
    commands: list[Command] = ([MoveNodes(moves)] if moves else []) + [Disconnect(edge.id)]
    previous, previous_port = source.id, edge.source_port
    reserved: set[str] = set()
    for step, place in zip(fix.steps, places):
        node = new_node(graph, step.type, step.params_dict, place, reserved=reserved)
        reserved |= {node.id, node.name}
        commands.append(AddNode(node))
        commands.append(_reserved_connect(graph, reserved, previous, previous_port, node.id, "in"))
        previous, previous_port = node.id, "out"
    commands.append(_reserved_connect(graph, reserved, previous, previous_port, target.id,
                                      edge.target_port))
    return Macro(fix.label, commands)


def _reserved_connect(graph, reserved, source, source_port, target, target_port) -> Connect:
    edge = Edge(graph.new_edge_id(reserved), source, source_port, target, target_port)
    reserved.add(edge.id)
    return Connect(edge)


class CommandStack:
    """A plain undo stack for headless use; the editor uses QUndoStack over the same commands."""

    def __init__(self, project: Project):
        self.project = project
        self._done: list[Command] = []
        self._undone: list[Command] = []

    def push(self, command: Command) -> None:
        command.do(self.project)
        self._done.append(command)
        self._undone.clear()

    def undo(self) -> bool:
        if not self._done:
            return False
        command = self._done.pop()
        command.undo(self.project)
        self._undone.append(command)
        return True

    def redo(self) -> bool:
        if not self._undone:
            return False
        command = self._undone.pop()
        command.do(self.project)
        self._done.append(command)
        return True

    @property
    def undo_text(self) -> str | None:
        return self._done[-1].text if self._done else None

    @property
    def redo_text(self) -> str | None:
        return self._undone[-1].text if self._undone else None
