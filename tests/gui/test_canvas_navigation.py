"""Finding one's way on the canvas (issue 17, finding 8 and the Build's canvas bullet): Frame All
keeps cards readable, Find (Ctrl+F) jumps to a node by name, an overview appears for graphs
bigger than the view, and an empty canvas says how to start."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt

from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import AddNode, new_node
from app.core.editing.layout import auto_layout
from app.gui.canvas.items import DETAIL_LOD
from app.gui.document import Document


def laid_out(builder: GraphBuilder) -> Project:
    for node_id, position in auto_layout(builder.graph).items():
        builder.graph.move(node_id, position)
    return builder.project


def chain(length: int) -> Project:
    """pixels → dense_1 → … → digit, laid out left to right."""
    b = GraphBuilder()
    names = ["pixels", *(f"dense_{i}" for i in range(1, length - 1)), "digit"]
    b.add(names[0], "Input", shape=[64])
    for name in names[1:-1]:
        b.add(name, "Dense", units=16)
    b.add(names[-1], "Output")
    b.chain(*names)
    return laid_out(b)


def grid(columns: int, rows: int) -> Project:
    """`rows` separate chains of `columns` nodes: wide and tall."""
    b = GraphBuilder()
    for row in range(rows):
        names = [f"n{row}_{column}" for column in range(columns)]
        b.add(names[0], "Input", shape=[4])
        for name in names[1:]:
            b.add(name, "Dense", units=4)
        b.chain(*names)
    return laid_out(b)


def visible(view):
    return view.mapToScene(view.viewport().rect()).boundingRect()


def view_centre(view) -> QPointF:
    return view.mapToScene(view.viewport().rect().center())


def test_frame_all_on_a_six_node_chain_keeps_the_cards_readable(make_window, qtbot):
    """At 1024×700 Frame All zoomed out until every card was blank."""
    window = make_window(Document(chain(6)))
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.view.viewport().width() < 700)
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_F)
    assert view.zoom >= DETAIL_LOD
    pixels = window.scene.node_items[window.document.graph.node_by_name("pixels").id]
    assert visible(view).contains(pixels.sceneBoundingRect())  # the graph's start is in view
    assert window.view.minimap.isVisible()  # and the overview shows the rest


def test_frame_all_still_fits_a_graph_too_big_both_ways(make_window, qtbot):
    window = make_window(Document(grid(12, 12)))
    qtbot.keyClick(window.view, Qt.Key.Key_F)
    for item in window.scene.node_items.values():
        assert visible(window.view).contains(item.sceneBoundingRect())


def test_ctrl_f_finds_a_node_by_its_name_selects_and_centres_it(make_window, qtbot):
    window = make_window(Document(chain(12)))
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_F)
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    bar = view.find_bar
    assert bar.isVisible() and bar.edit.hasFocus()
    assert bar.completer.model().stringList()[:2] == ["pixels", "dense_1"]
    qtbot.keyClicks(bar.edit, "dense_9")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    node = window.document.graph.node_by_name("dense_9")
    assert window.scene.selected_node_ids() == [node.id]
    card = window.scene.node_items[node.id].sceneBoundingRect()
    assert visible(view).contains(card) and (view_centre(view) - card.center()).manhattanLength() < 5
    assert not bar.isVisible() and view.hasFocus()


def test_find_takes_part_of_a_name_says_when_nothing_matches_and_esc_closes(make_window, qtbot):
    window = make_window(Document(chain(6)))
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    bar = view.find_bar
    qtbot.keyClicks(bar.edit, "nothing_like_it")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert bar.isVisible() and bar.message.text() == "no such node"
    assert window.scene.selected_node_ids() == []
    bar.edit.clear()
    qtbot.keyClicks(bar.edit, "DIG")  # any case, the start of a name
    bar.completer.popup().hide()
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert window.scene.selected_node_ids() == [window.document.graph.node_by_name("digit").id]
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert bar.isVisible()
    qtbot.keyClick(bar.edit, Qt.Key.Key_Escape)
    assert not bar.isVisible() and view.hasFocus()


def test_the_overview_shows_only_for_a_graph_bigger_than_the_view(make_window, qtbot):
    small = make_window(Document(chain(3)))
    qtbot.keyClick(small.view, Qt.Key.Key_F)
    assert not small.view.minimap.isVisible()

    window = make_window(Document(chain(30)))
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_F)
    minimap = view.minimap
    qtbot.waitUntil(minimap.isVisible)
    assert view.viewport().geometry().contains(minimap.geometry())  # in the canvas's corner


def test_a_click_on_the_overview_moves_the_view_there(make_window, qtbot):
    window = make_window(Document(chain(30)))
    view = window.view
    qtbot.keyClick(view, Qt.Key.Key_F)
    minimap = view.minimap
    qtbot.waitUntil(minimap.isVisible)
    digit = window.scene.node_items[window.document.graph.node_by_name("digit").id]
    assert not visible(view).intersects(digit.sceneBoundingRect())
    target = minimap.to_widget(digit.sceneBoundingRect()).center().toPoint()
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=target)
    assert visible(view).intersects(digit.sceneBoundingRect())
    before = view_centre(view)
    qtbot.mousePress(minimap, Qt.MouseButton.LeftButton, pos=target)  # a drag follows the mouse
    qtbot.mouseMove(minimap, target - QPoint(60, 0))
    qtbot.mouseRelease(minimap, Qt.MouseButton.LeftButton, pos=target - QPoint(60, 0))
    assert view_centre(view).x() < before.x() - 100


def test_an_empty_canvas_says_how_to_start_until_a_node_is_added(window, qtbot):
    hint = window.view.empty_hint
    assert hint.isVisible() and "palette" in hint.text() and "Tab" in hint.text()
    assert window.view.viewport().geometry().contains(hint.geometry())
    node = new_node(window.document.graph, "Input", {"shape": [4]}, (0, 0))
    window.document.push(AddNode(node))
    qtbot.waitUntil(lambda: not hint.isVisible())
    window.document.undo_stack.undo()
    qtbot.waitUntil(hint.isVisible)
