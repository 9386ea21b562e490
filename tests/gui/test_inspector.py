"""The inspector driven as a user drives it: typing, Enter, Escape, clicks. Fields are found
by their row label (its buddy), the way a user finds them, not by private attributes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QScrollArea, QWidget

from app.core.analysis.validate import NodeAnalysis, Problem
from app.core.editing.commands import new_node
from app.core.graph.graph import Graph, Node
from app.core.graph.specs import TensorSpec
from app.core.nodes import node_type
from app.gui.panels import fields as fields_module
from app.gui.panels.fields import format_value, parse_text
from app.gui.panels.inspector import EMPTY_TEXT, Inspector


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture
def inspector(qtbot) -> Inspector:
    panel = Inspector()
    qtbot.addWidget(panel)
    panel.resize(300, 700)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


class Recorder:
    """Collects a signal's emissions."""

    def __init__(self, signal):
        self.calls: list[tuple] = []
        signal.connect(lambda *args: self.calls.append(args))


def field(panel: Inspector, name: str) -> QWidget:
    label = next(lb for lb in panel.findChildren(QLabel) if lb.text() == name and lb.buddy() is not None)
    return label.buddy()


def error_texts(panel: Inspector) -> list[str]:
    return [lb.text() for lb in panel.findChildren(QLabel)
            if lb.property("role") == "error" and lb.isVisible()]


def visible_texts(panel: Inspector) -> list[str]:
    return [lb.text() for lb in panel.findChildren(QLabel) if lb.isVisible()]


def retype(qtbot, widget, text: str) -> None:
    widget.selectAll()
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def act_as_editor(panel: Inspector, node: Node) -> None:
    """Apply emitted edits to the node and show it again, as the editor does."""
    def apply(node_id: str, changes: dict) -> None:
        node.params = {**node.params, **changes}
        panel.show_node(node)

    panel.paramsEdited.connect(apply)


def test_no_node_shows_the_empty_state(inspector):
    inspector.show_node(None)
    assert EMPTY_TEXT in visible_texts(inspector)


def test_header_shows_title_category_and_help(inspector, graph):
    inspector.show_node(new_node(graph, "Dense"))
    texts = visible_texts(inspector)
    assert "Dense projection" in texts
    assert "adapter · Dense" in texts
    assert field(inspector, "units").toolTip() == "Number of output features."


def test_refused_text_shows_the_schema_message_and_emits_nothing(qtbot, inspector, graph):
    node = new_node(graph, "Dense")
    inspector.show_node(node)
    edited = Recorder(inspector.paramsEdited)
    units = field(inspector, "units")

    retype(qtbot, units, "abc")

    assert error_texts(inspector) == ['expected an integer >= 1 and <= 1048576, got "abc"']
    assert units.property("invalid") == "true"
    assert units.text() == "abc"
    assert edited.calls == []


def test_valid_value_emits_just_that_change_and_clears_the_error(qtbot, inspector, graph):
    node = new_node(graph, "Dense")
    inspector.show_node(node)
    edited = Recorder(inspector.paramsEdited)
    units = field(inspector, "units")
    retype(qtbot, units, "0")
    assert error_texts(inspector) == ["expected an integer >= 1 and <= 1048576, got 0"]

    retype(qtbot, units, "128")

    assert edited.calls == [(node.id, {"units": 128})]
    assert error_texts(inspector) == []
    assert units.property("invalid") == "false"


def test_unchanged_value_emits_nothing(qtbot, inspector, graph):
    inspector.show_node(new_node(graph, "Dense", {"units": 64}))
    edited = Recorder(inspector.paramsEdited)
    retype(qtbot, field(inspector, "units"), "64")
    assert edited.calls == []


def test_focus_out_commits_once(qtbot, inspector, graph):
    node = new_node(graph, "Dense")
    inspector.show_node(node)
    edited = Recorder(inspector.paramsEdited)
    units, name = field(inspector, "units"), field(inspector, "name")
    units.setFocus()
    qtbot.waitUntil(units.hasFocus)
    units.selectAll()
    qtbot.keyClicks(units, "32")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    name.setFocus()
    qtbot.waitUntil(name.hasFocus)
    assert edited.calls == [(node.id, {"units": 32})]


