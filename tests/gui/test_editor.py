"""The editor driven by real input (mouse, keys, drops), asserting on the core graph."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl

from app.core.analysis.validate import ERROR
from app.core.document.fileformat import dumps, load
from app.core.document.project import Project
from app.core.editing.commands import AddNode, connect, new_node
from app.core.nodes.appearance import NODE_WIDTH, TITLE_HEIGHT
from app.gui.document import Document
from tests.conftest import EXAMPLES
from tests.gui.conftest import activate, click, drag, drop, node_point, port_point


def add(window, type_name, x=0.0, y=0.0, **params) -> str:
    node = new_node(window.document.graph, type_name, params, (x, y))
    assert window.document.push(AddNode(node))
    return node.id


def types(window) -> list[str]:
    return [n.type for n in window.document.graph.nodes]


def test_a_palette_drop_adds_the_node_where_it_was_dropped(window):
    palette = window.palette_panel
    index = palette.proxy.mapToSource(palette.index_of("Dense projection"))
    mime = palette.model.mimeData([index])
    drop(window.view, mime, QPointF(300, 200))
    (node,) = window.document.graph.nodes
    assert node.type == "Dense"
    x, y = node.position
    assert abs(x + NODE_WIDTH / 2 - 300) < 2 and abs(y + TITLE_HEIGHT / 2 - 200) < 2  # its title there
    assert window.undo_action.text() == "&Undo Add dense"


def test_dragging_from_an_output_port_to_an_input_port_connects(window):
    source = add(window, "Input", 0, 0, shape=[16])
    target = add(window, "Dense", 400, 0, units=4)
    drag(window.view, port_point(window, source, "out", False), port_point(window, target, "in", True))
    (edge,) = window.document.graph.edges
    assert (edge.source, edge.source_port, edge.target, edge.target_port) == (source, "out", target, "in")
    assert window.document.analysis.nodes[target].inputs["in"].shape == (None, 16)


def test_a_merge_grows_a_new_input_port_as_it_is_connected(window):
    a = add(window, "Input", 0, 0, shape=[4])
    b = add(window, "Input", 0, 200, shape=[4])
    merge = add(window, "Concatenate", 400, 100)
    assert list(window.scene.node_items[merge].inputs) == ["in0", "in1"]
    drag(window.view, port_point(window, a, "out", False), port_point(window, merge, "in0", True))
    drag(window.view, port_point(window, b, "out", False), port_point(window, merge, "in1", True))
    assert list(window.scene.node_items[merge].inputs) == ["in0", "in1", "in2"]
    assert window.document.analysis.output_spec(merge).shape == (None, 8)


def test_pulling_a_connection_off_its_input_disconnects(window):
    source = add(window, "Input", 0, 0, shape=[16])
    target = add(window, "Dense", 400, 0)
    window.document.push(connect(window.document.graph, source, "out", target, "in"))
    drag(window.view, port_point(window, target, "in", True), QPointF(300, 300))
    assert window.document.graph.edges == []


def test_dragging_a_node_moves_it_as_one_undoable_step(window, qtbot):
    node = add(window, "Input", 0, 0, shape=[16])
    start = node_point(window, node)
    drag(window.view, start, start + QPointF(100, 50))
    assert window.document.graph.node(node).position == (100.0, 50.0)
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.graph.node(node).position == (0.0, 0.0)


def test_delete_removes_the_selected_node_and_its_connections(window, qtbot):
    source = add(window, "Input", 0, 0, shape=[16])
    target = add(window, "Dense", 400, 0)
    window.document.push(connect(window.document.graph, source, "out", target, "in"))
    click(window.view, node_point(window, target))
    assert window.scene.selected_node_ids() == [target]
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert types(window) == ["Input"] and window.document.graph.edges == []


def test_ctrl_z_and_ctrl_shift_z_undo_and_redo(window, qtbot):
    add(window, "Input", 0, 0, shape=[16])
    add(window, "Dense", 400, 0)
    before = dumps(window.document.project)
    click(window.view, node_point(window, window.document.graph.nodes[1].id))
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    after = dumps(window.document.project)
    assert window.undo_action.text() == "&Undo Delete 1 node"
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dumps(window.document.project) == before
    assert window.redo_action.text() == "&Redo Delete 1 node"
    qtbot.keyClick(window.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert dumps(window.document.project) == after


def test_the_title_marks_unsaved_changes(window):
    assert not window.isWindowModified()
    add(window, "Input", shape=[4])
    assert window.isWindowModified() and window.windowTitle() == "Untitled[*] — Graft"
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_a_load_that_ends_before_it_is_handed_back_is_still_seen(make_window, monkeypatch):
    """A loading job can finish before `start` returns (TensorFlow already imported, cards
    cached): the document must still notice, not say "Loading…" for ever."""
    from app.gui import document as document_module
    from app.gui.background import WorkerThread

    jobs = []

    def at_once(thread, job):  # the work runs right here, before `start` returns
        jobs.append(job)
        job.run()

    monkeypatch.setattr(WorkerThread, "submit", at_once)
    monkeypatch.setattr(document_module, "_keras_ready", False)  # a load, whichever test ran before
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    assert window.document.wait_until_analysed(timeout=10).ok
    assert jobs


def test_tensorflow_once_loaded_is_frozen_out_of_the_cycle_collector(make_window):
    """Full collections run on the UI thread; they must not walk TensorFlow's objects."""
    import gc

    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    window.document.wait_until_analysed()
    assert gc.get_freeze_count() > 100_000


