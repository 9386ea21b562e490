"""Issue 17, finding 6: a node card says which node it is, what it holds, how it trains in the
phase being edited and its whole parameter count; the status bar counts what the selected phase
trains; the inspector and the phase editor name freezing with the same words."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from app.core.analysis.validate import NodeAnalysis
from app.core.document.project import Project
from app.core.editing.commands import AddNode, new_node
from app.core.graph.specs import TensorSpec
from app.core.nodes import Port
from app.core.nodes.appearance import count_text
from app.gui.canvas.items import NodeItem
from tests.gui.test_palette import search_palette
from tests.gui.test_training import example_copy, open_window


class RecordingPainter(QPainter):
    """A painter that keeps each text an item draws, with the rectangle and font it is drawn in."""

    def __init__(self, device):
        super().__init__(device)
        self.texts: list[tuple[QRectF, str, QFont]] = []

    def drawText(self, *args):
        if len(args) == 3 and isinstance(args[0], QRectF):
            self.texts.append((QRectF(args[0]), args[2], QFont(self.font())))
        super().drawText(*args)


def drawn(item: NodeItem) -> list[tuple[QRectF, str, QFont]]:
    """The texts `item` paints at 100 % zoom."""
    image = QImage(400, 400, QImage.Format.Format_ARGB32)
    painter = RecordingPainter(image)
    item.paint(painter, QStyleOptionGraphicsItem())
    painter.end()
    return painter.texts


def texts(item: NodeItem) -> list[str]:
    return [text for _, text, _ in drawn(item)]


def assert_nothing_cut(item: NodeItem) -> None:
    for rect, text, font in drawn(item):
        width = QFontMetricsF(font).horizontalAdvance(text)
        assert "…" not in text and width <= rect.width(), f"{text!r} is cut: {width:.0f} > {rect.width():.0f}"


def item_named(window, name: str) -> NodeItem:
    node = window.document.graph.node_by_name(name)
    return window.scene.node_items[node.id]


@pytest.mark.parametrize("count", [257_984, 2_257_984, 25_636_712, 143_667_240])
def test_the_footer_shows_the_whole_parameter_count_at_the_default_card_width(qapp, count):
    """The report: "Keras Applicati…,257,984 params", the count cut in the middle."""
    node = new_node(Project().graph, "Application", {"architecture": "EfficientNetV2B0"}, name="backbone")
    item = NodeItem(node)
    item.set_node(node, [Port("in")], ["out"])
    spec = TensorSpec((None, 224, 224, 3))
    item.set_analysis(NodeAnalysis({"in": spec}, {"out": TensorSpec((None, 1280))}, count, 0), [], False,
                      freezing="last 100000")  # the widest badge
    assert f"{count_text(count)} params" in texts(item) and "last 100000" in texts(item)
    assert_nothing_cut(item)


def test_a_keras_application_added_after_an_input_shows_its_architecture_and_whole_count(window, qtbot):
    image = new_node(window.document.graph, "Input", {"shape": [224, 224, 3]}, name="image")
    window.document.push(AddNode(image))
    window.scene.select([image.id])
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    qtbot.keyClicks(window.quick_add.search, "MobileNetV2")
    qtbot.keyClick(window.quick_add.search, Qt.Key.Key_Return)
    window.document.wait_until_analysed()
    item = item_named(window, "backbone")
    shown = texts(item)
    assert {"backbone", "MobileNetV2 · random weights", "frozen", "2.26 M params"} <= set(shown)  # 2,257,984
    assert_nothing_cut(item)


def test_a_bundled_model_added_from_the_palette_is_named_after_its_file(window, qtbot):
    """They were called "model", "model_1"…"""
    palette = window.palette_panel
    search_palette(palette, qtbot, "digits_cnn")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert [n.name for n in window.document.graph.nodes] == ["digits_cnn", "digits_cnn_1"]
    assert {"digits_cnn", "digits_cnn.keras"} <= set(texts(item_named(window, "digits_cnn")))


def test_the_badges_and_the_status_bar_follow_the_phase_selected_in_the_training_setup(
        make_window, qtbot, tmp_path):
    window = open_window(make_window, example_copy("transfer", tmp_path))
    document, phases = window.document, window.training.setup.phases
    backbone, head = item_named(window, "backbone"), item_named(window, "head")
    assert {"backbone", "digits_encoder.keras"} <= set(texts(backbone))
    analysis = document.analysis
    total = analysis.param_totals()[0]
    head_count = analysis.nodes[head.node_id].param_count
    card = document.card(backbone.node)

    phases.table.selectRow(0)  # 'head' leaves the backbone as it is: frozen
    assert "frozen" in texts(backbone) and "trainable" in texts(head)
    of_total = f"of {count_text(total)} parameters trainable"
    assert window.params_label.text() == f"Phase 1 'head': {head_count} {of_total}"

    phases.table.selectRow(1)  # 'fine_tune' trains its last 3 layers
    assert "last 3" in texts(backbone) and "frozen" not in texts(backbone)
    last_3 = sum(layer.learnable_params for layer in card.layers[-3:])
    assert window.params_label.text() == f"Phase 2 'fine_tune': {count_text(last_3 + head_count)} {of_total}"

    freezing = phases.trainable["backbone"]
    freezing.spin.setValue(2)  # the user steps the number of layers down
    assert document.training.phases[1].trainable == {"backbone": 2}
    assert "last 2" in texts(backbone)
    last_2 = sum(layer.learnable_params for layer in card.layers[-2:])
    assert window.params_label.text() == f"Phase 2 'fine_tune': {count_text(last_2 + head_count)} {of_total}"

    head_freezing = phases.trainable["head"].combo
    head_freezing.setCurrentIndex(head_freezing.findText("frozen"))
    head_freezing.activated.emit(head_freezing.currentIndex())
    assert "frozen" in texts(head)
    document.undo_stack.undo()
    assert "trainable" in texts(head)


def test_the_inspector_and_the_phase_editor_name_freezing_with_the_same_words(make_window, tmp_path):
    """The inspector said trainable/frozen/last_n, the phase editor node's own/frozen/all/last N layers."""
    window = open_window(make_window, example_copy("transfer", tmp_path))
    backbone = window.document.graph.node_by_name("backbone")
    window.scene.select([backbone.id])
    inspector = window.inspector.editor("trainable")
    phase = window.training.setup.phases.trainable["backbone"].combo
    words = [inspector.itemText(i) for i in range(inspector.count())]
    assert words == ["trainable", "frozen", "last N layers"]
    assert [phase.itemText(i) for i in range(phase.count())] == ["node's own", *words]
    assert window.training.setup.phases.table.item(1, 3).text() == "backbone: last 3"

    inspector.setCurrentIndex(words.index("last N layers"))
    inspector.activated.emit(inspector.currentIndex())
    assert window.document.graph.node(backbone.id).params["trainable"] == "last_n"
