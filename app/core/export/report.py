"""A model report: one page that shows a project to someone without Graft — the graph as the
editor draws it, each node's shapes and parameters, the problems, the training setup and the
latest run's history.

HTML is one self-contained file (inline SVG and CSS, no scripts, nothing fetched), so it can
be mailed, archived or attached to a ticket as it is. Markdown gets the same pictures as SVG
files beside it, for wikis and repositories. The pictures are drawn here from the saved
positions and the analysis, so the core needs no plotting library. Every text that comes from
the project (names, descriptions, paths, messages) is escaped: a project file is data, and its
names must never become markup."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

from app import __version__
from app.core.analysis.validate import ERROR, WARNING, Analysis, analyze
from app.core.document.atomic import atomic_write_text
from app.core.document.project import Project
from app.core.export.common import REPORT, ExportError, ExportReport, Progress, check_target, no_progress
from app.core.graph.graph import Node
from app.core.graph.specs import TensorSpec, format_shape
from app.core.nodes import node_type
from app.core.nodes.base import OUTPUT
from app.core.training.store import latest_run, read_history, read_state

HTML_SUFFIXES, MARKDOWN_SUFFIX = (".html", ".htm"), ".md"

# The canvas's node geometry (app/gui/canvas/items.py), so the picture matches the editor
NODE_WIDTH, TITLE_HEIGHT, ROW_HEIGHT, FOOTER_HEIGHT = 240.0, 26.0, 20.0, 20.0
MARGIN = 40.0
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
CHAR_WIDTH = 6.2  # of an 11 px sans-serif character, on average: how much text fits a box
# The light theme's category colours (app/gui/theme.py), which print well
CATEGORY_COLORS = {"input": "#0f766e", "pretrained": "#6d28d9", "adapter": "#b45309",
                   "merge": "#15803d", "layer": "#3f5aa8", "output": "#be123c"}
TEXT, DIM_TEXT, BORDER, EDGE, ERROR_COLOR, WARNING_COLOR = (
    "#1f2328", "#5c6370", "#c3c9d3", "#7a8494", "#cf222e", "#9a6700")
CURVE_COLORS = ("#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7e8c", "#57606a")
# History columns that are not per-epoch numbers to plot (the learning rate has its own schedule)
HISTORY_SKIPPED = ("phase", "epoch", "learning_rate", "lr")
CHART_WIDTH, CHART_HEIGHT = 760.0, 230.0
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM, LEGEND_ROW = 64.0, 210.0, 28.0, 34.0, 16.0


class ReportError(ExportError):
    """The report cannot be written where asked; the message says what to choose instead."""



def export_report(project: Project, out_path: str | Path, *, model=None,
                  progress: Progress = no_progress) -> ExportReport:
    """The report as an export format; `model` is not needed (the report draws the graph)."""
    progress("Writing the report")
    path = write_report(project, out_path)
    return ExportReport(REPORT, path, 0.0, True, f"Model report written to {path}.")

@dataclass(frozen=True)
class _Run:
    """The latest training run, as far as the report needs it."""

    name: str
    status: str
    history: list[dict]


def write_report(project: Project, out_path: str | Path) -> Path:
    """Write the report as `.html` (one self-contained file) or `.md` (with NAME.graph.svg and,
    after training, NAME.history.svg beside it); returns the path written."""
    out_path = Path(out_path)
    _check_target(out_path)
    analysis = analyze(project.graph, project.context)
    graph_picture = graph_svg(project, analysis) if project.graph.nodes else None
    run = _latest_run(project)
    history_picture = history_svg(run.history) if run and run.history else None
    if out_path.suffix.lower() == MARKDOWN_SUFFIX:
        pictures = {}
        for kind, svg in (("graph", graph_picture), ("history", history_picture)):
            if svg is not None:
                pictures[kind] = out_path.with_name(f"{out_path.stem}.{kind}.svg")
                atomic_write_text(pictures[kind], svg, newline="\n")
        text = _markdown(project, analysis, run, {k: p.name for k, p in pictures.items()})
    else:
        text = _html(project, analysis, run, graph_picture, history_picture)
    atomic_write_text(out_path, text, newline="\n")
    return out_path


# -- the graph picture ---------------------------------------------------------------------------

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
        return TITLE_HEIGHT + ROW_HEIGHT * (len(self.inputs) + len(self.outputs)) + FOOTER_HEIGHT

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
        bend = max(abs(end[0] - start[0]) * 0.5, 40.0)
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
                          f'stroke="#ffffff" stroke-width="3" paint-order="stroke">'
                          f'{escape(_spec_text(spec))}</text>')
    for index, box in enumerate(boxes.values()):
        parts.append(_node_svg(box, analysis, f"node-clip-{index}"))
    parts.extend(labels)
    parts.append("</svg>")
    return "\n".join(parts)


def _node_svg(box: _Box, analysis: Analysis, clip: str) -> str:
    node, x, y = box.node, box.x, box.y
    kind = node_type(node.type)
    result = analysis.nodes.get(node.id)
    severities = {p.severity for p in analysis.problems if p.node_id == node.id}
    border = ERROR_COLOR if ERROR in severities else BORDER
    colour = CATEGORY_COLORS.get(kind.category, EDGE)
    parts = [f'<g><title>{escape(node.name)} ({escape(kind.title)})</title>',
             f'<clipPath id="{clip}"><rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" '
             f'height="{box.height:g}" rx="6"/></clipPath>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{box.height:g}" rx="6" '
             'fill="#ffffff"/>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{TITLE_HEIGHT:g}" fill="{colour}" '
             f'clip-path="url(#{clip})"/>',
             f'<rect x="{x:g}" y="{y:g}" width="{NODE_WIDTH:g}" height="{box.height:g}" rx="6" fill="none" '
             f'stroke="{border}" stroke-width="{2 if ERROR in severities else 1}"/>',
             f'<text x="{x + 10:g}" y="{y + TITLE_HEIGHT / 2 + 4:g}" fill="#ffffff" font-weight="bold">'
             f'{escape(_fit(node.name, NODE_WIDTH - 40))}</text>']
    if severities & {ERROR, WARNING}:
        badge = ERROR_COLOR if ERROR in severities else WARNING_COLOR
        parts.append(f'<circle cx="{x + NODE_WIDTH - 14:g}" cy="{y + TITLE_HEIGHT / 2:g}" r="8" '
                     f'fill="{badge}" stroke="#ffffff" stroke-width="1.5"/><text x="{x + NODE_WIDTH - 14:g}" '
                     f'y="{y + TITLE_HEIGHT / 2 + 4:g}" text-anchor="middle" fill="#ffffff" '
                     'font-weight="bold">!</text>')
    row_y = y + TITLE_HEIGHT + ROW_HEIGHT / 2 + 4
    for port in box.inputs:
        spec = result.inputs.get(port) if result else None
        parts.append(f'<text x="{x + 12:g}" y="{row_y:g}"><tspan fill="{DIM_TEXT}">{escape(_fit(port, 90))}'
                     f'</tspan><tspan fill="{TEXT}" dx="8">{escape(_spec_text(spec, ""))}</tspan></text>')
        row_y += ROW_HEIGHT
    for port in box.outputs:
        spec = result.outputs.get(port) if result and result.outputs else None
        parts.append(f'<text x="{x + NODE_WIDTH - 12:g}" y="{row_y:g}" text-anchor="end">'
                     f'<tspan fill="{TEXT}">{escape(_spec_text(spec))}</tspan>'
                     f'<tspan fill="{DIM_TEXT}" dx="8">{escape(_fit(port, 90))}</tspan></text>')
        row_y += ROW_HEIGHT
    count = result.param_count if result else None
    footer = f"{kind.title} · {'?' if count is None else f'{count:,}'} params"
    parts.append(f'<text x="{x + 10:g}" y="{row_y:g}" fill="{DIM_TEXT}">'
                 f'{escape(_fit(footer, NODE_WIDTH - 20))}</text></g>')
    return "".join(parts)


def _spec_text(spec: TensorSpec | None, unknown: str = "?") -> str:
    if spec is None:
        return unknown
    return format_shape(spec.shape) + ("" if spec.dtype == "float32" else f" {spec.dtype}")


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


# -- the history chart ---------------------------------------------------------------------------

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


def _latest_run(project: Project) -> _Run | None:
    folder = latest_run(project)
    if folder is None:
        return None
    state = read_state(folder) or {}
    return _Run(folder.name, str(state.get("status", "unknown")), read_history(folder))


# -- the node table and the text -----------------------------------------------------------------

@dataclass(frozen=True)
class _Row:
    name: str
    kind: str
    shapes: str
    params: int | None
    trainable: int | None

    @property
    def frozen(self) -> int | None:
        return None if self.params is None or self.trainable is None else self.params - self.trainable


def _rows(project: Project, analysis: Analysis) -> list[_Row]:
    """One row per node, left to right and top to bottom as the picture reads."""
    rows = []
    for node in sorted(project.graph.nodes, key=lambda n: (n.position[0], n.position[1])):
        kind = node_type(node.type)
        result = analysis.nodes.get(node.id)
        specs = (result.outputs or {}) if result else {}
        if kind.category == OUTPUT and result:  # an Output passes on what reaches it
            specs = result.inputs
        if result is None or (result.outputs is None and kind.category != OUTPUT):
            shapes = "?"
        elif len(specs) == 1:
            shapes = _spec_text(next(iter(specs.values())))
        else:
            shapes = ", ".join(f"{port}: {_spec_text(spec)}" for port, spec in specs.items()) or "?"
        rows.append(_Row(node.name, kind.title, shapes, result.param_count if result else None,
                         result.trainable_count if result else None))
    return rows


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _setup(project: Project) -> list[tuple[str, str]] | None:
    """The training setup as (label, value) lines; None when the project sets none up."""
    config = project.training
    data, settings = config.data, config.settings
    if not (data["mapping"] or config.phases or config.weights):
        return None
    mapping = "; ".join(f"{name} ← {', '.join(fields) if isinstance(fields, list) else fields}"
                        for name, fields in data["mapping"].items())
    validation = (f"from {data['validation_path']}" if data["validation_path"]
                  else f"{data['validation_split']:g} of the samples")
    lines = [("Data", f"{data['source']}: {data['path']}"), ("Mapping", mapping or "none"),
             ("Validation", validation),
             ("Optimizer", f"{settings['optimizer']}, learning rate {settings['learning_rate']:g} "
                           f"({settings['schedule']})"),
             ("Batch size", str(settings["batch_size"])), ("Seed", str(settings["seed"]))]
    if settings["early_stopping"]:
        lines.append(("Early stopping", f"after {settings['early_stopping']} epochs without a better "
                                        f"{settings['monitor']}"))
    if config.phases:
        for phase in config.phases:
            rate = phase.learning_rate if phase.learning_rate is not None else settings["learning_rate"]
            details = [f"{phase.epochs} epochs", f"learning rate {rate:g}"]
            details += [f"{key.replace('_', ' ')} {_pairs(value)}" for key, value in
                        (("trainable", phase.trainable), ("losses", phase.losses),
                         ("lr_multipliers", phase.lr_multipliers)) if value]
            lines.append((f"Phase {phase.name}", ", ".join(details)))
    else:
        lines.append(("Epochs", str(settings["epochs"])))
    lines.append(("Trained weights", config.weights or "none yet"))
    return lines


def _pairs(mapping: dict) -> str:
    return ", ".join(f"{name}: {value}" for name, value in mapping.items())


def _history_sentence(run: _Run | None) -> str:
    if run is None:
        return "No training run yet: train the project and write the report again to see its history."
    if not run.history:
        return f"The latest run, {run.name} ({run.status}), recorded no epochs."
    return f"The latest run, {run.name} ({run.status}), over {len(run.history)} epochs; validation dashed."


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1f2328; margin: 2em auto;
       max-width: 1100px; padding: 0 1.5em; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.meta { color: #5c6370; margin-top: 0; }
figure { margin: 1em 0; overflow-x: auto; border: 1px solid #d9dde4; border-radius: 6px;
         background: #f4f5f7; }
figure svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border-bottom: 1px solid #d9dde4; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; border-bottom: none; }
code { font-family: ui-monospace, 'SF Mono', Menlo, Consolas, monospace; font-size: 0.92em; }
.error { color: #cf222e; }
.warning { color: #9a6700; }
.info { color: #0969da; }
"""


