"""Issue 19, previews in the editor: the Preview Outputs switch starts and stops the background
work, an edit recomputes that node and what follows it, the cards show each node's output (a
flag for NaN), undo and redo update them, and the Preview dock shows the selected node in detail."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QTransform
from PySide6.QtWidgets import QDockWidget, QFileDialog, QStyleOptionGraphicsItem, QToolBar

from app.core.editing.commands import SetParams
from app.core.preview.summary import FEATURE_MAP, NAN, PROBABILITIES, flag_text
from app.gui.canvas.items import WIDTH
from app.gui.canvas.scene import GraphScene
from app.gui.document import Document
from app.gui.help import example_document, examples
from app.gui.preview.controller import SETTING
from app.gui.preview.strip import PreviewStrip, number_text
from app.gui.theme import colors
from tests.conftest import EXAMPLES
from tests.core.test_preview import digits_project, ids

CNN = (("conv", "KerasLayer", {"class_name": "Conv2D", "config": {
    "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}}),
       ("flat", "Flatten", {}),
       ("head", "Dense", {"units": 10, "activation": "softmax"}))


def previewed(qtbot, window) -> dict:
    """Wait for the previews of the document as it is; the cards' strips by node name."""
    qtbot.waitUntil(lambda: window.previews.settled, timeout=60000)
    return {window.document.graph.node(node_id).name: item.preview
            for node_id, item in window.scene.node_items.items()}


@pytest.fixture
def cnn_window(make_window, qtbot):
    window = make_window(Document(digits_project(*CNN)))
    window.document.wait_until_analysed()
    window.previews.set_enabled(True)
    previewed(qtbot, window)
    return window


def test_the_switch_starts_and_stops_the_preview_work(make_window, settings, qtbot):
    window = make_window(Document(digits_project(*CNN)))
    previews, node = window.previews, ids(window.document.project)
    assert not previews.enabled
    assert previews.toggle_action in window.findChild(QToolBar, "main toolbar").actions()
    window.push(SetParams(node["head"], {"units": 12}))
    qtbot.wait(400)  # well past the debounce: off, nothing starts
    assert previews.jobs_started == 0 and previews.job is None
    assert all(item.preview is None for item in window.scene.node_items.values())
    assert "Previews are off" in window.preview_panel.message.text()

    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.view, Qt.Key.Key_P, modifiers)  # View ▸ Preview Outputs
    strips = previewed(qtbot, window)
    assert previews.enabled and settings.value(SETTING, type=bool)
    assert previews.jobs_started == 1 and previews.job.running
    assert all(isinstance(strip, PreviewStrip) for strip in strips.values())
    assert all(s.art.top or s.art.picture is not None or s.art.line is not None for s in strips.values())
    window.push(SetParams(node["head"], {"units": 10}))
    previewed(qtbot, window)
    assert previews.jobs_started == 1  # one thread, its previewer kept between updates
    assert ("Preview Outputs", "Ctrl+Shift+P") in window.show_shortcuts().rows

    job = previews.job
    previews.toggle_action.trigger()
    assert not previews.enabled and previews.job is None
    qtbot.waitUntil(lambda: job.done, timeout=30000)  # its thread ended
    assert all(item.preview is None for item in window.scene.node_items.values())
    window.push(SetParams(node["head"], {"units": 11}))
    qtbot.wait(400)
    assert previews.jobs_started == 1

    again = make_window(Document(digits_project(*CNN)))  # the switch is remembered
    assert not again.previews.enabled
    previews.set_enabled(True)
    third = make_window(Document(digits_project(*CNN)))
    assert third.previews.enabled
    previewed(qtbot, third)
    job = third.previews.job
    third.close()  # closing the window stops its work
    qtbot.waitUntil(lambda: job.done, timeout=30000)


def test_an_edit_recomputes_that_node_and_what_follows_it(cnn_window, qtbot):
    window, node = cnn_window, ids(cnn_window.document.project)
    before = previewed(qtbot, window)
    image_art = before["image"].art
    window.push(SetParams(node["conv"], {"config": {"filters": 4, "kernel_size": 3, "padding": "same",
                                                    "activation": "relu"}}))
    after = previewed(qtbot, window)
    assert set(window.previews.result.computed) == {node[n] for n in ("conv", "flat", "head", "digit")}
    assert after["image"].art is image_art  # reused, not converted again
    window.push(SetParams(node["head"], {"activation": "sigmoid"}))
    previewed(qtbot, window)
    assert set(window.previews.result.computed) == {node["head"], node["digit"]}


def test_undo_and_redo_update_the_cards(cnn_window, qtbot):
    window, node = cnn_window, ids(cnn_window.document.project)
    first = previewed(qtbot, window)["digit"].art.top
    assert [label for label, _ in first] and all(label in "0123456789" for label, _ in first)
    window.push(SetParams(node["conv"], {"config": {"filters": 4, "kernel_size": 3, "padding": "same",
                                                    "activation": "relu"}}))
    edited = previewed(qtbot, window)["digit"].art.top
    assert edited != first
    window.undo_action.trigger()
    assert previewed(qtbot, window)["digit"].art.top == first
    window.redo_action.trigger()
    assert previewed(qtbot, window)["digit"].art.top == edited


