"""The look of the editor: two colour themes, the Qt palette and stylesheet built from them, and icons.

Everything that paints (canvas, panels) asks this module for colours instead of hard-coding them, so a
theme switch is one call to `apply_theme` followed by a repaint. The colours themselves live in the core
(app/core/nodes/appearance.py), where the model report reads them too; the window furniture's are here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from app.core.nodes.appearance import THEME_COLORS, THEMES, Colors

ICON_DIR = Path(__file__).resolve().parents[2] / "resources" / "icons"

# Pixmap sizes baked into every icon: 16-48 px at 1x, and their 2x versions, so Qt never upscales.
_ICON_SIZES = (16, 24, 32, 48, 64, 96)

# The SVGs draw in this placeholder; it is swapped for a theme colour before rendering.
_SVG_PLACEHOLDER = "currentColor"

# Status icons keep their meaning at a glance by drawing in the status colour rather than the text colour.
_STATUS_ICONS = ("error", "warning", "info", "ok")


@dataclass(frozen=True)
class _Chrome:
    """Window-furniture colours the palette and stylesheet need but nothing else paints with."""

    window: str
    base: str
    alternate_base: str
    button: str
    border: str
    hover: str
    highlight: str
    highlighted_text: str
    disabled_text: str
    shadow: str


_CHROME = {
    "dark": _Chrome(
        window="#23272e",
        base="#1b1e24",
        alternate_base="#20242a",
        button="#2d323b",
        border="#3a404b",
        hover="#353b46",
        highlight="#2f6fdb",
        highlighted_text="#ffffff",
        disabled_text="#6b7280",
        shadow="#0d0f12",
    ),
    "light": _Chrome(
        window="#eef0f3",
        base="#ffffff",
        alternate_base="#f6f7f9",
        button="#f8f9fb",
        border="#c6ccd5",
        hover="#e3e7ed",
        highlight="#1f6feb",
        highlighted_text="#ffffff",
        disabled_text="#8c939e",
        shadow="#8c939e",
    ),
}

# Sizes are in device-independent pixels, so the sheet scales with the screen.
_STYLESHEET = Template("""
QToolTip { color: $text; background: $button; border: 1px solid $border; padding: 4px 6px; }

QLabel[role="error"] { color: $error; }
QLabel[role="ok"] { color: $ok; }
QLabel[role="warning"] { color: $warning; }
QLabel[role="dim"] { color: $dim_text; }
QLabel[role="heading"] { font-weight: 600; font-size: ${heading_pt}pt; }

QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"] {
    border: 1px solid $error; border-radius: 2px; padding: 1px 2px; background: $base;
}

QMainWindow::separator { background: $border; width: 1px; height: 1px; }
QDockWidget::title {
    background: $button; color: $dim_text; padding: 5px 8px; border-bottom: 1px solid $border;
}

QTabWidget::pane { border: 1px solid $border; top: -1px; }
QTabBar::tab {
    background: $window; color: $dim_text; padding: 5px 12px;
    border: 1px solid transparent; border-bottom: 1px solid $border;
}
QTabBar::tab:hover { color: $text; background: $hover; }
QTabBar::tab:selected {
    color: $text; background: $base; border: 1px solid $border; border-bottom: 2px solid $highlight;
}

QToolBar { background: $window; border: none; border-bottom: 1px solid $border; padding: 2px; spacing: 2px; }
QToolBar::separator { background: $border; width: 1px; margin: 4px 4px; }
QToolButton { border: 1px solid transparent; border-radius: 4px; padding: 3px; }
QToolButton:hover { background: $hover; border-color: $border; }
QToolButton:pressed, QToolButton:checked { background: $button; border-color: $highlight; }

QStatusBar { background: $window; color: $dim_text; border-top: 1px solid $border; }
QStatusBar::item { border: none; }

QTreeView, QTableView, QListView {
    background: $base; alternate-background-color: $alternate_base; border: 1px solid $border;
    selection-background-color: $highlight; selection-color: $highlighted_text;
}
QHeaderView::section {
    background: $button; color: $dim_text; padding: 4px 6px; border: none;
    border-right: 1px solid $border; border-bottom: 1px solid $border;
}
QTableCornerButton::section { background: $button; border: none; border-bottom: 1px solid $border; }