def test_checkbox_and_combo_emit_immediately(qtbot, inspector, graph):
    node = new_node(graph, "Dense", {"activation": "linear", "use_bias": True})
    inspector.show_node(node)
    edited = Recorder(inspector.paramsEdited)
    use_bias = field(inspector, "use_bias")
    activation = field(inspector, "activation")
    assert isinstance(use_bias, QCheckBox) and isinstance(activation, QComboBox)

    qtbot.mouseClick(use_bias, Qt.MouseButton.LeftButton)
    qtbot.keyClick(activation, Qt.Key.Key_Down)

    assert edited.calls == [(node.id, {"use_bias": False}), (node.id, {"activation": "relu"})]


def test_escape_reverts_to_the_nodes_value(qtbot, inspector, graph):
    inspector.show_node(new_node(graph, "Dense", {"units": 64}))
    units = field(inspector, "units")
    retype(qtbot, units, "abc")

    qtbot.keyClick(units, Qt.Key.Key_Escape)

    assert units.text() == "64"
    assert error_texts(inspector) == []
    assert units.property("invalid") == "false"


def test_rename_on_enter(qtbot, inspector, graph):
    node = new_node(graph, "Dense")
    inspector.show_node(node)
    renamed = Recorder(inspector.renameRequested)
    retype(qtbot, field(inspector, "name"), "encoder")
    assert renamed.calls == [(node.id, "encoder")]


def test_invalid_name_shows_an_error_and_is_not_requested(qtbot, inspector, graph):
    inspector.show_node(new_node(graph, "Dense"))
    renamed = Recorder(inspector.renameRequested)
    name = field(inspector, "name")
    retype(qtbot, name, "2bad")
    assert renamed.calls == []
    assert error_texts(inspector) == [
        'invalid node name "2bad": use up to 100 letters, digits and underscores, not starting with a digit']
    assert name.property("invalid") == "true"


def test_shape_round_trips_unknown_dims(qtbot, inspector, graph):
    node = new_node(graph, "Input", {"shape": [224, 224, 3]})
    inspector.show_node(node)
    act_as_editor(inspector, node)
    edited = Recorder(inspector.paramsEdited)
    shape = field(inspector, "shape")
    assert shape.text() == "224, 224, 3"

    retype(qtbot, shape, "None, 64")

    assert edited.calls == [(node.id, {"shape": [None, 64]})]
    assert node.params["shape"] == [None, 64]
    assert shape.text() == "None, 64"


def test_showing_the_node_again_updates_the_values(inspector, graph):
    node = new_node(graph, "Dense", {"units": 64})
    inspector.show_node(node)
    units = field(inspector, "units")

    node.params = {**node.params, "units": 10}
    node.name = "head"
    inspector.show_node(node)

    assert field(inspector, "units") is units  # updated in place, not rebuilt
    assert units.text() == "10"
    assert field(inspector, "name").text() == "head"


def test_refresh_leaves_the_field_being_typed_in_alone(qtbot, inspector, graph):
    node = new_node(graph, "Dense", {"units": 64, "use_bias": True})
    inspector.show_node(node)
    units = field(inspector, "units")
    units.setFocus()
    qtbot.waitUntil(units.hasFocus)
    units.selectAll()
    qtbot.keyClicks(units, "12")

    node.params = {**node.params, "use_bias": False}
    inspector.show_node(node)

    assert units.text() == "12"
    assert units.hasFocus()
    assert not field(inspector, "use_bias").isChecked()


def test_a_refused_value_survives_a_refresh(qtbot, inspector, graph):
    node = new_node(graph, "Dense", {"units": 64})
    inspector.show_node(node)
    units = field(inspector, "units")
    retype(qtbot, units, "abc")

    inspector.show_node(node)

    assert units.text() == "abc"
    assert error_texts(inspector) == ['expected an integer >= 1 and <= 1048576, got "abc"']


def test_another_node_rebuilds_the_form(inspector, graph):
    inspector.show_node(new_node(graph, "Dense"))
    inspector.show_node(new_node(graph, "Input"))
    labels = visible_texts(inspector)
    assert "shape" in labels and "units" not in labels


