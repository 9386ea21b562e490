"""The canvas view: zoom with the wheel, pan with the middle button or space-drag, rubber-band
selection, a background grid, palette drops, and Tab for quick-add at the cursor. Over it:
the overview (minimap.py) while the graph does not fit, the Find bar (find.py), and a hint
saying how to start while the graph is empty."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView, QLabel

from app.gui.canvas import find
from app.gui.canvas.find import FindBar
from app.gui.canvas.items import DETAIL_LOD
from app.gui.canvas.minimap import Minimap
from app.gui.canvas.scene import GraphScene
from app.gui.panels.palette import entry_from_mime
from app.gui.theme import colors

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
GRID = 20.0
FRAME_MARGIN = 60.0  # scene units around the graph when framing it
EMPTY_HINT = ("An empty graph. Drag a model or a layer from the palette, press Tab to add a node "
              "here, or open one of the examples with File ▸ Examples or Help ▸ Getting Started.")


class GraphView(QGraphicsView):
    entryDropped = Signal(object, QPointF)  # a palette Entry and the scene position
    filesDropped = Signal(list)  # local file paths dropped on the canvas
    quickAddRequested = Signal(QPointF)  # scene position under the cursor

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_held = False
        self._content_pending = False
        self.minimap = Minimap(self)
        self.find_bar = FindBar(self)
        self.find_bar.found.connect(self.reveal_node)
        self.find_bar.closed.connect(self.setFocus)
        self.empty_hint = QLabel(EMPTY_HINT, self, wordWrap=True, alignment=Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setProperty("role", "dim")
        self.empty_hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        font = self.empty_hint.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.empty_hint.setFont(font)
        self.empty_hint.hide()

    def show_scene(self, scene: GraphScene) -> None:
        scene.setSceneRect(QRectF(-100_000, -100_000, 200_000, 200_000))  # room to pan anywhere
        self.setScene(scene)
        scene.set_zoom(self.zoom)
        scene.contentChanged.connect(self._content_changed_later)
        self.find_bar.close_bar()
        self._content_changed()

    # -- what is over the canvas -------------------------------------------------------------
    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def _content_changed_later(self) -> None:
        """Once, after the events of one edit (auto-layout moves every node, one by one)."""
        if not self._content_pending:
            self._content_pending = True
            QTimer.singleShot(0, self._content_changed)

    def _content_changed(self) -> None:
        """Nodes came, went or moved: the overview and the empty-canvas hint follow."""
        self._content_pending = False
        if self.scene() is None:
            return
        items = self.scene().node_items.values()
        self.minimap.set_nodes(items)
        self.empty_hint.setVisible(not items)
        self._place_overlays()

    def _view_changed(self) -> None:
        self.minimap.refresh()

    def _place_overlays(self) -> None:
        area = self.viewport().geometry()
        self.find_bar.move(area.right() - self.find_bar.width() - find.MARGIN + 1, area.top() + find.MARGIN)
        width = min(420, area.width() - 40)
        self.empty_hint.setFixedWidth(max(width, 100))
        self.empty_hint.adjustSize()
        self.empty_hint.move(area.center().x() - self.empty_hint.width() // 2,
                             area.center().y() - self.empty_hint.height() // 2)

    def show_find(self) -> None:
        """Ctrl+F: the Find bar over the names of the nodes, in graph order."""
        self._place_overlays()
        self.find_bar.open({node.name: node.id for node in self.scene().graph.nodes})

    def reveal_node(self, node_id: str) -> None:
        """Select the node and centre it, close enough to read its card."""
        self.find_bar.close_bar()
        scene = self.scene()
        if node_id not in scene.node_items:
            return
        scene.select([node_id])
        if self.zoom < DETAIL_LOD:
            self._zoom_to(DETAIL_LOD)
        self.centre_on_items([scene.node_items[node_id]])

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        self.scale(target / self.zoom, target / self.zoom)
        self.scene().set_zoom(self.zoom)
        self._view_changed()

    def _zoom_to(self, zoom: float) -> None:
        """Exactly this zoom (a product of factors could land a hair below the detail level)."""
        self.resetTransform()
        self.scale(zoom, zoom)
        self.scene().set_zoom(zoom)

    def frame_all(self) -> None:
        """Show the whole graph (F), at no more than 100 %. Where that would zoom out below the
        level at which cards show their ports and shapes, but the graph at that level fits the
        view one way (a chain fits its height), Frame All stays at that level and shows the
        graph's start (its left edge, where the inputs are; its top if it is tall): the rest is
        one scroll along the graph away, and the overview in the corner shows it. Only a graph
        too big both ways is fitted whole."""
        rect = QRectF()
        for item in self.scene().node_items.values():
            rect = rect.united(item.sceneBoundingRect())
        if rect.isEmpty():
            self._zoom_to(1.0)
            self.centerOn(0, 0)
            self._view_changed()
            return
        rect.adjust(-FRAME_MARGIN, -FRAME_MARGIN, FRAME_MARGIN, FRAME_MARGIN)
        area = self.viewport().rect()
        fit = min(area.width() / rect.width(), area.height() / rect.height(), 1.0)
        too_wide = rect.width() * DETAIL_LOD > area.width()
        too_tall = rect.height() * DETAIL_LOD > area.height()
        zoom = DETAIL_LOD if fit < DETAIL_LOD and not (too_wide and too_tall) else max(fit, MIN_ZOOM)
        self._zoom_to(zoom)
        half_width, half_height = area.width() / zoom / 2, area.height() / zoom / 2
        self.centerOn(rect.left() + half_width if rect.width() > 2 * half_width else rect.center().x(),
                      rect.top() + half_height if rect.height() > 2 * half_height else rect.center().y())
        self._view_changed()

    def centre_on_items(self, items) -> None:
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        if not rect.isEmpty():
            self.centerOn(rect.center())

    def cursor_scene_pos(self) -> QPointF:
        local = self.viewport().mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        return self.mapToScene(local)

    # -- drawing ---------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF):
        c = colors()
        painter.fillRect(rect, QColor(c.canvas))
        step = GRID
        while step * self.zoom < 12:  # keep the grid readable when zoomed out
            step *= 5
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor = QPen(QColor(c.grid_minor), 0)
        major = QPen(QColor(c.grid_major), 0)
        x = left
        while x < rect.right():
            painter.setPen(major if round(x / step) % 5 == 0 else minor)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            painter.setPen(major if round(y / step) % 5 == 0 else minor)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += step

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._view_changed()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._place_overlays()
        self._view_changed()

    # -- zoom and pan ----------------------------------------------------------------
    def wheelEvent(self, event):
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.set_zoom(1.0015 ** delta)
        event.accept()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.pan(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def pan(self, dx: float, dy: float) -> None:
        """Move the view by screen pixels (content follows the mouse)."""
        centre = self.mapToScene(self.viewport().rect().center())
        self.centerOn(centre - QPointF(dx, dy) / self.zoom)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Tab:
            self.quickAddRequested.emit(self.cursor_scene_pos())
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab belongs to quick-add, not to focus navigation

    # -- drops -----------------------------------------------------------------------
    def dragEnterEvent(self, event):
        mime = event.mimeData()
        if entry_from_mime(mime) is not None or mime.hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        self.dragEnterEvent(event)

    def dropEvent(self, event):
        mime = event.mimeData()
        entry = entry_from_mime(mime)
        if entry is not None:
            self.entryDropped.emit(entry, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        elif mime.hasUrls():
            paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
            if paths:
                self.filesDropped.emit(paths)
                event.acceptProposedAction()
        else:
            event.ignore()
