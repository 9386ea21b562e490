"""What a node and a connection look like on the canvas. Items only draw what the scene gives
them (the core node, its ports and its analysis); they hold no state of their own."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem, QStyleOptionGraphicsItem

from app.core.analysis.cost import macs_text
from app.core.analysis.validate import ERROR, WARNING, NodeAnalysis, Problem
from app.core.graph.graph import Node
from app.core.nodes import Port, node_type
from app.core.nodes.appearance import (
    BADGE_INSET,
    BADGE_RADIUS,
    CORNER,
    FOOTER_HEIGHT,
    NAME_HEIGHT,
    NAME_TOP,
    PILL_HEIGHT,
    PILL_PADDING,
    PORT_RADIUS,
    ROW_HEIGHT,
    SUBTITLE_HEIGHT,
    SUBTITLE_TOP,
    TITLE_HEIGHT,
    edge_bend,
    node_height,
    params_text,
    spec_text,
)
from app.core.nodes.appearance import NODE_WIDTH as WIDTH
from app.gui.theme import colors

# Below these zoom levels the canvas draws less (text is the expensive part).
DETAIL_LOD, TITLE_LOD = 0.5, 0.3

_FONT = QFont()
_FONT.setPointSizeF(8.5)
_BOLD = QFont(_FONT)
_BOLD.setBold(True)
_BOLD.setPointSizeF(9.0)
_SMALL = QFont(_FONT)
_SMALL.setPointSizeF(8.0)
_PILL = QFont(_SMALL)
_PILL.setBold(True)
_METRICS = QFontMetricsF(_FONT)
_BOLD_METRICS, _SMALL_METRICS = QFontMetricsF(_BOLD), QFontMetricsF(_SMALL)
_PILL_METRICS = QFontMetricsF(_PILL)
_MACS = QFont(_FONT)  # the footer's multiply-adds, smaller: they share it with the pill and the count
_MACS.setPointSizeF(7.0)
_MACS_METRICS = QFontMetricsF(_MACS)
TEXT_LEFT = 10.0  # where a card's title, subtitle and footer start


def _elide(text: str, width: float, metrics: QFontMetricsF = _METRICS) -> str:
    return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width)


@lru_cache(maxsize=256)
def _colour(name: str) -> QColor:
    """One QColor per colour name: a far-out frame fills thousands of blocks (never mutate it)."""
    return QColor(name)


@lru_cache(maxsize=64)
def _card_paths(height: float) -> tuple[QPainterPath, QPainterPath]:
    """A card's rounded outline and its title bar (the outline's top), for a card this tall:
    made once, where clipping to the outline at every paint cost a fifth of a zoom frame."""
    outline = QPainterPath()
    outline.addRoundedRect(QRectF(0, 0, WIDTH, height), CORNER, CORNER)
    top = QPainterPath()
    top.addRect(QRectF(0, 0, WIDTH, TITLE_HEIGHT))
    return outline, outline.intersected(top)


@dataclass(frozen=True)
class _CardText:
    """A card's strings as drawn, elided to their room: measured once per change of the node or
    its analysis rather than at every paint (zooming re-renders every card's cache each step)."""

    name: str
    subtitle: str
    rows: tuple[tuple[str, str, float], ...]  # port name, shape, the name's width; inputs first
    count: str
    macs: str


class PortItem(QGraphicsItem):
    """A port's dot: drag from an output to an input to connect."""

    def __init__(self, parent: NodeItem, name: str, is_input: bool):
        super().__init__(parent)
        self.name, self.is_input = name, is_input
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._hover = False

    @property
    def node_item(self) -> NodeItem:
        return self.parentItem()

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 4  # generous hit area
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None):
        if option.levelOfDetailFromTransform(painter.worldTransform()) < TITLE_LOD:
            return
        c = colors()
        r = PORT_RADIUS + (1.5 if self._hover else 0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(c.node_body), 1.5))
        painter.setBrush(QColor(c.edge_selected if self._hover else c.port))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()