QScrollBar:vertical { background: transparent; width: 10px; margin: 0; }
QScrollBar:horizontal { background: transparent; height: 10px; margin: 0; }
QScrollBar::handle { background: $border; border-radius: 4px; border: 1px solid transparent; }
QScrollBar::handle:hover { background: $dim_text; }
QScrollBar::handle:vertical { min-height: 24px; margin: 1px; }
QScrollBar::handle:horizontal { min-width: 24px; margin: 1px; }
QScrollBar::add-line, QScrollBar::sub-line { width: 0; height: 0; border: none; background: none; }
QScrollBar::add-page, QScrollBar::sub-page { background: none; }
""")

_current_theme = THEMES[0]
_icon_cache: dict[tuple[str, str], QIcon] = {}


def colors(name: str | None = None) -> Colors:
    """The colours of theme `name`, or of the theme in use when `name` is None."""
    return THEME_COLORS[_checked_theme(_current_theme if name is None else name)]


def current_theme() -> str:
    return _current_theme


def apply_theme(app: QApplication, name: str) -> None:
    """Restyle the whole application; widgets that cache icons must fetch them again."""
    global _current_theme
    _checked_theme(name)
    # Matching window frames where the platform takes the hint (Qt >= 6.8); first, so our palette wins.
    hints = QGuiApplication.styleHints()
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(Qt.ColorScheme.Dark if name == "dark" else Qt.ColorScheme.Light)
    app.setStyle("Fusion")
    app.setPalette(_palette(THEME_COLORS[name], _CHROME[name]))
    app.setStyleSheet(_stylesheet(app, name))
    _current_theme = name


def icon(name: str) -> QIcon:
    """`resources/icons/<name>.svg` drawn in the current theme's colours, sharp at any scale up to 2x."""
    key = (name, _current_theme)
    if key not in _icon_cache:
        path = ICON_DIR / f"{name}.svg"
        if not path.is_file():
            raise KeyError(f"no icon {name!r}: {path} does not exist")
        svg = path.read_text(encoding="utf-8")
        theme_colors, chrome = colors(), _CHROME[_current_theme]
        tints = {
            QIcon.Mode.Normal: getattr(theme_colors, name) if name in _STATUS_ICONS else theme_colors.text,
            QIcon.Mode.Disabled: chrome.disabled_text,
            # Selected rows are filled with the highlight colour; only the highlighted text reads on it.
            QIcon.Mode.Selected: chrome.highlighted_text,
        }
        _icon_cache[key] = _svg_icon(svg, tints)
    return _icon_cache[key]


def category_icon(category: str) -> QIcon:
    """A rounded swatch in the category's title-bar colour, so the palette matches the nodes it creates."""
    key = (f"category:{category}", _current_theme)
    if key not in _icon_cache:
        category_colors = colors().category
        if category not in category_colors:
            raise KeyError(f"no category {category!r}; known: {', '.join(category_colors)}")
        fill = QColor(category_colors[category])
        # On a selected row the swatch can vanish into the highlight, so it gets a ring there.
        ring = QColor(_CHROME[_current_theme].highlighted_text)
        swatch = QIcon()
        for size in _ICON_SIZES:
            swatch.addPixmap(_swatch_pixmap(size, fill))
            swatch.addPixmap(_swatch_pixmap(size, fill, ring), QIcon.Mode.Selected)
        _icon_cache[key] = swatch
    return _icon_cache[key]


def _checked_theme(name: str) -> str:
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; valid themes: {', '.join(THEMES)}")
    return name


def _palette(theme_colors: Colors, chrome: _Chrome) -> QPalette:
    role = QPalette.ColorRole
    palette = QPalette()
    for color_role, value in (
        (role.Window, chrome.window),
        (role.WindowText, theme_colors.text),
        (role.Base, chrome.base),
        (role.AlternateBase, chrome.alternate_base),
        (role.Text, theme_colors.text),
        (role.PlaceholderText, theme_colors.dim_text),
        (role.Button, chrome.button),
        (role.ButtonText, theme_colors.text),
        (role.BrightText, theme_colors.error),
        (role.ToolTipBase, chrome.button),
        (role.ToolTipText, theme_colors.text),
        (role.Highlight, chrome.highlight),
        (role.HighlightedText, chrome.highlighted_text),
        (role.Accent, chrome.highlight),
        (role.Link, theme_colors.info),
        (role.LinkVisited, theme_colors.category["pretrained"]),
        (role.Light, chrome.hover),
        (role.Midlight, chrome.button),
        (role.Mid, chrome.border),
        (role.Dark, chrome.shadow),
        (role.Shadow, chrome.shadow),
    ):
        palette.setColor(color_role, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    dimmed_roles = (role.WindowText, role.Text, role.ButtonText, role.PlaceholderText, role.HighlightedText)
    for color_role in dimmed_roles:
        palette.setColor(disabled, color_role, QColor(chrome.disabled_text))
    palette.setColor(disabled, role.Highlight, QColor(chrome.border))
    palette.setColor(disabled, role.Base, QColor(chrome.window))
    return palette


def _stylesheet(app: QApplication, name: str) -> str:
    base_pt = app.font().pointSizeF()
    # A font set in pixels reports -1 points; fall back to the usual desktop size.
    heading_pt = round((base_pt if base_pt > 0 else 10.0) * 1.2, 1)
    return _STYLESHEET.substitute(
        {**asdict(THEME_COLORS[name]), **asdict(_CHROME[name]), "heading_pt": heading_pt}
    )


def _svg_icon(svg: str, tints: dict[QIcon.Mode, str]) -> QIcon:
    result = QIcon()
    for mode, tint in tints.items():
        renderer = QSvgRenderer(QByteArray(svg.replace(_SVG_PLACEHOLDER, tint).encode("utf-8")))
        for size in _ICON_SIZES:
            result.addPixmap(_rendered_pixmap(renderer, size), mode)
    return result


def _rendered_pixmap(renderer: QSvgRenderer, size: int) -> QPixmap:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return QPixmap.fromImage(image)


def _swatch_pixmap(size: int, fill: QColor, ring: QColor | None = None) -> QPixmap:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if ring is None:
        painter.setPen(Qt.PenStyle.NoPen)
    else:
        painter.setPen(QPen(ring, size / 16))
    painter.setBrush(fill)
    inset = size / 8
    side = size - 2 * inset
    painter.drawRoundedRect(QRectF(inset, inset, side, side), side / 4, side / 4)
    painter.end()
    return QPixmap.fromImage(image)
