"""The model view as a user reads it: the rows shown, the filter, effective trainable flags
under the node's freezing, number formatting, sorting, and closing with Escape."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from app.core.cards.card import LayerInfo, ModelCard, card_from_model
from app.core.cards.loading import load_model_file
from app.core.graph.specs import TensorSpec
from app.gui.panels.model_view import LAYER, PARAMS, SHAPE, TRAINABLE, TYPE, ModelView
from tests.conftest import MODELS

CARD = ModelCard(
    source="/models/tiny.keras",
    inputs=(TensorSpec((None, 8, 8, 1)),),
    outputs=(TensorSpec((None, 10)),),
    params=1_235_067,
    trainable_params=1_235_067,
    layers=(
        LayerInfo("pixels", "InputLayer", TensorSpec((None, 8, 8, 1)), 0, True),
        LayerInfo("conv1", "Conv2D", TensorSpec((None, 8, 8, 16)), 160, True),
        LayerInfo("big_conv", "Conv2D", TensorSpec((None, 8, 8, 512)), 1_234_567, True),
        LayerInfo("pool", "GlobalAveragePooling2D", TensorSpec((None, 512)), 0, True),
        LayerInfo("probs", "Dense", TensorSpec((None, 10)), 340, True),
    ),
)


def freezing(mode: str = "trainable", last_n: int = 0, taps: tuple[str, ...] = ()) -> dict:
    return {"trainable": mode, "trainable_last_n": last_n, "taps": list(taps)}


@pytest.fixture
def open_view(qtbot):
    def make(params: dict | None = None, card: ModelCard = CARD) -> ModelView:
        view = ModelView("backbone", card, params or freezing(), None)
        qtbot.addWidget(view)
        view.show()
        qtbot.waitExposed(view)
        return view
    return make


def column(view: ModelView, index: int, role=Qt.ItemDataRole.DisplayRole) -> list:
    model = view.table.model()
    return [model.index(row, index).data(role) for row in range(model.rowCount())]


def label_texts(view: ModelView) -> list[str]:
    return [label.text() for label in view.findChildren(QLabel) if label.isVisible()]


def test_the_dialog_shows_every_layer_under_a_header(open_view):
    view = open_view()
    assert view.windowTitle() == "Layers of backbone"
    assert column(view, LAYER) == ["pixels", "conv1", "big_conv", "pool", "probs"]
    assert column(view, TYPE)[3] == "GlobalAveragePooling2D"
    texts = label_texts(view)
    assert "tiny.keras" in texts
    assert "Input (None, 8, 8, 1)  →  output (None, 10)" in texts
    assert "1,235,067 parameters, 1,235,067 trainable  ·  every layer trainable" in texts
    assert "5 layers" in texts


def test_parameters_have_thousands_separators_and_are_right_aligned(open_view):
    view = open_view()
    assert column(view, PARAMS) == ["0", "160", "1,234,567", "0", "340"]
    alignment = Qt.AlignmentFlag(column(view, PARAMS, Qt.ItemDataRole.TextAlignmentRole)[0])
    assert alignment & Qt.AlignmentFlag.AlignRight


def test_the_filter_matches_name_or_type_ignoring_case(qtbot, open_view):
    view = open_view()
    qtbot.keyClicks(view.filter_edit, "CONV")
    assert column(view, LAYER) == ["conv1", "big_conv"]
    view.filter_edit.clear()
    qtbot.keyClicks(view.filter_edit, "dense")  # matches the type of `probs`
    assert column(view, LAYER) == ["probs"]
    assert "1 of 5 layers" in label_texts(view)
    view.filter_edit.clear()
    assert len(column(view, LAYER)) == 5


@pytest.mark.parametrize("params, expected", [
    (freezing("trainable"), ["yes"] * 5),
    (freezing("frozen"), ["no"] * 5),
    (freezing("last_n", 2), ["no", "no", "no", "yes", "yes"]),
    (freezing("last_n", 0), ["no"] * 5),
    (freezing("last_n", 99), ["yes"] * 5),
], ids=["trainable", "frozen", "last_2", "last_0", "last_more_than_all"])
def test_trainable_is_the_effective_value_under_the_nodes_freezing(open_view, params, expected):
    assert column(open_view(params), TRAINABLE) == expected


def test_sorting_by_parameters_keeps_each_layers_number(open_view):
    view = open_view()
    view.table.sortByColumn(PARAMS, Qt.SortOrder.DescendingOrder)
    assert column(view, LAYER)[:3] == ["big_conv", "probs", "conv1"]
    model = view.table.model()
    numbers = [model.headerData(row, Qt.Orientation.Vertical) for row in range(model.rowCount())]
    assert numbers[:3] == ["3", "5", "2"]  # the layer's place in the model, as last_n counts


def test_tapped_layers_are_bold_and_listed(open_view):
    view = open_view(freezing(taps=("conv1",)))
    fonts = column(view, LAYER, Qt.ItemDataRole.FontRole)
    assert [font is not None and font.bold() for font in fonts] == [False, True, False, False, False]
    assert "Tapped (in bold): conv1" in label_texts(view)


def test_escape_and_the_close_button_close_it(qtbot, open_view):
    view = open_view()
    qtbot.keyClick(view.filter_edit, Qt.Key.Key_Escape)
    assert not view.isVisible()
    view = open_view()
    buttons = view.findChild(QDialogButtonBox)
    buttons.button(QDialogButtonBox.StandardButton.Close).click()
    assert not view.isVisible()


def test_a_real_model_files_card(open_view):
    card = card_from_model(load_model_file(MODELS / "digits_cnn.keras"), "digits_cnn.keras")
    view = open_view(freezing("last_n", 2, taps=("conv2",)), card)
    assert column(view, LAYER) == ["pixels", "conv1", "conv2", "pool", "probs"]
    assert column(view, TRAINABLE) == ["no", "no", "no", "yes", "yes"]
    assert column(view, SHAPE)[2] == "(None, 8, 8, 32)"
    assert "5,130 parameters, 330 trainable  ·  last 2 layers trainable" in label_texts(view)