class NodeItem(QGraphicsObject):
    """A node card: its name and what it holds (a file, an architecture, a type) on a title bar in
    its category's colour, one row per port with its inferred shape, and a footer with how it
    trains in the phase being edited and its parameter count."""

    def __init__(self, node: Node):
        super().__init__()
        self.node_id = node.id
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsScenePositionChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        self.edges: set[EdgeItem] = set()
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self._node = node
        self._analysis: NodeAnalysis | None = None
        self._problems: list[Problem] = []
        self._loading = False
        self._card_text = ""
        self._freezing = ""
        self._far = False
        self._text: _CardText | None = None  # measured at the next full-detail paint
        self._height = node_height(0)
        self._bounds = QRectF(-2, -10, WIDTH + 12, self._height + 12)
        self.preview: QGraphicsItem | None = None  # drawn under the footer (app.gui.preview.strip)
        self.setPos(*node.position)

    # -- state from the scene ----------------------------------------------------
    def set_node(self, node: Node, inputs: list[Port], outputs: list[str]) -> None:
        self._node = node
        self._text = None
        if [p.name for p in inputs] != list(self.inputs) or outputs != list(self.outputs):
            self._set_ports([p.name for p in inputs], outputs)
        self.update()

    def set_analysis(self, analysis: NodeAnalysis | None, problems: list[Problem], loading: bool,
                     card_text: str = "", freezing: str = "") -> None:
        """What the node shows; its tooltip lists its problems, then its model card. `freezing`
        is how it trains in the phase being edited (trainable, frozen, last N; "": no weights)."""
        shown = (analysis, problems, loading, card_text, freezing)
        if shown == (self._analysis, self._problems, self._loading, self._card_text, self._freezing):
            return
        self._analysis, self._problems, self._loading, self._card_text, self._freezing = shown
        self._text = None
        self.setToolTip("\n\n".join(filter(None, ["\n".join(p.message for p in problems), card_text])))
        self.update()

    def set_far(self, far: bool) -> None:
        """Zoomed far out a node is a plain block that the scene draws with all the others in
        one call per colour (GraphScene.drawForeground): the item paints nothing, has no port
        items to visit and no cache to re-render at every zoom step; it is still there to be
        clicked, dragged and selected. Nearer, its text is cheaper to cache than to paint."""
        self._far = far
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setVisible(not far)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, far)
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache if far
                          else QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def block(self) -> QRectF:
        """The card's body in scene coordinates: what it is drawn as when zoomed far out."""
        return QRectF(self.pos(), QSizeF(WIDTH, self._height))

    def _set_ports(self, inputs: list[str], outputs: list[str]) -> None:
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setParentItem(None)
            if self.scene():
                self.scene().removeItem(port)
        self.prepareGeometryChange()
        self.inputs = {name: PortItem(self, name, True) for name in inputs}
        self.outputs = {name: PortItem(self, name, False) for name in outputs}
        self._text = None
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setVisible(not self._far)
        y = TITLE_HEIGHT + ROW_HEIGHT / 2
        for port in self.inputs.values():
            port.setPos(0, y)
            y += ROW_HEIGHT
        for port in self.outputs.values():
            port.setPos(WIDTH, y)
            y += ROW_HEIGHT
        self._height = node_height(len(inputs) + len(outputs))
        self._bounds = QRectF(-2, -10, WIDTH + 12, self._height + 12)
        self._place_preview()
        for edge in self.edges:
            edge.update_path()

    def set_preview(self, strip: QGraphicsItem | None) -> None:
        """Show `strip` (a preview of the node's output) under the footer; None: none."""
        if strip is self.preview:
            return
        if self.preview is not None:
            self.preview.setParentItem(None)
            if self.preview.scene() is not None:
                self.preview.scene().removeItem(self.preview)
        self.preview = strip
        if strip is not None:
            strip.setParentItem(self)
            self._place_preview()

    def _place_preview(self) -> None:
        if self.preview is not None:
            self.preview.setPos(0, self._height)

    @property
    def node(self) -> Node:
        return self._node

    @property
    def freezing(self) -> str:
        return self._freezing

    @property
    def has_error(self) -> bool:
        return any(p.severity == ERROR for p in self._problems)

    def anchor(self, port: str, is_input: bool) -> QPointF:
        """Scene position where an edge meets the port (the node's side if it has none)."""
        item = (self.inputs if is_input else self.outputs).get(port)
        if item is not None:
            return item.scenePos()
        return self.mapToScene(QPointF(0 if is_input else WIDTH, TITLE_HEIGHT / 2))

    # -- Qt ------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemScenePositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None):
        c = colors()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        category = node_type(self._node.type).category
        body = QRectF(0, 0, WIDTH, self._height)
        selected = self.isSelected()
        error = self.has_error
        border = _colour(c.error if error else c.node_selected if selected else c.node_border)
        if lod < TITLE_LOD:  # far away: a coloured block (as the scene draws them, set_far)
            paint_block(painter, body, _colour(c.category[category]),
                        border if selected or error else None, lod)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outline, title_bar = _card_paths(self._height)
        painter.fillPath(outline, _colour(c.node_body))
        painter.fillPath(title_bar, _colour(c.category[category]))
        painter.setPen(QPen(border, 2.0 if selected or error else 1.0))
        painter.drawPath(outline)
        self._paint_badge(painter, c)
        text = self.card_text()
        left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        title_width = WIDTH - TEXT_LEFT - 2 * BADGE_INSET
        painter.setPen(_colour(c.title_text))
        painter.setFont(_BOLD)
        if lod < DETAIL_LOD:  # the name alone, centred: the subtitle would be too small to read
            painter.drawText(QRectF(TEXT_LEFT, 0, title_width, TITLE_HEIGHT), left, text.name)
            return
        painter.drawText(QRectF(TEXT_LEFT, NAME_TOP, title_width, NAME_HEIGHT), left, text.name)
        subtitle_colour = QColor(c.title_text)
        subtitle_colour.setAlphaF(0.8)
        painter.setPen(subtitle_colour)
        painter.setFont(_SMALL)
        painter.drawText(QRectF(TEXT_LEFT, SUBTITLE_TOP, title_width, SUBTITLE_HEIGHT), left, text.subtitle)
        painter.setFont(_FONT)
        y = TITLE_HEIGHT
        for index, row in enumerate(text.rows):
            self._paint_row(painter, c, y, *row, index < len(self.inputs))
            y += ROW_HEIGHT
        self._paint_footer(painter, c, y, text)

    def card_text(self) -> _CardText:
        """The card's strings elided to fit, measured again only after the card changed."""
        if self._text is None:
            title_width = WIDTH - TEXT_LEFT - 2 * BADGE_INSET
            rows = [*((name, self._spec_text(name, True)) for name in self.inputs),
                    *((name, self._spec_text(name, False)) for name in self.outputs)]
            row_width = WIDTH - 24
            elided_rows = []
            for name, shape in rows:
                name_width = min(_METRICS.horizontalAdvance(name) + 8, WIDTH * 0.45)
                elided_rows.append((_elide(name, name_width), _elide(shape, row_width - name_width),
                                    name_width))
            count_width = WIDTH - TEXT_LEFT - self._footer_left()
            self._text = _CardText(
                _elide(self._node.name, title_width, _BOLD_METRICS),
                _elide(node_type(self._node.type).subtitle(self._node), title_width, _SMALL_METRICS),
                tuple(elided_rows), self._count_text(count_width), self._macs_text(count_width))
        return self._text

    def _footer_left(self) -> float:
        """Where the footer's count area starts: after the freezing pill, if there is one."""
        if not self._freezing:
            return TEXT_LEFT
        return TEXT_LEFT + _PILL_METRICS.horizontalAdvance(self._freezing) + 2 * PILL_PADDING + 8

    def _paint_footer(self, painter: QPainter, c, y: float, text: _CardText) -> None:
        """How the node trains as a pill on the left, its parameter count on the right, whole."""
        if self._freezing:
            width = _PILL_METRICS.horizontalAdvance(self._freezing) + 2 * PILL_PADDING
            pill = QRectF(TEXT_LEFT, y + (FOOTER_HEIGHT - PILL_HEIGHT) / 2, width, PILL_HEIGHT)
            colour = QColor(c.info if self._freezing == "frozen" else c.ok)
            fill = QColor(colour)
            fill.setAlphaF(0.16)
            painter.setPen(QPen(colour, 1.0))
            painter.setBrush(fill)
            painter.drawRoundedRect(pill, PILL_HEIGHT / 2, PILL_HEIGHT / 2)
            painter.setFont(_PILL)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, self._freezing)
        x = self._footer_left()
        painter.setPen(_colour(c.dim_text))
        painter.setFont(_FONT)
        rect = QRectF(x, y, WIDTH - TEXT_LEFT - x, FOOTER_HEIGHT)
        painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, text.count)
        if text.macs:  # multiply-adds per sample, left of the count
            painter.setFont(_MACS)
            painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text.macs)

    def _count_text(self, width: float) -> str:
        """The parameter count ("…" while loading), or whose weights a node sharing them uses."""
        if self._loading:
            return "…"
        owner = self._node.params.get("share_weights_with")  # only pretrained models share
        if owner:
            return _elide(f"weights of {owner}", width)
        return params_text(self._analysis.param_count if self._analysis else None)

    def _macs_text(self, width: float) -> str:
        """The node's multiply-adds per sample ("3.87 G MACs"), where the footer has room for
        them beside the count; "" for none, unknown, or no room."""
        cost = self._analysis.cost if self._analysis and not self._loading else None
        if cost is None or not cost.macs:
            return ""
        text = f"{macs_text(cost.macs)} MACs"
        room = width - _METRICS.horizontalAdvance(self._count_text(width)) - 4
        return text if _MACS_METRICS.horizontalAdvance(text) <= room else ""

    def _paint_badge(self, painter: QPainter, c) -> None:
        severities = {p.severity for p in self._problems}
        colour = c.error if ERROR in severities else c.warning if WARNING in severities else None
        if colour is None:
            return
        centre = QPointF(WIDTH - BADGE_INSET, TITLE_HEIGHT / 2)
        painter.setPen(QPen(QColor(c.node_body), 1.5))
        painter.setBrush(QColor(colour))
        painter.drawEllipse(centre, BADGE_RADIUS, BADGE_RADIUS)
        painter.setPen(QColor(c.title_text))
        painter.setFont(_BOLD)
        painter.drawText(QRectF(centre.x() - BADGE_RADIUS, centre.y() - BADGE_RADIUS, 2 * BADGE_RADIUS,
                                2 * BADGE_RADIUS), Qt.AlignmentFlag.AlignCenter, "!")

    def _spec_text(self, port: str, is_input: bool) -> str:
        if self._loading:
            return "…"
        analysis = self._analysis
        if analysis is None:
            return "?"
        specs = analysis.inputs if is_input else (analysis.outputs or {})
        return spec_text(specs.get(port), "" if is_input else "?")

    def _paint_row(self, painter: QPainter, c, y: float, name: str, shape: str, name_width: float,
                   is_input: bool) -> None:
        """A port's row: its name dim on the port's side, its shape beside it (both elided)."""
        rect = QRectF(12, y, WIDTH - 24, ROW_HEIGHT)
        align = Qt.AlignmentFlag.AlignVCenter
        painter.setPen(_colour(c.dim_text))
        if is_input:
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignLeft, name)
            painter.setPen(_colour(c.text))
            painter.drawText(rect.adjusted(name_width, 0, 0, 0), align | Qt.AlignmentFlag.AlignLeft, shape)
        else:
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignRight, name)
            painter.setPen(_colour(c.text))
            painter.drawText(rect.adjusted(0, 0, -name_width, 0), align | Qt.AlignmentFlag.AlignRight, shape)


