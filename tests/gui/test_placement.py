"""Issue 17, findings 3 and 4, driven as the report describes: every way of adding a node puts
it where no node is, a one-click fix makes room for its adapter, and a project file without
positions opens laid out."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from app.core.document.fileformat import dumps
from app.core.editing.commands import AddNode, connect, new_node
from app.gui.document import Document
from tests.conftest import EXAMPLES
from tests.gui.conftest import click, node_point


def overlapping_cards(window) -> list[tuple[str, str]]:
    """The names of every two nodes whose cards, as the canvas draws them, overlap."""
    items = [(window.document.graph.node(node_id).name, item.sceneBoundingRect())
             for node_id, item in window.scene.node_items.items()]
    return [(a, b) for i, (a, ra) in enumerate(items) for b, rb in items[i + 1:] if ra.intersects(rb)]


def add(window, type_name, x, y, **params) -> str:
    node = new_node(window.document.graph, type_name, params, (x, y))
    assert window.document.push(AddNode(node))
    return node.id


def double_click_in_palette(window, qtbot, label: str) -> None:
    tree = window.palette_panel.tree
    index = window.palette_panel.index_of(label)
    tree.scrollTo(index)
    at = tree.visualRect(index).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=at)  # as a mouse does: a click,
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=at)  # then the second press


def quick_add(window, qtbot, typed: str) -> None:
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    qtbot.keyClicks(window.quick_add.search, typed)
    qtbot.keyClick(window.quick_add.search, Qt.Key.Key_Return)


def test_double_clicking_a_palette_entry_twice_adds_two_nodes_side_by_side(window, qtbot):
    double_click_in_palette(window, qtbot, "Dense projection")
    assert len(window.document.graph.nodes) == 1  # one double-click, one node
    double_click_in_palette(window, qtbot, "Dense projection")
    assert len(window.document.graph.nodes) == 2
    assert overlapping_cards(window) == []


def test_two_inputs_from_the_palette_do_not_cover_each_other(window, qtbot):
    double_click_in_palette(window, qtbot, "Input")
    double_click_in_palette(window, qtbot, "Input")
    assert [n.type for n in window.document.graph.nodes] == ["Input", "Input"]
    assert overlapping_cards(window) == []


def test_enter_in_the_palette_search_twice_adds_two_nodes_side_by_side(window, qtbot):
    search = window.palette_panel.search
    search.setFocus()
    qtbot.keyClicks(search, "flatten")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert [n.type for n in window.document.graph.nodes] == ["Flatten", "Flatten"]
    assert overlapping_cards(window) == []


def test_quick_add_twice_at_the_same_place_adds_two_nodes_side_by_side(window, qtbot):
    quick_add(window, qtbot, "dense")
    window.scene.clearSelection()  # nothing selected: both go where Tab was pressed
    quick_add(window, qtbot, "dense")
    assert [n.type for n in window.document.graph.nodes] == ["Dense", "Dense"]
    assert overlapping_cards(window) == []


def test_quick_add_after_a_node_goes_clear_of_what_already_follows_it(window, qtbot):
    x = add(window, "Input", 0, 0, shape=[4])
    d = add(window, "Dense", 320, 0)
    window.document.push(connect(window.document.graph, x, "out", d, "in"))
    click(window.view, node_point(window, x))
    quick_add(window, qtbot, "dense")  # appended after x, where d already is
    graph = window.document.graph
    added = graph.nodes[-1]
    assert added.type == "Dense" and graph.edge_into(added.id, "in").source == x
    assert overlapping_cards(window) == []


def test_duplicate_and_paste_land_beside_the_originals(window, qtbot):
    node = add(window, "Dense", 0, 0, units=3)
    click(window.view, node_point(window, node))
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    window.select_all()
    qtbot.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.graph.nodes) == 4
    assert overlapping_cards(window) == []


def test_the_one_click_fix_makes_room_for_its_adapter_and_undo_restores_every_position(
        make_window, qtbot):
    """The adapter went halfway between pixels and mlp, on top of both."""
    window = make_window(Document.open(EXAMPLES / "broken.graft"))
    window.document.wait_until_analysed()
    before = dumps(window.document.project)
    overlaps_before = overlapping_cards(window)
    panel = window.problems
    row = next(i for i, p in enumerate(panel.problems) if p.fix and p.fix.label == "Insert Flatten")
    qtbot.mouseClick(panel.fix_button(row), Qt.MouseButton.LeftButton)
    graph = window.document.graph
    flatten = next(n for n in graph.nodes if n.type == "Flatten")
    after = overlapping_cards(window)
    assert [pair for pair in after if flatten.name in pair] == []  # neither neighbour, nor any node
    assert set(after) <= set(overlaps_before)  # and nothing moved onto anything
    pixels, mlp = graph.node_by_name("pixels"), graph.node_by_name("mlp")
    assert pixels.position[0] < flatten.position[0] < mlp.position[0]
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dumps(window.document.project) == before


def test_a_project_file_without_positions_opens_laid_out_and_unmodified(window, tmp_path):
    document = json.loads((EXAMPLES / "broken.graft").read_text(encoding="utf-8"))
    for node in document["nodes"]:
        del node["position"]
    path = tmp_path / "generated.graft"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert window.open_path(path)
    assert len(window.document.graph.nodes) == len(document["nodes"])
    assert overlapping_cards(window) == []
    assert not window.document.modified and not window.isWindowModified()
