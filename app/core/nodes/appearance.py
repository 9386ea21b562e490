"""What a node looks like wherever it is drawn: its geometry and the colour themes.

The canvas (app/gui/canvas/items.py) paints nodes with these numbers and colours, and the
model report (app/core/export/report_svg.py) draws the same picture as SVG from them, so the
two cannot drift apart. app/gui/theme.py builds the Qt palette and stylesheet from the
colours. Plain numbers and hex strings only: the core reads them without Qt."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.graph.specs import TensorSpec, format_shape
from app.core.nodes.base import ADAPTER, INPUT, LAYER, MERGE, OUTPUT, PRETRAINED

# A node card: a title bar (its name, and under it its subtitle: what it is or holds), one row
# per port (inputs first, then outputs), a footer (how it trains, its parameter count).
NODE_WIDTH = 240.0
TITLE_HEIGHT = 40.0
NAME_TOP, NAME_HEIGHT = 4.0, 18.0  # the name's line in the title bar
SUBTITLE_TOP, SUBTITLE_HEIGHT = 21.0, 15.0  # the subtitle's line under it
ROW_HEIGHT = 20.0
FOOTER_HEIGHT = 22.0
PILL_HEIGHT, PILL_PADDING = 15.0, 6.0  # the freezing badge in the footer: its height, its text's margin
PORT_RADIUS = 5.5
CORNER = 6.0  # of the card's rounded outline
BADGE_RADIUS, BADGE_INSET = 8.0, 14.0  # the problem badge: its size, its centre's distance from the right
# A connection leaves and enters its ports horizontally, bending over at least this distance.
EDGE_MIN_BEND = 40.0


def node_height(rows: int) -> float:
    """The height of a node card with `rows` ports."""
    return TITLE_HEIGHT + ROW_HEIGHT * rows + FOOTER_HEIGHT


def edge_bend(start_x: float, end_x: float) -> float:
    """How far a connection's S-curve reaches out from each end, horizontally."""
    return max(abs(end_x - start_x) * 0.5, EDGE_MIN_BEND)


def spec_text(spec: TensorSpec | None, unknown: str = "?") -> str:
    """A port's tensor as its row shows it: the shape, and the dtype unless float32;
    `unknown` when there is none."""
    if spec is None:
        return unknown
    return format_shape(spec.shape) + ("" if spec.dtype == "float32" else f" {spec.dtype}")


def count_text(count: int) -> str:
    """A parameter count in at most nine characters, so a card's footer or the status bar never
    cuts it: exact below a million (257,984), then three digits (2.26 M, 25.6 M, 138 M, 1.20 B)."""
    if count < 1_000_000:
        return f"{count:,}"
    value, unit = count / 1e6, "M"
    if round(value) >= 1000:
        value, unit = count / 1e9, "B"
    decimals = 2 if value < 9.995 else 1 if value < 99.95 else 0
    return f"{value:,.{decimals}f} {unit}"


def params_text(count: int | None) -> str:
    """A node's parameter count as its footer shows it ("?" while unknown)."""
    if count == 0:
        return "no weights"
    return f"{'?' if count is None else count_text(count)} params"


THEMES = ("dark", "light")


@dataclass(frozen=True)
class Colors:
    """The colours the canvas and panels paint with; hex strings that QColor accepts."""

    canvas: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_selected: str
    title_text: str
    text: str
    dim_text: str
    port: str
    edge: str
    edge_selected: str
    error: str
    warning: str
    info: str
    ok: str
    category: dict[str, str]  # a node's title bar, by its category


THEME_COLORS = {
    "dark": Colors(
        canvas="#1b1e24",
        grid_minor="#22262d",
        grid_major="#2c313a",
        node_body="#2a2f38",
        node_border="#414855",
        node_selected="#5aa9ff",
        title_text="#ffffff",
        text="#e3e6eb",
        dim_text="#9aa3b2",
        port="#c3cad6",
        edge="#7f8999",
        edge_selected="#5aa9ff",
        error="#ff6b6b",
        warning="#f0b429",
        info="#5aa9ff",
        ok="#4cc38a",
        category={
            INPUT: "#137a70",
            PRETRAINED: "#6a3fc9",
            ADAPTER: "#a8590f",
            MERGE: "#267a43",
            LAYER: "#4559a3",
            OUTPUT: "#b3294e",
        },
    ),
    "light": Colors(
        canvas="#f4f5f7",
        grid_minor="#e9ebef",
        grid_major="#d9dde4",
        node_body="#ffffff",
        node_border="#c3c9d3",
        node_selected="#1f6feb",
        title_text="#ffffff",
        text="#1f2328",
        dim_text="#5c6370",
        port="#4a5261",
        edge="#7a8494",
        edge_selected="#1f6feb",
        error="#cf222e",
        warning="#9a6700",
        info="#0969da",
        ok="#1a7f37",
        category={
            INPUT: "#0f766e",
            PRETRAINED: "#6d28d9",
            ADAPTER: "#b45309",
            MERGE: "#15803d",
            LAYER: "#3f5aa8",
            OUTPUT: "#be123c",
        },
    ),
}