def _html(project: Project, analysis: Analysis, run: _Run | None, graph_picture: str | None,
          history_picture: str | None) -> str:
    total, trainable = analysis.param_totals()
    title = escape(project.name)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8"/>',
           '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
           f"<title>{title} — Graft model report</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{title}</h1>",
           f'<p class="meta">{escape(_where(project))} · report written {_now()} by Graft {__version__}</p>']
    if project.description:
        out.append(f"<p>{escape(project.description)}</p>")
    out.append("<h2>Graph</h2>")
    out.append(f"<figure>{graph_picture}</figure>" if graph_picture else "<p>The graph is empty.</p>")
    out.append("<h2>Nodes</h2>")
    out.append('<table><thead><tr><th>Name</th><th>Type</th><th>Output shape</th><th class="number">'
               'Parameters</th><th class="number">Trainable</th><th class="number">Frozen</th></tr></thead>'
               "<tbody>")
    for row in _rows(project, analysis):
        out.append(f"<tr><td><code>{escape(row.name)}</code></td><td>{escape(row.kind)}</td>"
                   f"<td><code>{escape(row.shapes)}</code></td><td class=\"number\">{_count(row.params)}</td>"
                   f"<td class=\"number\">{_count(row.trainable)}</td>"
                   f"<td class=\"number\">{_count(row.frozen)}</td></tr>")
    out.append(f'</tbody><tfoot><tr><td colspan="3">Total</td><td class="number">{total:,}</td>'
               f'<td class="number">{trainable:,}</td><td class="number">{total - trainable:,}</td></tr>'
               "</tfoot></table>")
    out.append("<h2>Problems</h2>")
    if analysis.problems:
        out.append("<ul>" + "".join(f'<li class="{escape(p.severity)}"><strong>{escape(p.severity)}'
                                    f"</strong>: {escape(p.message)}</li>" for p in analysis.problems)
                   + "</ul>")
    else:
        out.append("<p>None: every node's shapes fit.</p>")
    out.append("<h2>Training setup</h2>")
    setup = _setup(project)
    if setup is None:
        out.append("<p>No training is set up.</p>")
    else:
        out.append("<table><tbody>" + "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"
                                              for label, value in setup) + "</tbody></table>")
    out.append("<h2>Training history</h2>")
    out.append(f"<p>{escape(_history_sentence(run))}</p>")
    if history_picture:
        out.append(f"<figure>{history_picture}</figure>")
    out.extend(["</body>", "</html>", ""])
    return "\n".join(out)


