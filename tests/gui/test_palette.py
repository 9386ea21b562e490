"""Finding a node to add: the palette's search field and the quick-add box (Tab), typed into
with real keys, and what activating a match adds to the core graph."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

MOBILENETS = {"MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large"}


def shown_in_palette(palette) -> set[str]:
    """The labels of the entries the palette's tree shows now: kept by the filter, with every
    heading above them open."""
    tree, proxy, shown = palette.tree, palette.proxy, set()
    pending = [proxy.index(row, 0) for row in range(proxy.rowCount())]
    while pending:
        index = pending.pop()
        if index.data(Qt.ItemDataRole.UserRole) is not None:
            shown.add(index.data())
        elif tree.isExpanded(index):
            pending += [proxy.index(row, 0, index) for row in range(proxy.rowCount(index))]
    return shown


def shown_in_quick_add(quick_add) -> list[str]:
    items = [quick_add.list.item(row) for row in range(quick_add.list.count())]
    return [item.text() for item in items if not item.isHidden()]


def search_palette(palette, qtbot, text: str) -> None:
    palette.search.setFocus()
    palette.search.clear()
    qtbot.keyClicks(palette.search, text)


def test_typing_in_the_palette_search_shows_only_the_matching_entries(window, qtbot):
    palette = window.palette_panel
    assert "DenseNet121" not in shown_in_palette(palette)  # the Applications group starts closed
    search_palette(palette, qtbot, "dense")
    assert shown_in_palette(palette) == {"Dense projection", "DenseNet121", "DenseNet169", "DenseNet201"}
    search_palette(palette, qtbot, "MOBILENET")  # any case
    assert shown_in_palette(palette) == MOBILENETS
    search_palette(palette, qtbot, "digits_")
    assert shown_in_palette(palette) == {"digits_cnn", "digits_encoder", "digits_mlp", "digits_refiner"}
    search_palette(palette, qtbot, "qwzx")
    assert shown_in_palette(palette) == set() and palette.proxy.rowCount() == 0
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)  # nothing to add
    assert window.document.graph.nodes == []
    search_palette(palette, qtbot, "")
    assert {"Input", "Dense projection", "Concatenate", "Output", "digits_cnn"} <= shown_in_palette(palette)


def test_enter_in_the_palette_search_adds_the_first_match_to_the_graph(window, qtbot):
    palette = window.palette_panel
    search_palette(palette, qtbot, "dense proj")
    assert shown_in_palette(palette) == {"Dense projection"}
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes
    assert node.type == "Dense"
    search_palette(palette, qtbot, "flatten")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert [n.type for n in window.document.graph.nodes] == ["Dense", "Flatten"]


def test_activating_a_found_entry_in_the_palette_tree_adds_it(window, qtbot):
    palette = window.palette_panel
    search_palette(palette, qtbot, "concat")
    index = palette.index_of("Concatenate")
    assert index is not None and shown_in_palette(palette) == {"Concatenate"}
    palette.tree.setFocus()
    palette.tree.setCurrentIndex(index)
    qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes
    assert node.type == "Concatenate"


def test_the_quick_add_box_filters_by_every_word_and_enter_adds_the_pick(window, qtbot):
    quick_add = window.quick_add
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    assert quick_add.isVisible()
    qtbot.keyClicks(quick_add.search, "mobilenet")
    assert set(shown_in_quick_add(quick_add)) == MOBILENETS
    quick_add.search.clear()
    qtbot.keyClicks(quick_add.search, "global 2d")  # every word, in label, type or section
    assert shown_in_quick_add(quick_add) == ["GlobalAveragePooling2D", "GlobalMaxPooling2D"]
    qtbot.keyClick(quick_add.search, Qt.Key.Key_Down)  # the arrows move through the matches
    assert quick_add.list.currentItem().text() == "GlobalMaxPooling2D"
    qtbot.keyClick(quick_add.search, Qt.Key.Key_Return)
    assert not quick_add.isVisible()
    (node,) = window.document.graph.nodes
    assert node.type == "GlobalMaxPooling2D"

    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    qtbot.keyClicks(quick_add.search, "qwzx")
    assert shown_in_quick_add(quick_add) == []
    qtbot.keyClick(quick_add.search, Qt.Key.Key_Return)  # nothing to add
    assert [n.type for n in window.document.graph.nodes] == ["GlobalMaxPooling2D"]


INTENTS = [("dense", "Dense"), ("conv", "Conv2D"), ("pool", "GlobalAveragePooling2D"),
           ("resnet", "ResNet50"), ("concat", "Concatenate"), ("resnet50", "ResNet50")]


def added_kind(node) -> str:
    return node.params.get("architecture") or node.params.get("class_name") or node.type


@pytest.mark.parametrize("typed, added", INTENTS)
def test_tab_typing_a_name_and_enter_adds_what_the_name_means(window, qtbot, typed, added):
    """Issue 17: Tab, "dense", Enter added DenseNet121, as Keras Applications came first in
    the catalog; an exact name comes first now, then names that start with what was typed."""
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    qtbot.keyClicks(window.quick_add.search, typed)
    qtbot.keyClick(window.quick_add.search, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes
    assert added_kind(node) == added


@pytest.mark.parametrize("typed, added", INTENTS)
def test_enter_in_the_palette_search_adds_what_the_name_means(window, qtbot, typed, added):
    """The palette ranks as quick-add does: exact and prefix matches of a type, then common
    layers, then pretrained architectures ("conv" gave ConvNeXtTiny, the first in the tree)."""
    search_palette(window.palette_panel, qtbot, typed)
    qtbot.keyClick(window.palette_panel.search, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes
    assert added_kind(node) == added


def test_recent_choices_come_first_and_are_remembered(make_window, qtbot):
    """Conv1D chosen once, "conv" means Conv1D next time, in this window and the next one."""
    window = make_window()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    qtbot.keyClicks(window.quick_add.search, "conv1d")
    qtbot.keyClick(window.quick_add.search, Qt.Key.Key_Return)
    later = make_window()
    for each in (window, later):
        each.view.setFocus()
        qtbot.keyClick(each.view, Qt.Key.Key_Tab)
        assert shown_in_quick_add(each.quick_add)[0] == "Conv1D"  # nothing typed: recent first
        qtbot.keyClicks(each.quick_add.search, "conv")
        qtbot.keyClick(each.quick_add.search, Qt.Key.Key_Return)
        assert added_kind(each.document.graph.nodes[-1]) == "Conv1D"
    search_palette(later.palette_panel, qtbot, "dense")  # an exact name still beats a recent prefix
    qtbot.keyClick(later.palette_panel.search, Qt.Key.Key_Return)
    assert added_kind(later.document.graph.nodes[-1]) == "Dense"