def paint_block(painter: QPainter, body: QRectF, fill: QColor, border: QColor | None, lod: float) -> None:
    """A node far out: its category's colour, outlined when it is selected or in error."""
    painter.fillRect(body, fill)
    if border is not None:
        painter.setPen(QPen(border, 3 / max(lod, 0.05)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(body)


def connection_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A horizontal S-curve from an output to an input."""
    path = QPainterPath(start)
    bend = edge_bend(start.x(), end.x())
    path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
    return path


class EdgeItem(QGraphicsPathItem):
    """A connection; red with the problem as tooltip when its shapes do not fit."""

    def __init__(self, edge_id: str, source: NodeItem, source_port: str, target: NodeItem, target_port: str):
        super().__init__()
        self.edge_id = edge_id
        self.source, self.source_port = source, source_port
        self.target, self.target_port = target, target_port
        self.problem: Problem | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        source.edges.add(self)
        target.edges.add(self)
        self.update_path()
        self.update_pen()

    def detach(self) -> None:
        self.source.edges.discard(self)
        self.target.edges.discard(self)

    def update_path(self) -> None:
        self.setPath(connection_path(self.source.anchor(self.source_port, False),
                                     self.target.anchor(self.target_port, True)))

    def set_problem(self, problem: Problem | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self.setToolTip(problem.message if problem else "")
            self.update_pen()

    def update_pen(self) -> None:
        c = colors()
        colour = c.error if self.problem and self.problem.severity == ERROR else (
            c.edge_selected if self.isSelected() else c.edge)
        pen = QPen(QColor(colour), 3.0 if self.isSelected() else 2.0)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)
        self.setBrush(QBrush())

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(12)
        return stroker.createStroke(self.path())

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.update_pen()
        return super().itemChange(change, value)