def _markdown(project: Project, analysis: Analysis, run: _Run | None, pictures: dict[str, str]) -> str:
    total, trainable = analysis.param_totals()
    out = [f"# {_md(project.name)}", "", f"{_md(_where(project))} · report written {_now()} by Graft "
           f"{__version__}", ""]
    if project.description:
        out += [_md(project.description), ""]
    out += ["## Graph", "", f"![The graph]({pictures['graph']})" if "graph" in pictures else
            "The graph is empty.", "", "## Nodes", "",
            "| Name | Type | Output shape | Parameters | Trainable | Frozen |",
            "| --- | --- | --- | ---: | ---: | ---: |"]
    for row in _rows(project, analysis):
        out.append(f"| `{row.name}` | {_md(row.kind)} | `{row.shapes}` | {_count(row.params)} | "
                   f"{_count(row.trainable)} | {_count(row.frozen)} |")
    out += [f"| **Total** | | | **{total:,}** | **{trainable:,}** | **{total - trainable:,}** |", "",
            "## Problems", ""]
    out += [f"- **{p.severity}**: {_md(p.message)}" for p in analysis.problems] or \
        ["None: every node's shapes fit."]
    out += ["", "## Training setup", ""]
    setup = _setup(project)
    out += [f"- **{_md(label)}**: {_md(value)}" for label, value in setup] if setup else \
        ["No training is set up."]
    out += ["", "## Training history", "", _md(_history_sentence(run))]
    if "history" in pictures:
        out += ["", f"![Training history]({pictures['history']})"]
    out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    """Free text for Markdown: HTML escaped (renderers pass markup through) and the characters
    that would start emphasis, links or table cells backslashed."""
    text = escape(text, quote=False)
    for char in "\\`*_[]|#":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def _where(project: Project) -> str:
    return f"Project file {project.path}" if project.path else "Project not saved yet"


def _now() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")


# -- writing -------------------------------------------------------------------------------------

def _check_target(path: Path) -> None:
    if path.suffix.lower() not in (*HTML_SUFFIXES, MARKDOWN_SUFFIX):
        raise ReportError(f"{path.name}: a report is an .html or .md file; rename it")
    check_target(path, folder=False)

