"""The Training dock's furniture: the message banner over its tabs (how a run ended, with an
action) and the media icons of its buttons, drawn in the theme's colours."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from app.gui.theme import colors, icon


def media_icon(kind: str, color: str) -> QIcon:
    """Play, pause, stop and resume glyphs, drawn in the theme's colours (dimmed when disabled)."""
    result = QIcon()
    disabled = QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    for mode, tint in ((QIcon.Mode.Normal, QColor(color)), (QIcon.Mode.Disabled, disabled)):
        for size in (16, 24, 32, 48):
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(tint)
            s = size / 16
            if kind in ("start", "resume"):
                path = QPainterPath()
                left = 4 * s if kind == "start" else 6 * s
                path.moveTo(QPointF(left, 3 * s))
                path.lineTo(QPointF(left + 9 * s, 8 * s))
                path.lineTo(QPointF(left, 13 * s))
                path.closeSubpath()
                painter.drawPath(path)
                if kind == "resume":
                    painter.drawRect(QRectF(2.5 * s, 3 * s, 2 * s, 10 * s))
            elif kind == "pause":
                painter.drawRoundedRect(QRectF(4 * s, 3 * s, 3 * s, 10 * s), s, s)
                painter.drawRoundedRect(QRectF(9 * s, 3 * s, 3 * s, 10 * s), s, s)
            else:
                painter.drawRoundedRect(QRectF(3.5 * s, 3.5 * s, 9 * s, 9 * s), 1.5 * s, 1.5 * s)
            painter.end()
            result.addPixmap(pixmap, mode)
    return result


class Banner(QFrame):
    """A message across the panel (finished, stopped, diverged, failed) with an optional
    action button ("Details…", "Show results") and a close button."""

    ROLES = {"ok": "ok", "info": "info", "warning": "warning", "error": "error"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingBanner")
        self.kind = "info"
        self.icon_label = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton()
        self.action_button.hide()
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        self._action: Callable[[], None] | None = None
        self.action_button.clicked.connect(lambda: self._action and self._action())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, kind: str, text: str, action: str | None = None,
                     on_action: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.text.setText(text)
        self._action = on_action
        self.action_button.setText(action or "")
        self.action_button.setVisible(bool(action))
        self.apply_theme()
        self.show()

    def apply_theme(self) -> None:
        theme = colors()
        accent = QColor(getattr(theme, self.ROLES.get(self.kind, "info")))
        base = QApplication.palette().color(QPalette.ColorRole.Base)
        fill = QColor(*(round(b * 0.88 + a * 0.12) for b, a in zip(base.getRgb()[:3], accent.getRgb()[:3])))
        self.setStyleSheet(f"QFrame#trainingBanner {{ background: {fill.name()}; "
                           f"border: 1px solid {accent.name()}; border-radius: 4px; }}")
        self.icon_label.setPixmap(icon(self.kind).pixmap(18, 18))