def test_applying_the_one_click_fix_inserts_the_adapter(make_window, qtbot):
    window = make_window(Document.open(EXAMPLES / "broken.graft"))
    analysis = window.document.wait_until_analysed()
    assert len(analysis.errors) == 3
    panel = window.problems
    row = next(i for i, p in enumerate(panel.problems) if p.fix and p.fix.label == "Insert Flatten")
    qtbot.mouseClick(panel.fix_button(row), Qt.MouseButton.LeftButton)
    graph = window.document.graph
    flatten = next(n for n in graph.nodes if n.type == "Flatten")
    mlp = graph.node_by_name("mlp")
    assert graph.edge_into(mlp.id, "in").source == flatten.id
    assert graph.edge_into(flatten.id, "in").source == graph.node_by_name("pixels").id
    assert len(window.document.analysis.errors) == 2  # re-validated: that mismatch is gone
    assert window.undo_action.text() == "&Undo Insert Flatten"
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "Flatten" not in types(window) and len(window.document.analysis.errors) == 3


def test_an_incompatible_connection_is_red_with_the_reason_and_its_node_has_a_badge(make_window):
    window = make_window(Document.open(EXAMPLES / "broken.graft"))
    window.document.wait_until_analysed()
    graph = window.document.graph
    mlp = graph.node_by_name("mlp")
    edge = graph.edge_into(mlp.id, "in")
    item = window.scene.edge_items[edge.id]
    assert item.problem.severity == ERROR
    assert "expects (None, 64) but receives (None, 8, 8, 1)" in item.toolTip()
    assert window.scene.node_items[mlp.id].has_error


def test_clicking_a_problem_selects_and_centres_its_edge(make_window, qtbot):
    window = make_window(Document.open(EXAMPLES / "broken.graft"))
    window.document.wait_until_analysed()
    panel = window.problems
    row = next(i for i, p in enumerate(panel.problems) if p.code == "unreachable")
    problem = panel.problems[row]
    rect = panel.visualItemRect(panel.topLevelItem(row))
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.scene.selected_node_ids() == [problem.node_id]
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    assert window.scene.node_items[problem.node_id].sceneBoundingRect().contains(centre)


def test_save_then_open_restores_the_same_project(make_window, tmp_path, qtbot):
    path = tmp_path / "cascade.graft"
    shutil.copy(EXAMPLES / "cascade.graft", path)
    shutil.copytree(EXAMPLES.parent / "models", tmp_path.parent / "models", dirs_exist_ok=True)
    window = make_window(Document.open(path))
    add(window, "Dense", 50, 300, units=3)
    qtbot.keyClick(window.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not window.isWindowModified()
    saved = dumps(window.document.project)
    other = make_window()
    assert other.open_path(path)
    assert dumps(other.document.project) == saved
    assert other.recent_files()[0] == str(path.resolve())


def test_a_project_that_cannot_be_read_is_reported_and_nothing_changes(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    bad = tmp_path / "bad.graft"
    bad.write_text('{"format": "graft", "format_version": 1, "nodes": [')
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    add(window, "Input", shape=[4])
    window.document.undo_stack.setClean()
    assert not window.open_path(bad)
    assert "bad.graft" in shown[0] and "line 1" in shown[0]
    assert types(window) == ["Input"]


def test_dropping_a_project_file_on_the_window_opens_it(window):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(EXAMPLES / "parallel.graft"))])
    drop(window.view, mime, QPointF(0, 0))
    assert window.document.path == EXAMPLES / "parallel.graft"
    assert dumps(window.document.project) == dumps(load(EXAMPLES / "parallel.graft"))


def test_dropping_model_files_adds_a_node_for_each_suffix_graft_reads(window, tmp_path):
    """.keras, .h5 and .hdf5 (in any case) become ModelFile nodes, as the Import dialog offers
    them and the loader reads them; other files are no models."""
    accepted = ["mine.keras", "mine.h5", "legacy.hdf5", "SHOUTED.HDF5"]
    for name in [*accepted, "notes.txt", "weights.npz"]:
        (tmp_path / name).write_bytes(b"")  # dropping goes by the name; loading reads the file
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(tmp_path / name))])
        drop(window.view, mime, QPointF(0, 0))
    added = window.document.graph.nodes
    assert [n.type for n in added] == ["ModelFile"] * len(accepted)
    assert [Path(n.params["path"]).name for n in added] == accepted