def test_the_sample_can_be_files_the_user_picks(cnn_window, qtbot, tmp_path, monkeypatch):
    window, node = cnn_window, ids(cnn_window.document.project)
    digits = np.load(EXAMPLES.parent / "data" / "digits_holdout.npz")["images"][10:13]
    np.savez(tmp_path / "three.npz", image=digits)
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *args: ([str(tmp_path / "three.npz")], ""))
    window.previews.files_action.trigger()  # View ▸ Preview Sample ▸ Files…
    previewed(qtbot, window)
    assert "three.npz" in window.previews.result.source and window.previews.files_action.isChecked()
    np.testing.assert_array_equal(window.previews.preview(node["image"]).sample, digits[0])
    window.previews.validation_action.trigger()
    previewed(qtbot, window)
    assert window.previews.result.source == "validation data: first 8 of digits_holdout"


def painted(strip: PreviewStrip, zoom: float) -> QImage:
    image = QImage(int(WIDTH * zoom) + 4, 80, QImage.Format.Format_ARGB32)
    image.fill(QColor("black"))
    painter = QPainter(image)
    painter.setWorldTransform(QTransform.fromScale(zoom, zoom))
    strip.paint(painter, QStyleOptionGraphicsItem())
    painter.end()
    return image


def has_colour(image: QImage, colour: str) -> bool:
    wanted = QColor(colour).rgb()
    return any(image.pixel(x, y) == wanted for x in range(image.width()) for y in range(image.height()))


def test_a_node_that_outputs_nan_shows_a_flag_on_its_card(make_window, qtbot):
    scale_up = [(f"up{i}", "Rescaling", {"scale": 1e6}) for i in range(7)]  # 1/16 × 1e42 overflows
    window = make_window(Document(digits_project(*scale_up, ("times_zero", "Rescaling", {"scale": 0.0}),
                                                 ("flat", "Flatten", {}))))
    window.document.wait_until_analysed()
    window.previews.set_enabled(True)
    strips = previewed(qtbot, window)
    flagged = strips["times_zero"]  # 0 × inf
    assert NAN in flagged.art.flags and flag_text(NAN) in flagged.toolTip()
    assert not strips["image"].art.flags and not strips["image"].toolTip()
    assert has_colour(painted(flagged, 1.0), colors().warning)
    assert not has_colour(painted(strips["image"], 1.0), colors().warning)
    assert not has_colour(painted(flagged, 0.3), colors().warning)  # too far out to read: not drawn


def test_the_preview_dock_shows_the_selected_node_in_detail(cnn_window, qtbot):
    window, node = cnn_window, ids(cnn_window.document.project)
    panel = window.preview_panel
    assert window.findChild(QDockWidget, "Preview") is not None
    window.scene.select([node["conv"]])
    preview = window.previews.preview(node["conv"])
    assert preview.kind == FEATURE_MAP and panel.shown is preview
    assert panel.stat_values["mean"].text() == number_text(preview.stats.mean)
    assert panel.stat_values["zero_share"].text() == f"{preview.stats.zero_share:.1%}"
    assert panel.stat_values["nan_count"].text() == "0"
    [histogram] = [i for i in panel.histogram.getPlotItem().items if isinstance(i, pg.PlotDataItem)]
    assert histogram.yData.sum() == preview.sample.size

    def picture() -> np.ndarray:
        [item] = [i for i in panel.view.getPlotItem().items if isinstance(i, pg.ImageItem)]
        return item.image

    assert not panel.channel_box.isHidden() and panel.channel_box.maximum() == preview.channels - 1
    np.testing.assert_array_equal(picture(), preview.picture)  # the mosaic
    panel.channel_box.setValue(2)
    np.testing.assert_array_equal(picture(), preview.channel_picture(2))

    window.scene.select([node["digit"]])
    assert panel.shown.kind == PROBABILITIES and panel.channel_box.isHidden()
    [bars] = [i for i in panel.view.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert list(bars.opts["height"]) == [share for _, share in panel.shown.top]

    window.previews.set_enabled(False)
    assert "Previews are off" in panel.message.text()


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.path.stem)
def test_strips_fit_under_their_cards_in_the_shipped_examples(qapp, example):
    """The strip goes in the room the layout leaves between stacked cards: no card overlaps another."""
    document = example_document(example.path)
    document.wait_until_analysed()
    scene = GraphScene(document)
    for item in scene.node_items.values():
        item.set_preview(PreviewStrip())
    cards = {node_id: QRectF(item.pos(), QSizeF(WIDTH, item.preview.pos().y())).united(
        item.preview.sceneBoundingRect()) for node_id, item in scene.node_items.items()}
    for node_id, card in cards.items():
        others = [other for other, rect in cards.items() if other != node_id and card.intersects(rect)]
        assert not others, f"{example.path.stem}: {document.graph.node(node_id).name} overlaps another card"
    scene.close()
    document.close()
