"""Build graphs from code by node name — for scripts, examples and tests.

    b = GraphBuilder()
    b.add("pixels", "Input", shape=[8, 8, 1])
    b.add("head", "Dense", units=10)
    b.wire("pixels", "head")

Every call goes through the same commands the editor uses, so what a script builds is
exactly what a user could have built by hand."""

from __future__ import annotations

from app.core.document.project import Project
from app.core.editing.commands import AddNode, connect, new_node


class GraphBuilder:
    """Builds into `project` (a new one by default)."""

    def __init__(self, project: Project | None = None):
        self.project = project or Project()
        self.graph = self.project.graph
        self.ids: dict[str, str] = {}

    def add(self, name: str, type_name: str, x: float = 0.0, y: float = 0.0, **params) -> str:
        node = new_node(self.graph, type_name, params, (x, y), name=name)
        AddNode(node).do(self.project)
        self.ids[name] = node.id
        return node.id

    def wire(self, source: str, target: str, target_port: str = "in",
             source_port: str = "out") -> str:
        command = connect(self.graph, self.ids[source], source_port, self.ids[target], target_port)
        command.do(self.project)
        return command.edge.id

    def chain(self, *names: str) -> None:
        """Wire each named node's `out` to the next one's `in`."""
        for source, target in zip(names, names[1:]):
            self.wire(source, target)
