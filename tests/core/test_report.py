"""The model report as its readers meet it: one self-contained page per project with the graph
drawn, every node's shapes and parameters adding up to the analysis's totals, the problems,
the training setup and the latest run's curves; names from the project never become markup,
and Markdown gets the same pictures as files beside it."""

import json
import math
import xml.etree.ElementTree as ET

import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import load, save
from app.core.document.training_setup import config_from_dict
from app.core.export.common import ExportError
from app.core.export.report import ReportError, write_report
from app.core.export.report_svg import history_svg
from app.core.training import events
from app.core.training.runner import train
from tests.conftest import EXAMPLES

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.graft"))


def parsed(path) -> ET.Element:
    """The page as XML: the report is written well-formed, so a strict parser reads all of it."""
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    return ET.fromstring(text.removeprefix("<!DOCTYPE html>"))


def texts(element: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in element]


def section(page: ET.Element, heading: str) -> list[ET.Element]:
    """The elements between the h2 `heading` and the next h2."""
    body = list(page.find("body"))
    start = next(i for i, e in enumerate(body) if e.tag == "h2" and e.text == heading)
    rest = body[start + 1:]
    end = next((i for i, e in enumerate(rest) if e.tag == "h2"), len(rest))
    return rest[:end]


def curves(svg: ET.Element) -> dict[str, int]:
    """Each history polyline's curve name (its tooltip) and number of points."""
    return {line.find(f"{SVG}title").text: len(line.get("points").split())
            for line in svg.iter(f"{SVG}polyline")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The transfer example after a real one-epoch-per-phase run (two phases, a few seconds)."""
    folder = tmp_path_factory.mktemp("trained")
    project = load(EXAMPLES / "transfer.graft")
    save(project, folder / "transfer.graft")
    ended = train(project, epochs=1)
    assert ended.status == events.FINISHED, ended.message + ended.details
    return project


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_gets_a_page_with_its_graph_nodes_totals_and_problems(name, tmp_path):
    project = load(EXAMPLES / f"{name}.graft")
    analysis = analyze(project.graph, project.context)
    path = write_report(project, tmp_path / f"{name}.html")
    assert path == tmp_path / f"{name}.html" and [p.name for p in tmp_path.iterdir()] == [f"{name}.html"]
    page = parsed(path)
    assert page.find("head/title").text == f"{project.name} — Graft model report"

    (figure,) = [e for e in section(page, "Graph") if e.tag == "figure"]
    graph = figure.find(f"{SVG}svg")
    drawn = {t.text for t in graph.iter(f"{SVG}title")}
    (table,) = [e for e in section(page, "Nodes") if e.tag == "table"]
    rows = [texts(tr) for tr in table.iter("tr")][1:-1]  # less the header and the totals
    assert sorted(row[0] for row in rows) == sorted(n.name for n in project.graph.nodes)
    for node in project.graph.nodes:
        assert any(title.startswith(f"{node.name} (") for title in drawn), node.name
        result = analysis.nodes[node.id]
        (row,) = [row for row in rows if row[0] == node.name]
        if result.param_count is not None:
            assert row[3:] == [f"{result.param_count:,}", f"{result.trainable_count:,}",
                               f"{result.param_count - result.trainable_count:,}"]
    total, trainable = analysis.param_totals()
    assert texts(table.find("tfoot/tr")) == ["Total", f"{total:,}", f"{trainable:,}",
                                             f"{total - trainable:,}"]

    listed = ["".join(e.itertext()) for e in section(page, "Problems")[0].iter() if e.tag in ("li", "p")]
    assert listed == ([f"{p.severity}: {p.message}" for p in analysis.problems] if analysis.problems
                      else ["None: every node's shapes fit."])
    assert texts(section(page, "Training history")) == [
        "No training run yet: train the project and write the report again to see its history."]


def test_the_shapes_on_the_edges_are_those_the_analysis_infers(tmp_path):
    project = load(EXAMPLES / "cascade.graft")
    graph = parsed(write_report(project, tmp_path / "cascade.html")).find(f".//{SVG}svg")
    edges = [p for p in graph.iter(f"{SVG}path") if p.find(f"{SVG}title") is not None]
    assert sorted(p.find(f"{SVG}title").text for p in edges) == sorted(
        project.graph.describe_edge(e) for e in project.graph.edges)
    labels = [t.text for t in graph.iter(f"{SVG}text") if t.get("paint-order") == "stroke"]
    assert sorted(labels) == ["(None, 10)"] * 3 + ["(None, 8, 8, 1)"]


def test_edges_at_fault_are_drawn_red(tmp_path):
    project = load(EXAMPLES / "broken.graft")
    graph = parsed(write_report(project, tmp_path / "broken.html")).find(f".//{SVG}svg")
    red = {p.find(f"{SVG}title").text for p in graph.iter(f"{SVG}path") if p.get("stroke") == "#cf222e"}
    faulty = {p.edge_id for p in analyze(project.graph, project.context).errors if p.edge_id}
    assert red == {project.graph.describe_edge(project.graph.edge(e)) for e in faulty} and len(red) == 3


def test_a_trained_project_shows_its_history_one_polyline_per_curve(trained, tmp_path):
    page = parsed(write_report(trained, tmp_path / "transfer.html"))
    history = section(page, "Training history")
    assert texts(history)[0] == "The latest run, run-001 (finished), over 2 epochs; validation dashed."
    svg = history[1].find(f"{SVG}svg")
    assert curves(svg) == {"loss": 2, "val_loss": 2, "accuracy": 2, "val_accuracy": 2}
    dashed = {line.find(f"{SVG}title").text for line in svg.iter(f"{SVG}polyline")
              if line.get("stroke-dasharray")}
    assert dashed == {"val_loss", "val_accuracy"}
    shown = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"loss", "accuracy", "head", "fine_tune"} <= shown  # one panel each, phases marked
    setup = dict(texts(tr) for tr in section(page, "Training setup")[0].iter("tr"))
    assert setup["Mapping"] == "image ← images; label ← labels"
    assert setup["Phase fine_tune"] == ("5 epochs, learning rate 0.0001, trainable backbone: 3, "
                                        "lr multipliers backbone: 0.5")


def test_markdown_gets_the_pictures_as_files_beside_it(trained, tmp_path):
    path = write_report(trained, tmp_path / "transfer.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "transfer.graph.svg", "transfer.history.svg", "transfer.md"]
    text = path.read_text(encoding="utf-8")
    assert "![The graph](transfer.graph.svg)" in text and "![Training history](transfer.history.svg)" in text
    total, trainable = analyze(trained.graph, trained.context).param_totals()
    assert f"| **Total** | | | **{total:,}** | **{trainable:,}** | **{total - trainable:,}** |" in text
    assert "| `head` | Dense projection | `(None, 10)` | 330 | 330 | 0 |" in text
    assert ET.parse(tmp_path / "transfer.graph.svg").getroot().tag == f"{SVG}svg"
    assert len(curves(ET.parse(tmp_path / "transfer.history.svg").getroot())) == 4


def test_names_from_the_project_never_become_markup(tmp_path):
    project = load(EXAMPLES / "transfer.graft")
    project.name = "<script>alert('name')</script> & co"
    project.description = "<img src=x onerror=alert(1)> **bold** | cell"
    document = project.training.to_dict()
    document["phases"][0]["name"] = "<script>phase</script>"
    project.training = config_from_dict(document)
    history = [{"phase": "<script>phase</script>", "epoch": 1, "<b>loss</b>": 1.0},
               {"phase": "fine_tune", "epoch": 1, "<b>loss</b>": 0.5}]
    folder = tmp_path / "transfer.runs" / "run-001"
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps(history), encoding="utf-8")
    (folder / "state.json").write_text('{"status": "finished"}', encoding="utf-8")
    save(project, tmp_path / "transfer.graft")

    page = parsed(write_report(project, tmp_path / "report.html"))  # no <script anywhere
    assert page.find("body/h1").text == project.name
    assert page.find("body/p[2]").text == project.description
    assert "<img" not in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>phase</script>" in {t.text for t in page.iter(f"{SVG}text")}
    assert "Phase <script>phase</script>" in {th.text for th in page.iter("th")}
    assert "<b>loss</b>" in curves(page.find(f".//{SVG}svg[@aria-label='Training history']"))

    markdown = write_report(project, tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown
    assert "# &lt;script&gt;alert('name')&lt;/script&gt; &amp; co" in markdown
    assert "&lt;img src=x onerror=alert(1)&gt; \\*\\*bold\\*\\* \\| cell" in markdown


def test_a_diverged_epoch_leaves_its_nan_out_of_the_curve():
    history = [{"phase": "train", "epoch": 1, "loss": 2.0, "val_loss": 2.5},
               {"phase": "train", "epoch": 2, "loss": 1.0, "val_loss": 1.5},
               {"phase": "train", "epoch": 3, "loss": math.nan, "val_loss": math.inf}]
    svg = ET.fromstring(history_svg(history))
    assert curves(svg) == {"loss": 2, "val_loss": 2}
    assert history_svg([{"phase": "train", "epoch": 1}]) is None


@pytest.mark.parametrize("name", ["report.pdf", "report"])
def test_a_report_is_an_html_or_markdown_file(name, tmp_path):
    with pytest.raises(ReportError, match=r"a report is an \.html or \.md file; rename it") as caught:
        write_report(load(EXAMPLES / "transfer.graft"), tmp_path / name)
    assert isinstance(caught.value, ExportError)  # the export dialog shows it like any export's
    assert list(tmp_path.iterdir()) == []