def test_cross_field_error_shows_under_the_other_field_and_applies_with_it(
        qtbot, inspector, graph, tmp_path, monkeypatch):
    node = new_node(graph, "Application", {"weights": "none"})
    inspector.show_node(node, base_dir=tmp_path)
    edited = Recorder(inspector.paramsEdited)
    weights = field(inspector, "weights")

    qtbot.keyClick(weights, Qt.Key.Key_End)  # the last choice: file
    assert edited.calls == []

    weights_file = field(inspector, "weights_file")
    assert weights.currentText() == "file"
    assert error_texts(inspector) == ["choose a weights file, or set weights to none"]
    assert weights_file.property("invalid") == "true"

    chosen = tmp_path / "models" / "w.weights.h5"
    monkeypatch.setattr(fields_module.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args: (str(chosen), "")))
    browse = next(b for b in inspector.findChildren(QPushButton) if b.text() == "…")
    qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)

    assert edited.calls == [(node.id, {"weights": "file", "weights_file": "models/w.weights.h5"})]
    assert error_texts(inspector) == []


def test_json_applies_on_ctrl_enter_and_reports_bad_json(qtbot, inspector, graph):
    node = new_node(graph, "KerasLayer", {"class_name": "Dense", "config": {"units": 32}})
    inspector.show_node(node)
    edited = Recorder(inspector.paramsEdited)
    config = field(inspector, "config")

    config.selectAll()
    qtbot.keyClicks(config, '{"units": 8,')
    apply_button = next(b for b in inspector.findChildren(QPushButton) if b.text() == "Apply")
    qtbot.mouseClick(apply_button, Qt.MouseButton.LeftButton)
    assert error_texts(inspector) == [
        "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 13)"]

    config.selectAll()
    qtbot.keyClicks(config, '{"units": 8}')
    qtbot.keyClick(config, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    assert edited.calls == [(node.id, {"config": {"units": 8}})]
    assert error_texts(inspector) == []


def test_shapes_section_lists_ports_parameters_and_problems(inspector, graph):
    node = new_node(graph, "Dense", {"units": 64})
    analysis = NodeAnalysis(inputs={"in": TensorSpec((None, 32), "float32")},
                            outputs={"out": TensorSpec((None, 64), "float32")}, param_count=12345,
                            problems=[Problem("error", "invalid_node", "'dense': something is off")])
    inspector.show_node(node, analysis)
    texts = visible_texts(inspector)
    assert "Shapes" in texts
    assert texts.count("(None, 32)") == 1 and "(None, 64)" in texts
    assert "12,345 parameters" in texts
    assert error_texts(inspector) == ["'dense': something is off"]


def test_show_layers_for_pretrained_nodes(qtbot, inspector, graph):
    node = new_node(graph, "Application")
    inspector.show_node(node)
    requested = Recorder(inspector.showModelRequested)
    button = next(b for b in inspector.findChildren(QPushButton) if b.text() == "Show layers…")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert requested.calls == [(node.id,)]

    inspector.show_node(new_node(graph, "Dense"))
    assert not any(b.text() == "Show layers…" for b in inspector.findChildren(QPushButton) if b.isVisible())


def test_form_fits_a_narrow_panel(qtbot, inspector, graph):
    inspector.show_node(new_node(graph, "Application"))
    scroll = inspector.findChild(QScrollArea)
    assert scroll.widget().minimumSizeHint().width() <= 300


@pytest.mark.parametrize(("type_name", "param_name", "text", "value"), [
    ("Input", "shape", "[8, 8, 1]", [8, 8, 1]),
    ("Input", "shape", "null, 64", [None, 64]),
    ("Reshape", "target_shape", "-1, 4", [-1, 4]),
    ("Rescaling", "scale", "1e-3", 0.001),
    ("Output", "metrics", "accuracy, auc", ["accuracy", "auc"]),
])
def test_text_parses_into_schema_values(type_name, param_name, text, value):
    param = next(p for p in node_type(type_name).params if p.name == param_name)
    assert parse_text(param, text) == value
    assert parse_text(param, format_value(param, value)) == value
