"""The canvas view: zoom with the wheel, pan with the middle button or space-drag, rubber-band
selection, a background grid, palette drops, and Tab for quick-add at the cursor."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView

from app.gui.canvas.scene import GraphScene
from app.gui.panels.palette import entry_from_mime
from app.gui.theme import colors

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
GRID = 20.0


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

    def show_scene(self, scene: GraphScene) -> None:
        scene.setSceneRect(QRectF(-100_000, -100_000, 200_000, 200_000))  # room to pan anywhere
        self.setScene(scene)
        scene.set_zoom(self.zoom)

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        self.scale(target / self.zoom, target / self.zoom)
        self.scene().set_zoom(self.zoom)

    def frame_all(self) -> None:
        """Fit every node in view (F), at no more than 100 %."""
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            self.resetTransform()
            self.scene().set_zoom(self.zoom)
            self.centerOn(0, 0)
            return
        self.fitInView(rect.adjusted(-60, -60, 60, 60), Qt.AspectRatioMode.KeepAspectRatio)
        self.set_zoom(min(self.zoom, 1.0) / self.zoom)  # ≤ 100 %, in range, level of detail set

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
