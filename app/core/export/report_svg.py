"""The model report's pictures, drawn as SVG without a plotting library: the graph as the editor
draws it, from the saved positions and the analysis, and the latest run's history charts.

The node geometry and colours come from app/core/nodes/appearance.py, which the canvas paints
with too, so the picture matches the editor (in the light theme, which prints well). Every text
that comes from the project is escaped: its names must never become markup."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from app.core.analysis.freezing import freezing_badge
from app.core.analysis.validate import ERROR, WARNING, Analysis
from app.core.document.project import Project
from app.core.graph.graph import Node
from app.core.nodes import node_type
from app.core.nodes.appearance import (
    BADGE_INSET,
    BADGE_RADIUS,
    CORNER,
    NAME_HEIGHT,
    NAME_TOP,
    NODE_WIDTH,
    ROW_HEIGHT,
    SUBTITLE_HEIGHT,
    SUBTITLE_TOP,
    THEME_COLORS,
    TITLE_HEIGHT,
    edge_bend,
    node_height,
    params_text,
    spec_text,
)

COLORS = THEME_COLORS["light"]  # the report prints: the light theme's colours
TEXT, DIM_TEXT, BORDER, EDGE, ERROR_COLOR, WARNING_COLOR = (
    COLORS.text, COLORS.dim_text, COLORS.node_border, COLORS.edge, COLORS.error, COLORS.warning)
MARGIN = 40.0
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
CHAR_WIDTH = 6.2  # of an 11 px sans-serif character, on average: how much text fits a box
CURVE_COLORS = ("#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7e8c", "#57606a")
# History columns that are not per-epoch numbers to plot (the learning rate has its own schedule)
HISTORY_SKIPPED = ("phase", "epoch", "learning_rate", "lr")
CHART_WIDTH, CHART_HEIGHT = 760.0, 230.0
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM, LEGEND_ROW = 64.0, 210.0, 28.0, 34.0, 16.0


# -- the graph picture -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Box:
    """A node as drawn: its place and the rows of its ports."""

    node: Node
    x: float
    y: float
    inputs: list[str]
    outputs: list[str]

    @property
    def height(self) -> float:
        return node_height(len(self.inputs) + len(self.outputs))

    def anchor(self, port: str, is_input: bool) -> tuple[float, float]:
        """Where an edge meets the port, as on the canvas (the title's side if it has none)."""
        rows = self.inputs if is_input else self.outputs
        x = self.x if is_input else self.x + NODE_WIDTH
        if port not in rows:
            return x, self.y + TITLE_HEIGHT / 2
        row = rows.index(port) + (0 if is_input else len(self.inputs))
        return x, self.y + TITLE_HEIGHT + ROW_HEIGHT * (row + 0.5)


def graph_svg(project: Project, analysis: Analysis) -> str:
    """The graph as inline SVG: boxes coloured by kind at their saved positions, edges as the
    editor's S-curves with arrowheads, each labelled with the shape it carries."""
    graph, ctx = project.graph, project.context
    boxes = {}
    for node in graph.nodes:
        kind = node_type(node.type)
        connected = {e.target_port for e in graph.in_edges(node.id)}
        boxes[node.id] = _Box(node, *node.position, [p.name for p in kind.input_ports(node, connected, ctx)],
                              kind.output_ports(node, ctx))
    left = min(b.x for b in boxes.values()) - MARGIN
    top = min(b.y for b in boxes.values()) - MARGIN
    width = max(b.x + NODE_WIDTH for b in boxes.values()) + MARGIN - left
    height = max(b.y + b.height for b in boxes.values()) + MARGIN - top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left:g} {top:g} {width:g} {height:g}" '
             f'width="{width:g}" height="{height:g}" font-family="{FONT}" font-size="11" role="img" '
             f'aria-label="The graph of {_attr(project.name)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE}"/></marker>'
             '<marker id="arrow-error" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{ERROR_COLOR}"/></marker>'
             '</defs>']
    faulty = {p.edge_id for p in analysis.errors if p.edge_id}  # red, as the canvas draws them
    labels = []
    for edge in graph.edges:
        if edge.source not in boxes or edge.target not in boxes:
            continue
        start = boxes[edge.source].anchor(edge.source_port, False)
        end = boxes[edge.target].anchor(edge.target_port, True)
        bend = edge_bend(start[0], end[0])
        controls = (start[0] + bend, start[1]), (end[0] - bend, end[1])
        colour, marker = (ERROR_COLOR, "arrow-error") if edge.id in faulty else (EDGE, "arrow")
        parts.append(f'<path d="M{_xy(start)} C{_xy(controls[0])} {_xy(controls[1])} {_xy(end)}" '
                     f'fill="none" stroke="{colour}" stroke-width="1.5" marker-end="url(#{marker})">'
                     f'<title>{escape(graph.describe_edge(edge))}</title></path>')
        spec = analysis.output_spec(edge.source, edge.source_port) if edge.source in analysis.nodes else None
        if spec is not None:  # at the curve's midpoint, with a halo so it reads over other edges
            mid_x = (start[0] + 3 * controls[0][0] + 3 * controls[1][0] + end[0]) / 8
            mid_y = (start[1] + 3 * controls[0][1] + 3 * controls[1][1] + end[1]) / 8
            labels.append(f'<text x="{mid_x:.1f}" y="{mid_y - 5:.1f}" text-anchor="middle" fill="{DIM_TEXT}" '
                          f'stroke="{COLORS.node_body}" stroke-width="3" paint-order="stroke">'
                          f'{escape(spec_text(spec))}</text>')
    for index, box in enumerate(boxes.values()):
        freezing = freezing_badge(graph, box.node, analysis.nodes.get(box.node.id), None)
        parts.append(_node_svg(box, analysis, f"node-clip-{index}", freezing))
    parts.extend(labels)
    parts.append("</svg>")
    return "\n".join(parts)


