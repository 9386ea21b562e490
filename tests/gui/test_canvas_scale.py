"""Issue 20, the editor at any graph size: a card measures its text once per change, far out
the scene draws every node's block at once (and still shows what is selected, moved or in
error), the overview draws its blocks once per graph, a project's saved card of a Keras
Application gives its shapes and counts at once, with nothing to load, and a plot of a
million points hands pyqtgraph only what can be seen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

import app.gui.canvas.items as items_module
from app.core.cards import card as card_module
from app.core.cards.card import ModelCard
from app.core.document import fileformat
from app.core.document.project import CardRecord
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import AddNode, MoveNodes, new_node
from app.core.graph.specs import TensorSpec
from app.core.nodes import node_type
from app.gui import document as document_module
from app.gui.document import Document
from app.gui.theme import colors
from app.gui.training.curves import DRAWN_POINTS, Curve
from app.gui.training.plots import TrainingPlots
from tests.gui.test_node_cards import item_named, texts
from tests.gui.test_training import example_copy


def opened(make_window, tmp_path, qtbot, zoom: float):
    window = make_window(Document.open(example_copy("cascade", tmp_path)))
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    window.document.wait_until_analysed()
    window.view._zoom_to(zoom)
    window.view.centre_on_items(window.scene.node_items.values())
    return window


def pixel(window, scene_point: QPointF) -> QColor:
    image = window.view.viewport().grab().toImage()
    return image.pixelColor(window.view.mapFromScene(scene_point))


def test_a_card_measures_its_text_once_and_again_after_a_rename(make_window, tmp_path, qtbot, monkeypatch):
    window = opened(make_window, tmp_path, qtbot, 1.0)
    item = item_named(window, "classifier_a")
    first = texts(item)
    measured = []
    monkeypatch.setattr(items_module, "_elide", lambda text, *args: measured.append(text) or text)
    assert texts(item) == first and not measured  # the same text, nothing measured again
    assert window.document.rename(item.node_id, "classifier_renamed")
    shown = texts(item)
    assert "classifier_renamed" in shown and "classifier_a" not in shown and measured


def test_far_out_the_scene_draws_the_blocks_and_what_is_selected_or_moved(make_window, tmp_path, qtbot):
    window = opened(make_window, tmp_path, qtbot, 0.2)
    item = item_named(window, "classifier_a")
    assert item.flags() & QGraphicsItem.GraphicsItemFlag.ItemHasNoContents  # the item paints nothing
    c = colors()
    category = QColor(c.category[node_type(item.node.type).category])
    assert pixel(window, item.block().center()) == category
    edge = QPointF(item.block().left(), item.block().center().y())
    assert pixel(window, edge) != QColor(c.node_selected)
    window.scene.select([item.node_id])
    assert pixel(window, edge) == QColor(c.node_selected)  # the outline follows the selection
    old_centre = item.block().center()
    window.document.push(MoveNodes({item.node_id: (item.pos().x(), item.pos().y() + 400)}))
    assert pixel(window, item.block().center()) == category
    assert pixel(window, old_centre) != category  # the block moved with the node
    window.view._zoom_to(1.0)
    assert not item.flags() & QGraphicsItem.GraphicsItemFlag.ItemHasNoContents  # near: the card again


def test_the_overview_draws_its_blocks_once_per_graph(make_window, tmp_path, qtbot):
    window = opened(make_window, tmp_path, qtbot, 1.0)
    minimap = window.view.minimap
    qtbot.waitUntil(minimap.isVisible)
    minimap.grab()
    drawn = minimap._blocks_pixmap()
    window.view.pan(40, 0)
    window.view.pan(0, 300)  # beside the graph: the overview's world and shape change
    minimap.grab()
    assert minimap._blocks_pixmap() is drawn
    node = new_node(window.document.graph, "Dense", {"units": 4}, (5000.0, 0.0))
    window.document.push(AddNode(node))
    qtbot.waitUntil(lambda: minimap._blocks_pixmap() is not drawn)


def test_a_saved_application_card_gives_shapes_and_counts_with_nothing_to_load(make_window, tmp_path,
                                                                             monkeypatch):
    """Before, every pretrained node waited for TensorFlow (seconds), though the project file
    kept its card."""
    monkeypatch.setattr(card_module, "_cards", {})  # this test's card stays in this test
    monkeypatch.setattr(document_module, "_keras_ready", False)
    b = GraphBuilder()
    b.add("image", "Input", shape=[75, 75, 3])
    base = b.add("base", "Application", 300, 0, architecture="ResNet50", pooling="max",
                 input_shape=[75, 75, 3])
    b.chain("image", "base")
    node = b.graph.node(base)
    card = ModelCard("keras.applications.ResNet50", (TensorSpec((None, 75, 75, 3)),),
                     (TensorSpec((None, 2048)),), 23_587_712, 23_534_592, ())
    b.project.cards = [CardRecord(node_type(node.type).card_key(node, b.project.context), [base], card)]
    fileformat.save(b.project, tmp_path / "resnet.graft")

    window = make_window(Document.open(tmp_path / "resnet.graft"))
    document = window.document
    assert not document.needs_loading(node) and not document.loading
    result = document.analysis.nodes[base]
    assert result.outputs["out"].shape == (None, 2048) and result.param_count == 23_587_712
    assert "23.6 M params" in texts(window.scene.node_items[base])


def test_a_curve_of_many_points_hands_over_each_stretchs_extremes_for_the_range_in_view(qtbot):
    """Issue 20, a live plot with 1,000,000 points: pyqtgraph passed over every point at each
    redraw (40 ms); a long curve now draws at most a few thousand, the same peaks, and again
    for a zoomed range, with the whole run still there for the auto-range."""
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    count = 200_000
    steps = np.arange(1.0, count + 1)
    losses = np.cos(steps / 1000)
    losses[123_457] = 9.0  # one spike: peak decimation keeps it
    curve = Curve(plots.batch_plot, "loss")
    curve.extend(steps, losses)
    curve.redraw()
    xs, ys = curve.item.xData, curve.item.yData
    assert len(xs) <= 2 * DRAWN_POINTS and curve.drawn == count
    assert ys.max() == 9.0 and ys.min() == losses.min() and (xs[0], xs[-1]) == (1.0, count)
    plots.batch_plot.vb.setXRange(150_000, 160_000, padding=0)  # zoomed in: every point in view
    xs, ys = curve.item.xData, curve.item.yData
    inside = (xs >= 150_000) & (xs <= 160_000)
    assert np.array_equal(ys[inside], losses[149_999:160_000])
    assert (xs[0], xs[-1]) == (1.0, count)  # off screen: the auto-range still sees the run
    few = Curve(plots.epoch_plot, "epochs")
    few.extend(np.arange(1.0, 101), np.ones(100))
    few.redraw()
    assert len(few.item.xData) == 100  # a short curve: every point, as before
