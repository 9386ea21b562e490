"""A node's preview on the canvas: a strip under its card's footer with the output's picture
(an image, or a mosaic of a feature map's strongest channels), a sparkline (vectors and
sequences) or the top classes (probabilities), and a flag in the warning colour when the output
holds NaN or Inf, is all zeros or constant (the flag's words in the tooltip).

The strip is STRIP_GAP + STRIP_HEIGHT high, which fits in the room the auto-layout leaves
between two stacked cards (150 px between their tops). `CardArt` converts a preview once (numpy
to QImage, the sparkline to a path); painting draws what it holds, and only at a zoom where text
is readable (the cards' DETAIL_LOD)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneMouseEvent, QStyleOptionGraphicsItem

from app.core.preview.summary import (
    CONSTANT,
    FEATURE_MAP,
    IMAGE,
    INF,
    NAN,
    PROBABILITIES,
    ZEROS,
    NodePreview,
    flag_text,
)
from app.gui.canvas.items import DETAIL_LOD, WIDTH
from app.gui.theme import colors

STRIP_GAP, STRIP_HEIGHT = 3.0, 32.0  # below the card's footer: the tightest stacked pair leaves 40 px
PADDING = 3.0  # between the strip's edge and what it shows
PICTURE_MAX_WIDTH = 3 * (STRIP_HEIGHT - 2 * PADDING)  # a wide mosaic keeps its aspect up to this
PILL_HEIGHT, PILL_PADDING = 15.0, 5.0
FLAG_WORDS = {NAN: "NaN", INF: "Inf", ZEROS: "zeros", CONSTANT: "constant"}  # the flag's pill
KIND_WORDS = {IMAGE: "image", FEATURE_MAP: "feature map"}
PENDING = "computing…"

_FONT = QFont()
_FONT.setPointSizeF(8.0)
_BOLD = QFont(_FONT)
_BOLD.setBold(True)
_METRICS, _BOLD_METRICS = QFontMetricsF(_FONT), QFontMetricsF(_BOLD)
LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft


def number_text(value: float) -> str:
    """A statistic in at most about six characters: 0.213, -1.2e+03, nan."""
    return f"{value:.3g}"


@dataclass(frozen=True)
class CardArt:
    """What the strip draws for one preview, converted once: `note` alone when there is no
    preview (why, or PENDING)."""

    picture: QImage | None = None
    line: QPainterPath | None = None  # the sparkline in a unit box, y down
    top: tuple[tuple[str, float], ...] = ()
    caption: tuple[str, str] = ("", "")  # two lines beside a picture
    flags: tuple[str, ...] = ()
    note: str = ""
    detail: str = ""  # the note's whole text, for the tooltip

    @property
    def tooltip(self) -> str:
        lines = [flag_text(f) for f in self.flags]
        if self.top:
            lines.append("   ".join(f"{label}: {share:.0%}" for label, share in self.top))
        return "\n".join(lines + ([self.detail] if self.detail else []))


def card_art(preview: NodePreview) -> CardArt:
    """The strip's art for one node's preview."""
    flags = tuple(preview.flags)
    if preview.kind == PROBABILITIES and preview.top:
        return CardArt(top=tuple(preview.top), flags=flags)
    if preview.picture is not None:
        stats = preview.stats
        words = KIND_WORDS.get(preview.kind, preview.kind)
        if preview.kind == FEATURE_MAP:
            words += f" · {preview.channels} ch"
        return CardArt(picture=rgb_image(preview.picture), flags=flags,
                       caption=(words, f"mean {number_text(stats.mean)} · max {number_text(stats.maximum)}"))
    if preview.line is not None:
        return CardArt(line=sparkline(preview.line), flags=flags)
    return CardArt(flags=flags, note=f"{preview.kind} {'×'.join(map(str, preview.shape))}")


def rgb_image(picture: np.ndarray) -> QImage:
    """An H×W×3 uint8 array as a QImage that owns its pixels."""
    pixels = np.ascontiguousarray(picture, dtype=np.uint8)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def sparkline(values: np.ndarray) -> QPainterPath | None:
    """The values as a path across a unit box (the largest at the top); None when there are
    none that are finite."""
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    if not finite.any():
        return None
    low, high = values[finite].min(), values[finite].max()
    span = high - low or 1.0
    steps = max(len(values) - 1, 1)
    path = QPainterPath()
    drawing = False
    for index, value in enumerate(values):
        if not finite[index]:
            drawing = False
            continue
        point = QPointF(index / steps, 1.0 - (value - low) / span if high > low else 0.5)
        if drawing:
            path.lineTo(point)
        else:
            path.moveTo(point)
            drawing = True
    return path


class PreviewStrip(QGraphicsItem):
    """The strip under a node's card (its child, placed at the card's bottom by the card). A
    click on it selects the node, so the Preview dock shows it in detail."""

    def __init__(self):
        super().__init__()
        self.art = CardArt(note=PENDING)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)

    def set_art(self, art: CardArt) -> None:
        if art is not self.art:
            self.art = art
            self.setToolTip(art.tooltip)
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, STRIP_GAP, WIDTH, STRIP_HEIGHT)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        node = self.parentItem()
        if node is not None and self.scene() is not None:
            if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.scene().clearSelection()
            node.setSelected(True)
        event.accept()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_LOD:
            return
        c = colors()
        art = self.art
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(QColor(c.node_border), 1.0))
        painter.setBrush(QColor(c.node_body))
        painter.drawRoundedRect(frame, 4, 4)
        inside = frame.adjusted(PADDING, PADDING, -PADDING, -PADDING)
        if art.flags:
            inside.setRight(self._paint_flag(painter, c, inside) - PADDING)
        if art.top:
            self._paint_top(painter, c, inside)
        elif art.picture is not None:
            self._paint_picture(painter, c, inside)
        elif art.line is not None:
            self._paint_line(painter, c, inside)
        if art.note:
            painter.setFont(_FONT)
            painter.setPen(QColor(c.dim_text))
            painter.drawText(inside, LEFT, _elide(art.note, inside.width()))

    def _paint_flag(self, painter: QPainter, c, inside: QRectF) -> float:
        """The first flag as a pill at the right (the tooltip has them all); returns its left."""
        words = FLAG_WORDS.get(self.art.flags[0], self.art.flags[0])
        if len(self.art.flags) > 1:
            words += f" +{len(self.art.flags) - 1}"
        width = _BOLD_METRICS.horizontalAdvance(words) + 2 * PILL_PADDING
        pill = QRectF(inside.right() - width, inside.center().y() - PILL_HEIGHT / 2, width, PILL_HEIGHT)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(c.warning))
        painter.drawRoundedRect(pill, PILL_HEIGHT / 2, PILL_HEIGHT / 2)
        painter.setPen(QColor("#1b1e24"))  # dark text reads on the warning colour in both themes
        painter.setFont(_BOLD)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, words)
        return pill.left()

    def _paint_picture(self, painter: QPainter, c, inside: QRectF) -> None:
        """The picture, pixels kept sharp, with the kind and two statistics beside it."""
        picture = self.art.picture
        height = inside.height()
        width = min(height * picture.width() / max(picture.height(), 1), PICTURE_MAX_WIDTH)
        target = QRectF(inside.left(), inside.top(), width, height)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, picture)
        text = inside.adjusted(width + 6, 0, 0, 0)
        first, second = self.art.caption
        painter.setFont(_FONT)
        painter.setPen(QColor(c.text))
        top_half, bottom_half = _halves(text)
        painter.drawText(top_half, LEFT, _elide(first, text.width()))
        painter.setPen(QColor(c.dim_text))
        painter.drawText(bottom_half, LEFT, _elide(second, text.width()))

    def _paint_line(self, painter: QPainter, c, inside: QRectF) -> None:
        painter.save()
        painter.translate(inside.topLeft())
        painter.scale(inside.width(), inside.height())
        pen = QPen(QColor(c.info), 1.5)
        pen.setCosmetic(True)  # 1.5 px whatever the box's scale
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.art.line)
        painter.restore()

    def _paint_top(self, painter: QPainter, c, inside: QRectF) -> None:
        """The likeliest class on a bar as long as its probability, the next two under it."""
        (label, share), rest = self.art.top[0], self.art.top[1:]
        first, second = _halves(inside)
        bar = QColor(c.info)
        bar.setAlphaF(0.35)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bar)
        length = first.width() * max(0.0, min(share, 1.0))
        painter.drawRoundedRect(QRectF(first.left(), first.top() + 1, length, first.height() - 2), 2, 2)
        percent = f"{share:.0%}"
        painter.setFont(_BOLD)
        painter.setPen(QColor(c.text))
        label_box = first.adjusted(4, 0, -4, 0)
        painter.drawText(label_box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, percent)
        room = label_box.width() - _BOLD_METRICS.horizontalAdvance(percent) - 6
        painter.drawText(label_box, LEFT, _elide(label, room, _BOLD_METRICS))
        if rest:
            painter.setFont(_FONT)
            painter.setPen(QColor(c.dim_text))
            others = "then " + " · ".join(f"{name} {p:.0%}" for name, p in rest)
            painter.drawText(second.adjusted(4, 0, -4, 0), LEFT, _elide(others, second.width() - 8))


def _elide(text: str, width: float, metrics: QFontMetricsF = _METRICS) -> str:
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


def _halves(rect: QRectF) -> tuple[QRectF, QRectF]:
    half = rect.height() / 2
    return QRectF(rect.left(), rect.top(), rect.width(), half), QRectF(rect.left(), rect.top() + half,
                                                                        rect.width(), half)