def _node_svg(box: _Box, analysis: Analysis, clip: str, freezing: str) -> str:
    """A node card as the canvas paints it; `freezing` is how it trains by its own setting."""
    node, x, y = box.node, box.x, box.y
    kind = node_type(node.type)
    result = analysis.nodes.get(node.id)
    severities = {p.severity for p in analysis.problems if p.node_id == node.id}
    border = ERROR_COLOR if ERROR in severities else BORDER
    colour = COLORS.category.get(kind.category, EDGE)
    parts = [f'<g><title>{escape(node.name)} ({escape(kind.title)})</title>',
             f'<clipPath id="{clip}"><rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" '
             f'height="{box.height:g}" rx="{CORNER:g}"/></clipPath>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{box.height:g}" rx="{CORNER:g}" '
             f'fill="{COLORS.node_body}"/>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{TITLE_HEIGHT:g}" fill="{colour}" '
             f'clip-path="url(#{clip})"/>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{box.height:g}" rx="{CORNER:g}" '
             f'fill="none" stroke="{border}" stroke-width="{2 if ERROR in severities else 1}"/>',
             f'<text x="{x + 10:g}" y="{y + NAME_TOP + NAME_HEIGHT / 2 + 4:g}" fill="{COLORS.title_text}" '
             f'font-weight="bold">{escape(_fit(node.name, NODE_WIDTH - 40))}</text>',
             f'<text x="{x + 10:g}" y="{y + SUBTITLE_TOP + SUBTITLE_HEIGHT / 2 + 3.5:g}" '
             f'fill="{COLORS.title_text}" fill-opacity="0.85" font-size="10">'
             f'{escape(_fit(kind.subtitle(node), NODE_WIDTH - 40))}</text>']
    if severities & {ERROR, WARNING}:
        badge = ERROR_COLOR if ERROR in severities else WARNING_COLOR
        centre_x = x + NODE_WIDTH - BADGE_INSET
        parts.append(f'<circle cx="{centre_x:g}" cy="{y + TITLE_HEIGHT / 2:g}" r="{BADGE_RADIUS:g}" '
                     f'fill="{badge}" stroke="{COLORS.node_body}" stroke-width="1.5"/>'
                     f'<text x="{centre_x:g}" y="{y + TITLE_HEIGHT / 2 + 4:g}" text-anchor="middle" '
                     f'fill="{COLORS.title_text}" font-weight="bold">!</text>')
    row_y = y + TITLE_HEIGHT + ROW_HEIGHT / 2 + 4
    for port in box.inputs:
        spec = result.inputs.get(port) if result else None
        parts.append(f'<text x="{x + 12:g}" y="{row_y:g}"><tspan fill="{DIM_TEXT}">{escape(_fit(port, 90))}'
                     f'</tspan><tspan fill="{TEXT}" dx="8">{escape(spec_text(spec, ""))}</tspan></text>')
        row_y += ROW_HEIGHT
    for port in box.outputs:
        spec = result.outputs.get(port) if result and result.outputs else None
        parts.append(f'<text x="{x + NODE_WIDTH - 12:g}" y="{row_y:g}" text-anchor="end">'
                     f'<tspan fill="{TEXT}">{escape(spec_text(spec))}</tspan>'
                     f'<tspan fill="{DIM_TEXT}" dx="8">{escape(_fit(port, 90))}</tspan></text>')
        row_y += ROW_HEIGHT
    if freezing:
        parts.append(f'<text x="{x + 10:g}" y="{row_y:g}" font-weight="bold" font-size="10" '
                     f'fill="{COLORS.info if freezing == "frozen" else COLORS.ok}">{escape(freezing)}</text>')
    parts.append(f'<text x="{x + NODE_WIDTH - 10:g}" y="{row_y:g}" fill="{DIM_TEXT}" text-anchor="end">'
                 f'{escape(params_text(result.param_count if result else None))}</text></g>')
    return "".join(parts)


