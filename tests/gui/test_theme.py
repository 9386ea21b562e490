"""The themes stay legible and the icons render, at 1x and at 2x."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from app.gui import theme

ICON_NAMES = (
    "new", "open", "save", "undo", "redo", "cut", "copy", "paste", "delete", "duplicate", "frame", "layout",
    "fix", "error", "warning", "info", "ok", "search", "zoom-in", "zoom-out", "model", "theme",
)  # fmt: skip
CATEGORIES = ("input", "pretrained", "adapter", "merge", "layer", "output")
WCAG_AA_TEXT = 4.5


@pytest.fixture(autouse=True)
def restored_look(qapp: QApplication, monkeypatch: pytest.MonkeyPatch):
    """Themes are application-wide; put everything back so later tests see the look they started with."""
    monkeypatch.setattr(theme, "_current_theme", theme.current_theme())
    palette, style_sheet, style_name = QPalette(qapp.palette()), qapp.styleSheet(), qapp.style().name()
    yield
    qapp.setStyleSheet(style_sheet)
    qapp.setStyle(style_name)
    qapp.setPalette(palette)


def contrast_ratio(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio between two colours."""

    def luminance(hex_color: str) -> float:
        color = QColor(hex_color)
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in color.getRgbF()[:3]]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def has_visible_pixels(icon: QIcon, size: int, device_pixel_ratio: float) -> bool:
    pixmap = icon.pixmap(QSize(size, size), device_pixel_ratio)
    # A pixmap of exactly size x ratio pixels means Qt picked a sharp rendering rather than scaling one.
    assert (pixmap.width(), pixmap.height()) == (round(size * device_pixel_ratio),) * 2
    image = pixmap.toImage()
    pixels = ((x, y) for x in range(image.width()) for y in range(image.height()))
    return any(image.pixelColor(x, y).alpha() > 0 for x, y in pixels)


@pytest.mark.parametrize("theme_name", theme.THEMES)
@pytest.mark.parametrize("name", ICON_NAMES)
def test_every_icon_renders_at_1x_and_2x(qapp: QApplication, name: str, theme_name: str) -> None:
    theme.apply_theme(qapp, theme_name)
    icon = theme.icon(name)
    assert has_visible_pixels(icon, 24, 1.0)
    assert has_visible_pixels(icon, 24, 2.0)


def test_icons_are_cached_per_theme(qapp: QApplication) -> None:
    theme.apply_theme(qapp, "dark")
    dark_icon = theme.icon("save")
    assert theme.icon("save").cacheKey() == dark_icon.cacheKey()
    theme.apply_theme(qapp, "light")
    assert theme.icon("save").cacheKey() != dark_icon.cacheKey()


def test_unknown_icon_names_the_missing_file(qapp: QApplication) -> None:
    with pytest.raises(KeyError, match="no-such-icon.svg"):
        theme.icon("no-such-icon")


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_icons_render(qapp: QApplication, category: str) -> None:
    assert has_visible_pixels(theme.category_icon(category), 16, 2.0)


def test_both_themes_apply_and_change_the_window_colour(qapp: QApplication) -> None:
    window_colors = {}
    for name in theme.THEMES:
        theme.apply_theme(qapp, name)
        assert theme.current_theme() == name
        assert theme.colors() == theme.colors(name)
        window_colors[name] = QApplication.palette().color(QPalette.ColorRole.Window).name()
    assert window_colors["dark"] != window_colors["light"]
    assert QColor(window_colors["dark"]).lightness() < QColor(window_colors["light"]).lightness()


def test_the_stylesheet_styles_the_roles_panels_rely_on(qapp: QApplication) -> None:
    theme.apply_theme(qapp, "dark")
    for selector in ('QLabel[role="error"]', 'QLabel[role="dim"]', 'QLabel[role="heading"]'):
        assert selector in qapp.styleSheet()
    assert 'QLineEdit[invalid="true"]' in qapp.styleSheet()
    assert theme.colors().error in qapp.styleSheet()


def test_dark_and_light_colours_differ() -> None:
    dark, light = theme.colors("dark"), theme.colors("light")
    assert dark != light
    assert dark.canvas != light.canvas
    assert dark.text != light.text


@pytest.mark.parametrize("name", theme.THEMES)
def test_every_category_has_its_own_colour(name: str) -> None:
    category = theme.colors(name).category
    assert set(category) == set(CATEGORIES)
    assert len(set(category.values())) == len(CATEGORIES)


@pytest.mark.parametrize("name", theme.THEMES)
def test_text_is_legible_on_every_surface(name: str) -> None:
    colors = theme.colors(name)
    assert contrast_ratio(colors.text, colors.node_body) >= WCAG_AA_TEXT
    assert contrast_ratio(colors.text, colors.canvas) >= WCAG_AA_TEXT
    for category, title_bar in colors.category.items():
        assert contrast_ratio(colors.title_text, title_bar) >= WCAG_AA_TEXT, category


def test_unknown_theme_is_refused_with_the_valid_names(qapp: QApplication) -> None:
    with pytest.raises(ValueError, match="dark, light"):
        theme.apply_theme(qapp, "solarized")
    with pytest.raises(ValueError, match="dark, light"):
        theme.colors("solarized")
