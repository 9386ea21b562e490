"""A model report: one page that shows a project to someone without Graft — the graph as the
editor draws it, each node's shapes and parameters, the problems, the training setup and the
latest run's history.

HTML is one self-contained file (inline SVG and CSS, no scripts, nothing fetched), so it can
be mailed, archived or attached to a ticket as it is. Markdown gets the same pictures as SVG
files beside it, for wikis and repositories. The pictures are drawn by report_svg from the
saved positions and the analysis, so the core needs no plotting library; this module puts the
page together around them. Every text that comes from the project (names, descriptions,
paths, messages) is escaped: a project file is data, and its names must never become markup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template

from app import __version__
from app.core.analysis.validate import Analysis, analyze
from app.core.document.atomic import atomic_write_text
from app.core.document.project import Project
from app.core.export.common import (
    REPORT,
    ExportError,
    ExportReport,
    Progress,
    check_target,
    no_progress,
    writing,
)
from app.core.export.report_svg import COLORS, FONT, graph_svg, history_svg
from app.core.nodes import node_type
from app.core.nodes.appearance import spec_text
from app.core.nodes.base import OUTPUT
from app.core.training.store import latest_run, read_history, read_state

HTML_SUFFIXES, MARKDOWN_SUFFIX = (".html", ".htm"), ".md"


class ReportError(ExportError):
    """The report cannot be written where asked; the message says what to choose instead."""


def export_report(project: Project, out_path: str | Path, *, model=None,
                  progress: Progress = no_progress) -> ExportReport:
    """The report as an export format; `model` is not needed (the report draws the graph)."""
    progress("Writing the report")
    with writing(Path(out_path)):
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


# -- the page --------------------------------------------------------------------------------------

def _latest_run(project: Project) -> _Run | None:
    folder = latest_run(project)
    if folder is None:
        return None
    state = read_state(folder) or {}
    return _Run(folder.name, str(state.get("status", "unknown")), read_history(folder))


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
            shapes = spec_text(next(iter(specs.values())))
        else:
            shapes = ", ".join(f"{port}: {spec_text(spec)}" for port, spec in specs.items()) or "?"
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


# The page in the pictures' colours: the light theme's text, and its canvas behind each picture
STYLE = Template("""
body { font-family: $font; color: $text; margin: 2em auto;
       max-width: 1100px; padding: 0 1.5em; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.meta { color: $dim_text; margin-top: 0; }
figure { margin: 1em 0; overflow-x: auto; border: 1px solid $grid_major; border-radius: 6px;
         background: $canvas; }
figure svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border-bottom: 1px solid $grid_major; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; border-bottom: none; }
code { font-family: ui-monospace, 'SF Mono', Menlo, Consolas, monospace; font-size: 0.92em; }
.error { color: $error; }
.warning { color: $warning; }
.info { color: $info; }
""").substitute(font=FONT, text=COLORS.text, dim_text=COLORS.dim_text, grid_major=COLORS.grid_major,
                canvas=COLORS.canvas, error=COLORS.error, warning=COLORS.warning, info=COLORS.info)


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