def _fit(text: str, width: float) -> str:
    """`text` shortened in the middle to about `width` pixels, as the canvas elides."""
    room = max(int(width / CHAR_WIDTH), 3)
    if len(text) <= room:
        return text
    keep = room - 1
    return text[:(keep + 1) // 2] + "…" + text[len(text) - keep // 2:]


def _xy(point: tuple[float, float]) -> str:
    return f"{point[0]:.1f},{point[1]:.1f}"


def _attr(text: str) -> str:
    return escape(text, quote=True)


# -- the history chart -----------------------------------------------------------------------------

def history_svg(history: list[dict]) -> str | None:
    """The run's epoch curves as inline SVG: one panel for the losses and one per metric,
    training solid and validation dashed, phases marked; None when nothing is plottable."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for epoch, row in enumerate(history, 1):
        if not isinstance(row, dict):
            continue
        for key, value in row.items():
            if key in HISTORY_SKIPPED or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):  # a diverged epoch's NaN has no place on the axis
                curves.setdefault(str(key), []).append((epoch, float(value)))
    panels: dict[str, list[str]] = {}
    for key in curves:
        base = key[4:] if key.startswith("val_") else key
        panel = "loss" if base == "loss" or base.endswith("_loss") else base
        panels.setdefault(panel, []).append(key)
    if not panels:
        return None
    ordered = sorted(panels, key=lambda name: name != "loss")  # losses first, metrics as logged
    phases = _phase_starts(history)
    heights = [max(CHART_HEIGHT, CHART_TOP + LEGEND_ROW * len(panels[p]) + CHART_BOTTOM) for p in ordered]
    height = sum(heights)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH:g} {height:g}" '
             f'width="{CHART_WIDTH:g}" height="{height:g}" font-family="{FONT}" font-size="11" role="img" '
             'aria-label="Training history">']
    top = 0.0
    for panel, panel_height in zip(ordered, heights):
        parts.append(_panel_svg(panel, {key: curves[key] for key in panels[panel]}, len(history), phases,
                                top, panel_height))
        top += panel_height
    parts.append("</svg>")
    return "\n".join(parts)


def _phase_starts(history: list[dict]) -> list[tuple[int, str]]:
    """(first epoch, name) of each phase, when the run had more than one."""
    starts, previous = [], None
    for epoch, row in enumerate(history, 1):
        phase = row.get("phase") if isinstance(row, dict) else None
        if phase != previous:
            starts.append((epoch, str(phase)))
            previous = phase
    return starts if len(starts) > 1 else []


def _panel_svg(title: str, curves: dict[str, list[tuple[int, float]]], epochs: int,
               phases: list[tuple[int, str]], top: float, height: float) -> str:
    left, right = CHART_LEFT, CHART_WIDTH - CHART_RIGHT
    plot_top, bottom = top + CHART_TOP, top + height - CHART_BOTTOM
    values = [v for points in curves.values() for _, v in points]
    y_ticks = _ticks(min(values), max(values))
    low, high = y_ticks[0], y_ticks[-1]
    x_low, x_high = 1, max(epochs, 2)

    def px(epoch: float) -> float:
        return left + (epoch - x_low) / (x_high - x_low) * (right - left)

    def py(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - plot_top)

    parts = [f'<g><text x="{left:g}" y="{top + 16:g}" font-weight="bold" fill="{TEXT}">'
             f'{escape(title)}</text>',
             f'<rect x="{left:g}" y="{plot_top:g}" width="{right - left:g}" height="{bottom - plot_top:g}" '
             f'fill="none" stroke="{BORDER}"/>']
    for value in y_ticks:
        y = py(value)
        parts.append(f'<line x1="{left:g}" y1="{y:.1f}" x2="{right:g}" y2="{y:.1f}" stroke="#eaeef2"/>'
                     f'<text x="{left - 6:g}" y="{y + 4:.1f}" text-anchor="end" fill="{DIM_TEXT}">'
                     f'{value:.4g}</text>')
    step = max(1, math.ceil(epochs / 10))
    for epoch in range(1, epochs + 1, step):
        parts.append(f'<text x="{px(epoch):.1f}" y="{bottom + 15:g}" text-anchor="middle" fill="{DIM_TEXT}">'
                     f'{epoch}</text>')
    parts.append(f'<text x="{(left + right) / 2:g}" y="{bottom + 29:g}" text-anchor="middle" '
                 f'fill="{DIM_TEXT}">epoch</text>')
    edges = [px(epoch - 0.5) if epoch > 1 else left for epoch, _ in phases] + [right]
    for (_, name), x, next_x in zip(phases, edges, edges[1:]):  # a label fits its phase's span
        parts.append(f'<line x1="{x:.1f}" y1="{plot_top:g}" x2="{x:.1f}" y2="{bottom:g}" stroke="{DIM_TEXT}" '
                     f'stroke-dasharray="2,3"/><text x="{x + 3:.1f}" y="{plot_top + 12:g}" fill="{DIM_TEXT}">'
                     f'{escape(_fit(name, next_x - x - 6))}</text>')
    colours: dict[str, str] = {}
    for row, (key, points) in enumerate(curves.items()):
        base = key[4:] if key.startswith("val_") else key
        colour = colours.setdefault(base, CURVE_COLORS[len(colours) % len(CURVE_COLORS)])
        dash = ' stroke-dasharray="6,4"' if key.startswith("val_") else ""
        coordinates = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in points)
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.8"'
                     f'{dash}><title>{escape(key)}</title></polyline>')
        if len(points) <= 40:  # marks make a short run (even a single epoch) readable
            parts.extend(f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="2.5" fill="{colour}"/>'
                         for e, v in points)
        legend_y = plot_top + 8 + row * LEGEND_ROW
        parts.append(f'<line x1="{right + 14:g}" y1="{legend_y:g}" x2="{right + 38:g}" y2="{legend_y:g}" '
                     f'stroke="{colour}" stroke-width="1.8"{dash}/>'
                     f'<text x="{right + 44:g}" y="{legend_y + 4:g}" fill="{TEXT}">'
                     f'{escape(_fit(key, CHART_RIGHT - 50))}</text>')
    parts.append("</g>")
    return "".join(parts)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values from at most `low` to at least `high`, about `count` steps apart."""
    if high - low < 1e-12 * max(abs(low), abs(high), 1e-300):
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(i * step, 12) for i in range(first, last + 1)]
