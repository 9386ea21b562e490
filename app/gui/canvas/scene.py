"""The canvas scene: one item per core node and edge, kept in step with the graph's events.
Mouse gestures become core commands pushed on the document: a port-to-port drag connects,
a node drag moves (one command when the button is released)."""

from __future__ import annotations

from pathlib import PurePath

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QStyleOptionGraphicsItem

from app.core.analysis.freezing import freezing_badge
from app.core.cards.card import ModelCard
from app.core.editing.commands import Disconnect, Macro, MoveNodes, connect
from app.core.graph.graph import Edge, GraphEvent
from app.core.graph.specs import format_shape
from app.core.nodes import node_type
from app.core.nodes.pretrained import trainable_count
from app.gui.canvas.items import TITLE_LOD, EdgeItem, NodeItem, PortItem, connection_path, paint_block
from app.gui.document import Document, Subscriptions
from app.gui.theme import colors


class GraphScene(QGraphicsScene):
    nodeActivated = Signal(str)  # double-click on a node
    contentChanged = Signal()  # a node was added, removed, moved or resized (for the overview)

    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self.document = document
        self.graph = document.graph
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[str, EdgeItem] = {}
        self._drag: _ConnectionDrag | None = None
        self._press_positions: dict[str, tuple[float, float]] = {}
        self._far = False  # zoomed out past the titles' level of detail
        # Far out, every node's block by category, and the nodes in error: drawn in one call per
        # colour (set_far); None until the next far paint after nodes came, went, moved or changed.
        self._blocks: tuple[dict[str, list[QRectF]], list[NodeItem]] | None = None
        self.phase_freezing: dict | None = None  # the edited phase's freezing by node name (None: none)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        for node in self.graph.nodes:
            self._add_node(node.id)
        for edge in self.graph.edges:
            self._add_edge(edge)
        self._links = Subscriptions()  # to the graph's events and the document's signals
        self._links.subscribe(self.graph, self._on_event)
        self._links.connect(document.analysisChanged, self.refresh_analysis)
        self._links.connect(document.loadingChanged, self.refresh_analysis)
        self.selectionChanged.connect(self._blocks_changed)
        self.refresh_analysis()

    def close(self) -> None:
        """Hear no more from the document (the window closes or shows another one)."""
        self._links.clear()

    # -- mirroring the core ----------------------------------------------------------
    def _on_event(self, event: GraphEvent) -> None:
        kind = event.kind
        if kind == "node_added":
            self._add_node(event.node_id)
        elif kind == "node_removed":
            item = self.node_items.pop(event.node_id)
            self.removeItem(item)
        elif kind == "node_changed":
            self._sync_node(event.node_id)
        elif kind == "node_moved":
            self.node_items[event.node_id].setPos(*self.graph.node(event.node_id).position)
        elif kind == "edge_added":
            self._add_edge(event.edge)
            self._sync_node(event.edge.target)  # merges grow a free input as they fill
        elif kind == "edge_removed":
            item = self.edge_items.pop(event.edge.id)
            item.detach()
            self.removeItem(item)
            if self.graph.has_node(event.edge.target):
                self._sync_node(event.edge.target)
        self._blocks_changed()
        self.contentChanged.emit()

    def _add_node(self, node_id: str) -> None:
        item = NodeItem(self.graph.node(node_id))
        item.set_far(self._far)
        self.node_items[node_id] = item
        self.addItem(item)
        self._sync_node(node_id)

    def _sync_node(self, node_id: str) -> None:
        node = self.graph.node(node_id)
        self.node_items[node_id].set_node(node, self.document.input_ports(node),
                                          self.document.output_ports(node))

    def _add_edge(self, edge: Edge) -> None:
        item = EdgeItem(edge.id, self.node_items[edge.source], edge.source_port,
                        self.node_items[edge.target], edge.target_port)
        self.edge_items[edge.id] = item
        self.addItem(item)

    def refresh_analysis(self) -> None:
        """Shapes, counts, badges and red edges from the document's current analysis."""
        document = self.document
        analysis = document.analysis
        node_problems: dict[str, list] = {}
        edge_problems: dict[str, object] = {}
        if analysis is not None:
            for problem in analysis.problems:
                if problem.edge_id:
                    edge_problems.setdefault(problem.edge_id, problem)
                if problem.node_id:
                    node_problems.setdefault(problem.node_id, []).append(problem)
        for node_id, item in self.node_items.items():
            node = self.graph.node(node_id)
            loading = document.needs_loading(node)
            if not loading:
                self._sync_node(node_id)  # a card may have arrived with the real ports
            result = analysis.nodes.get(node_id) if analysis else None
            card = document.card(node)
            item.set_analysis(result, node_problems.get(node_id, []), loading,
                              card_text(card, node.params) if card else "",
                              freezing_badge(self.graph, node, result, self.phase_freezing))
        for edge_id, item in self.edge_items.items():
            item.set_problem(edge_problems.get(edge_id))
        self._blocks_changed()

    def set_phase(self, freezing: dict | None) -> None:
        """Badge each card with how its node trains in the phase being edited (`freezing`: the
        phase's freezing by node name; None: no phase, each node's own setting)."""
        if freezing != self.phase_freezing:
            self.phase_freezing = freezing
            self.refresh_analysis()

    def set_zoom(self, zoom: float) -> None:
        """Switch the nodes to plain blocks when zoomed out past the titles (see set_far)."""
        far = zoom < TITLE_LOD
        if far != self._far:
            self._far = far
            for item in self.node_items.values():
                item.set_far(far)

    def _blocks_changed(self) -> None:
        """Nodes came, went, moved, were (de)selected or changed their problems: far out, where
        their items paint nothing and so ask for no repaint themselves, the canvas is redrawn."""
        self._blocks = None
        if self._far:
            self.update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Far out, the nodes' blocks over the connections, as their items would paint them
        (NodeItem.paint) but in one call per colour: a thousand items painting themselves
        cost 20–40 ms a frame in Python."""
        if not self._far:
            return
        if self._blocks is None:
            by_category: dict[str, list[QRectF]] = {}
            for item in self.node_items.values():
                by_category.setdefault(node_type(item.node.type).category, []).append(item.block())
            self._blocks = by_category, [item for item in self.node_items.values() if item.has_error]
        by_category, in_error = self._blocks
        c = colors()
        painter.setPen(Qt.PenStyle.NoPen)
        for category, blocks in by_category.items():
            painter.setBrush(QColor(c.category[category]))
            painter.drawRects(blocks)
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        selected = [item for item in self.selectedItems() if isinstance(item, NodeItem)]
        for item in {*in_error, *selected}:
            paint_block(painter, item.block(), QColor(c.category[node_type(item.node.type).category]),
                        QColor(c.error if item.has_error else c.node_selected), lod)

    # -- selection helpers -----------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        """Selected nodes in the graph's order (so commands are deterministic)."""
        chosen = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n.id for n in self.graph.nodes if n.id in chosen]

    def selected_edge_ids(self) -> list[str]:
        return [i.edge_id for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select(self, node_ids=(), edge_ids=()) -> None:
        self.clearSelection()
        for node_id in node_ids:
            self.node_items[node_id].setSelected(True)
        for edge_id in edge_ids:
            self.edge_items[edge_id].setSelected(True)

    # -- gestures --------------------------------------------------------------------
    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self._drag = _ConnectionDrag.start(self, port)
                if self._drag is not None:
                    event.accept()
                    return
        super().mousePressEvent(event)
        self._press_positions = {i.node_id: (i.pos().x(), i.pos().y())
                                 for i in self.selectedItems() if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event):
        if self._drag is not None:
            self._drag.move(event.scenePos(), self._port_at(event.scenePos()))
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self.mouseGrabberItem() is not None:
            self._blocks_changed()  # dragging nodes far out: their blocks follow

    def mouseReleaseEvent(self, event):
        if self._drag is not None:
            drag, self._drag = self._drag, None
            drag.finish(self._port_at(event.scenePos()), self._node_at(event.scenePos()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self._commit_move()

    def mouseDoubleClickEvent(self, event):
        node = self._node_at(event.scenePos())
        if node is not None:
            self.nodeActivated.emit(node.node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _commit_move(self) -> None:
        """One MoveNodes for a finished drag of the selection."""
        moved = {}
        for node_id, before in self._press_positions.items():
            item = self.node_items.get(node_id)
            if item is not None and (item.pos().x(), item.pos().y()) != before:
                moved[node_id] = (round(item.pos().x(), 2), round(item.pos().y(), 2))
        self._press_positions = {}
        if moved:
            self.document.push(MoveNodes(moved))

    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def _node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
            if isinstance(item, PortItem):
                return item.node_item
        return None

    def input_edge(self, port: PortItem) -> Edge | None:
        return self.graph.edge_into(port.node_item.node_id, port.name)


def card_text(card: ModelCard, params: dict) -> str:
    """A pretrained node's model card, as its tooltip."""
    inputs = ", ".join(format_shape(s.shape) for s in card.inputs)
    outputs = ", ".join(format_shape(s.shape) for s in card.outputs)
    trainable = trainable_count(card, params)
    lines = [PurePath(card.source).name or card.source, f"in {inputs} → out {outputs}",
             f"{card.params:,} parameters: {trainable:,} trainable, {card.params - trainable:,} frozen",
             f"{len(card.layers):,} layers"]
    if card.file_size is not None:
        lines[-1] += f" · {card.file_size / 1e6:.1f} MB" if card.file_size >= 1e5 else \
            f" · {card.file_size / 1e3:.0f} kB"
    return "\n".join(lines)


class _ConnectionDrag:
    """A connection being drawn from an output port (or pulled off an input port)."""

    def __init__(self, scene: GraphScene, source: PortItem, detached: Edge | None):
        self.scene, self.source, self.detached = scene, source, detached
        self.line = QGraphicsPathItem()
        pen = QPen(QColor(colors().edge_selected), 2.0, Qt.PenStyle.DashLine)
        self.line.setPen(pen)
        self.line.setZValue(2)
        scene.addItem(self.line)
        if detached is not None:
            scene.edge_items[detached.id].hide()

    @classmethod
    def start(cls, scene: GraphScene, port: PortItem) -> _ConnectionDrag | None:
        if not port.is_input:
            return cls(scene, port, None)
        edge = scene.input_edge(port)
        if edge is None:
            return None  # nothing to pull: connections start at outputs
        source = scene.node_items[edge.source].outputs.get(edge.source_port)
        return None if source is None else cls(scene, source, edge)

    def move(self, pos: QPointF, hovered: PortItem | None) -> None:
        end = hovered.scenePos() if hovered is not None and hovered.is_input else pos
        self.line.setPath(connection_path(self.source.scenePos(), end))

    def finish(self, port: PortItem | None, node) -> None:
        scene = self.scene
        scene.removeItem(self.line)
        if self.detached is not None and scene.graph.has_edge(self.detached.id):
            scene.edge_items[self.detached.id].show()
        target = port if port is not None and port.is_input else None
        if target is None and node is not None and node is not self.source.node_item:
            target = _free_input(scene, node)
        source_id = self.source.node_item.node_id
        commands = []
        if self.detached is not None:
            if target is not None and (target.node_item.node_id, target.name) == (
                    self.detached.target, self.detached.target_port):
                return  # dropped back where it was
            commands.append(Disconnect(self.detached.id))
        if target is not None:
            commands.append(connect(scene.graph, source_id, self.source.name,
                                    target.node_item.node_id, target.name))
        if len(commands) == 1:
            scene.document.push(commands[0])
        elif commands:
            scene.document.push(Macro("Reconnect", commands))


def _free_input(scene: GraphScene, node) -> PortItem | None:
    """Dropping on a node's body connects its first free input (or its only one)."""
    for name, port in node.inputs.items():
        if scene.graph.edge_into(node.node_id, name) is None:
            return port
    return next(iter(node.inputs.values())) if len(node.inputs) == 1 else None

