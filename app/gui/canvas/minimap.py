"""The overview in the canvas's corner: every node as a small block in its category's colour
and the part the view shows as a frame. It appears only while the graph does not fit in the
view; a click or a drag on it moves the view there."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from app.core.nodes import node_type
from app.gui.theme import colors

LONGEST = 200  # pixels: the longer side at most, and at most a quarter of the canvas's side
SHORTEST = 48  # pixels: the shorter side at least
MARGIN = 12  # from the canvas's bottom-right corner
PADDING = 6  # inside the widget, around the drawing


class Minimap(QWidget):
    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.resize(LONGEST, LONGEST // 2)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self._blocks: list[tuple[QRectF, str]] = []  # each node's scene rectangle and category
        self._graph = QRectF()  # all of them together
        self._held: QRectF | None = None  # the world while dragged, so the drawing holds still
        # The blocks drawn once for the graph, size and theme: a repaint while panning or
        # zooming redraws only the frame (a thousand blocks took 20 ms a frame).
        self._drawn: tuple[tuple, QPixmap] | None = None
        self.hide()

    # -- state ---------------------------------------------------------------------------
    def set_nodes(self, items) -> None:
        """The node items to draw (after the graph changed)."""
        self._blocks = [(item.sceneBoundingRect(), node_type(item.node.type).category) for item in items]
        graph = QRectF()
        for rect, _ in self._blocks:
            graph = graph.united(rect)
        self._graph = graph
        self._drawn = None
        self.refresh()

    def refresh(self) -> None:
        """Show it while some node is outside the view, and redraw the frame."""
        visible = self.view.visible_scene_rect()
        wanted = not self._graph.isEmpty() and not visible.contains(self._graph)
        if wanted != self.isVisible():
            self.setVisible(wanted)
        if wanted:
            self._fit()
            self.raise_()
            self.update()

    def _fit(self) -> None:
        """The world's shape, small beside the canvas, in its bottom-right corner."""
        area = self.view.viewport().geometry()
        world = self.world()
        aspect = world.width() / max(world.height(), 1.0)
        width = min(LONGEST, area.width() // 4 + 2 * PADDING)
        height = min(LONGEST, area.height() // 4 + 2 * PADDING)
        if aspect >= width / height:
            height = max(SHORTEST, round(width / aspect))
        else:
            width = max(SHORTEST, round(height * aspect))
        self.setGeometry(area.right() - width - MARGIN + 1, area.bottom() - height - MARGIN + 1,
                         width, height)

    def world(self) -> QRectF:
        """The scene rectangle the widget shows: the graph and the view's part of it."""
        if self._held is not None:
            return self._held
        return self._graph.united(self.view.visible_scene_rect())

    def _scale(self) -> tuple[float, QPointF]:
        """Scene-to-widget scale and the widget point of the world's top-left (centred)."""
        world = self.world()
        inner = QRectF(self.rect()).adjusted(PADDING, PADDING, -PADDING, -PADDING)
        scale = min(inner.width() / max(world.width(), 1.0), inner.height() / max(world.height(), 1.0))
        origin = inner.center() - QPointF(world.width(), world.height()) * scale / 2
        return scale, origin

    def to_widget(self, rect: QRectF) -> QRectF:
        scale, origin = self._scale()
        top_left = self.world().topLeft()
        return QRectF(origin + (rect.topLeft() - top_left) * scale, rect.size() * scale)

    def to_scene(self, point: QPointF) -> QPointF:
        scale, origin = self._scale()
        return self.world().topLeft() + (point - origin) / scale

    # -- Qt ------------------------------------------------------------------------------
    def paintEvent(self, event):
        c = colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        background = QColor(c.node_body)
        background.setAlpha(230)
        painter.setPen(QPen(QColor(c.node_border), 1))
        painter.setBrush(background)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        if not self._graph.isEmpty():
            blocks = self._blocks_pixmap()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(self.to_widget(self._graph), blocks, QRectF(blocks.rect()))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(c.node_selected), 1.5))
        painter.drawRect(self.to_widget(self.view.visible_scene_rect()))

    def _blocks_pixmap(self) -> QPixmap:
        """Every node's block, drawn once for the graph and the theme at the largest size the
        overview can have; a paint scales it into the part of the widget the graph takes
        (panning beside the graph changes that, and the widget's shape, at every frame)."""
        categories = colors().category
        ratio = self.devicePixelRatioF()
        key = (self._graph.getRect(), ratio, tuple(sorted(categories.items())))
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        graph = self._graph
        scale = LONGEST / max(graph.width(), graph.height(), 1.0)
        pixmap = QPixmap(max(1, round(graph.width() * scale * ratio)),
                         max(1, round(graph.height() * scale * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        fills = {category: QColor(colour) for category, colour in categories.items()}
        for rect, category in self._blocks:
            block = QRectF((rect.topLeft() - graph.topLeft()) * scale, rect.size() * scale)
            if block.width() < 2:  # far out a node is still a visible dot
                block.setWidth(2)
            painter.fillRect(block, fills[category])
        painter.end()
        self._drawn = (key, pixmap)
        return pixmap

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._held = self.world()
            self.view.centerOn(self.to_scene(event.position()))
            event.accept()

    def mouseMoveEvent(self, event):
        if self._held is not None:
            self.view.centerOn(self.to_scene(event.position()))
            event.accept()

    def mouseReleaseEvent(self, event):
        if self._held is not None:
            self._held = None
            self.refresh()
            event.accept()