def test_the_import_dialog_offers_every_model_file_graft_reads(window, tmp_path, monkeypatch):
    from app.gui import main_window
    from app.gui.panels.palette import FILE, Entry

    offered = []

    def choose(parent, title, folder, name_filter):
        offered.append(name_filter)
        return str(tmp_path / "legacy.hdf5"), name_filter

    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileName", staticmethod(choose))
    entry = Entry("Import model file…", "pretrained", "ModelFile", {}, pick=FILE)
    assert window.add_entry(entry, QPointF(0, 0)) is not None
    assert offered == ["Keras models (*.keras *.h5 *.hdf5)"]
    (node,) = window.document.graph.nodes
    assert Path(node.params["path"]).name == "legacy.hdf5"


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    add(window, "Input", shape=[4])
    asked = []
    monkeypatch.setattr(type(window), "ask_unsaved",
                        lambda self: asked.append(1) or QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert asked and window.isVisible()
    monkeypatch.setattr(type(window), "ask_unsaved", lambda self: QMessageBox.StandardButton.Discard)
    assert window.close()


def test_copy_and_paste_carry_project_json_between_windows(make_window, qtbot):
    first, second = make_window(), make_window()
    source = add(first, "Input", 0, 0, shape=[16])
    target = add(first, "Dense", 400, 0, units=7)
    first.document.push(connect(first.document.graph, source, "out", target, "in"))
    first.select_all()
    activate(qtbot, first)
    qtbot.keyClick(first.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    activate(qtbot, second)
    qtbot.keyClick(second.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    graph = second.document.graph
    assert [n.type for n in graph.nodes] == ["Input", "Dense"] and len(graph.edges) == 1
    assert graph.nodes[1].params["units"] == 7
    assert second.scene.selected_node_ids() == [n.id for n in graph.nodes]


def test_duplicate_gives_unique_names(window, qtbot):
    node = add(window, "Dense", 0, 0, units=3)
    click(window.view, node_point(window, node))
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    names = [n.name for n in window.document.graph.nodes]
    assert len(names) == 2 and len(set(names)) == 2


def test_auto_layout_puts_every_connection_left_to_right_and_undoes(make_window, qtbot):
    project = load(EXAMPLES / "parallel.graft")
    for i, node in enumerate(project.graph.nodes):  # scrambled: the example itself is laid out
        project.graph.move(node.id, ((i * 37) % 200, (i * 53) % 300))
    window = make_window(Document(project))
    graph = window.document.graph
    before = dumps(window.document.project)
    qtbot.keyClick(window.view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert all(graph.node(e.source).position[0] < graph.node(e.target).position[0] for e in graph.edges)
    assert window.undo_action.text() == "&Undo Auto-layout"
    window.document.undo_stack.undo()
    assert dumps(window.document.project) == before


def test_f_frames_all_nodes(window, qtbot):
    far = add(window, "Input", 5000, 3000, shape=[4])
    near = add(window, "Input", 0, 0, shape=[4])
    qtbot.keyClick(window.view, Qt.Key.Key_F)
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for node in (far, near):
        assert visible.contains(window.scene.node_items[node].sceneBoundingRect())


def test_wheel_zooms_and_middle_drag_pans(window, qtbot):
    view = window.view
    zoom = view.zoom
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(centre, view.viewport().mapToGlobal(centre), QPoint(), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom > zoom
    before = view.mapToScene(view.viewport().rect().center())
    start = view.mapToScene(view.viewport().rect().center())
    drag(view, start, start + QPointF(50, 0), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() < before.x()  # the content followed the mouse to the right


def test_a_bad_value_in_the_inspector_is_refused_and_not_applied(window, qtbot):
    node = add(window, "Dense", 0, 0, units=8)
    click(window.view, node_point(window, node))
    units = window.inspector.editor("units")
    units.selectAll()
    qtbot.keyClicks(units, "abc")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    assert window.document.graph.node(node).params["units"] == 8
    units.selectAll()
    qtbot.keyClicks(units, "12")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    assert window.document.graph.node(node).params["units"] == 12
    assert window.undo_action.text() == "&Undo Change units"


def test_the_status_bar_counts_total_and_trainable_parameters(window):
    source = add(window, "Input", 0, 0, shape=[16])
    target = add(window, "Dense", 400, 0, units=4)
    window.document.push(connect(window.document.graph, source, "out", target, "in"))
    assert window.params_label.text() == "68 parameters · 68 trainable"
    assert window.validation_label.text() == "✖ 1 error"  # no Output yet
    add(window, "Output", 800, 0)
    window.document.push(connect(window.document.graph, target, "out",
                                 window.document.graph.nodes[-1].id, "in"))
    assert window.validation_label.text() == "✔ valid"


def test_double_clicking_a_pretrained_node_shows_its_layers(make_window):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    window.document.wait_until_analysed()
    node = window.document.graph.node_by_name("classifier_a")
    click(window.view, node_point(window, node.id), double=True)
    dialog = window.findChild(type(window.show_model(node.id)))
    assert dialog is not None and "classifier_a" in dialog.windowTitle()


def test_the_problems_panel_leaves_its_loading_message_once_models_are_read(make_window, models_dir):
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path=str(models_dir / "digits_cnn.keras"))
    b.add("y", "Output")
    b.chain("x", "cnn", "y")
    window = make_window(Document(Project(b.graph)))
    window.document.wait_until_analysed()
    assert window.problems.topLevelItem(0).text(0).startswith("No problems")
    assert window.validation_label.text() == "✔ valid"


def test_zoomed_far_out_nodes_are_blocks_without_ports(window):
    node = add(window, "Dense", 0, 0)
    port = window.scene.node_items[node].inputs["in"]
    window.view.set_zoom(0.1 / window.view.zoom)
    assert not port.isVisible()
    window.view.set_zoom(1.0 / window.view.zoom)
    assert port.isVisible()


def test_rubber_band_selects_the_nodes_it_covers(window):
    a = add(window, "Input", 0, 0, shape=[4])
    b = add(window, "Dense", 300, 0)
    add(window, "Output", 900, 400)
    drag(window.view, QPointF(-40, -40), QPointF(600, 150))
    assert window.scene.selected_node_ids() == [a, b]


def test_space_drag_pans_instead_of_selecting(window, qtbot):
    add(window, "Input", 0, 0, shape=[4])
    view = window.view
    before = view.mapToScene(view.viewport().rect().center())
    qtbot.keyPress(view, Qt.Key.Key_Space)
    drag(view, before, before + QPointF(0, 80))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.y() < before.y() and window.scene.selected_node_ids() == []


def test_ticking_a_layer_in_the_model_view_taps_it_and_undo_unticks_it(make_window, qtbot):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    window.document.wait_until_analysed()
    node = window.document.graph.node_by_name("classifier_a")
    dialog = window.show_model(node.id)
    row = next(i for i in range(dialog.layers.rowCount()) if dialog.layers.index(i, 0).data() == "conv2")
    dialog.table.setCurrentIndex(dialog.proxy.mapFromSource(dialog.layers.index(row, 0)))
    qtbot.keyClick(dialog.table, Qt.Key.Key_Space)
    assert window.document.graph.node(node.id).params["taps"] == ["conv2"]
    assert "tap:conv2" in window.scene.node_items[node.id].outputs
    window.document.undo_stack.undo()
    assert window.document.graph.node(node.id).params["taps"] == []
    assert dialog.layers.index(row, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked


def test_hovering_a_pretrained_node_shows_its_model_card(make_window):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    window.document.wait_until_analysed()
    node = window.document.graph.node_by_name("classifier_a")
    tip = window.scene.node_items[node.id].toolTip()
    assert "digits_cnn.keras" in tip and "in (None, 8, 8, 1) → out (None, 10)" in tip
    assert "5,130 parameters: 0 trainable, 5,130 frozen" in tip and " kB" in tip


def test_a_weight_sharing_twin_is_one_keystroke(make_window, qtbot):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    node = window.document.graph.node_by_name("classifier_a")
    window.scene.select([node.id])
    qtbot.keyClick(window.view, Qt.Key.Key_D,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    twin = window.document.graph.nodes[-1]
    assert twin.params["share_weights_with"] == "classifier_a" and twin.params["path"] == node.params["path"]
    assert window.undo_action.text() == f"&Undo Add {twin.name}"


def test_imagenet_weights_download_in_the_background_with_progress_or_say_why_not(window, qtbot, monkeypatch,
                                                                                   tmp_path):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path))
    progress = []
    window.document.downloadProgress.connect(lambda label, got, total: progress.append((label, got, total)))

    def offline_after_a_while(url, target, reporthook):
        reporthook(1, 1000, 9_000_000)
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "urlretrieve", offline_after_a_while)
    add(window, "Application", architecture="MobileNetV2", input_shape=[96, 96, 3], weights="imagenet")
    qtbot.waitUntil(lambda: "could not be downloaded" in window.statusBar().currentMessage(), timeout=60000)
    assert ("MobileNetV2 imagenet weights", 1000, 9_000_000) in progress
    assert "see the Problems panel" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: any("use weights none or a local weights file" in p.message
                                for p in window.problems.problems), timeout=10000)
