"""Issue 17's smaller first-hour findings, driven through the editor as the report describes."""

from __future__ import annotations

from app.core.cards.loading import ModelLoadError
from app.core.document.project import Project
from app.core.editing.builder import new_node
from app.core.editing.commands import AddNode
from app.gui import document as document_module
from app.gui.document import Document


def offline(architecture, settings, progress):
    raise ModelLoadError(f"{architecture}: the imagenet weights are not in the Keras cache and could "
                         "not be downloaded (no network); use weights none or a local weights file")


def imagenet_project() -> Project:
    project = Project()
    node = new_node(project.graph, "Application",
                    {"architecture": "MobileNetV2", "weights": "imagenet", "include_top": False,
                     "input_shape": [96, 96, 3], "classes": 5}, (0, 0))
    AddNode(node).do(project)
    return project


def test_imagenet_weights_that_cannot_be_downloaded_are_an_error_in_the_problems_panel(
        qtbot, make_window, monkeypatch):
    """Finding 5: offline, the graph said "✔ valid" and the advice was cut off in a 30-second
    status message; the failure came only when training started."""
    monkeypatch.setattr(document_module, "fetch_imagenet_weights", offline)
    window = make_window(Document(imagenet_project()))
    node = window.document.graph.nodes[0]

    def weights_problem():
        return next((p for p in window.problems.problems if p.code == "weights_unavailable"), None)

    qtbot.waitUntil(lambda: weights_problem() is not None, timeout=30000)
    problem = weights_problem()
    assert problem.severity == "error" and problem.node_id == node.id
    assert "imagenet weights" in problem.message
    assert "use weights none or a local weights file" in problem.message
    assert window.validation_label.text().startswith("✖")
    window.problems.problemActivated.emit(problem)
    assert window.scene.selected_node_ids() == [node.id]


def test_weights_that_arrive_later_clear_their_problem(qtbot, make_window, monkeypatch):
    """Back online, the next edit fetches them and the error goes away."""
    monkeypatch.setattr(document_module, "fetch_imagenet_weights", offline)
    window = make_window(Document(imagenet_project()))
    qtbot.waitUntil(lambda: any(p.code == "weights_unavailable" for p in window.problems.problems),
                    timeout=30000)
    monkeypatch.setattr(document_module, "fetch_imagenet_weights", lambda *args: None)
    window.document.revalidate()
    qtbot.waitUntil(lambda: not any(p.code == "weights_unavailable" for p in window.problems.problems),
                    timeout=30000)


def test_a_pooling_layer_added_from_the_palette_is_named_as_keras_names_it(window, qtbot):
    """Finding 10: GlobalAveragePooling2D named itself `global_average_pooling2_d`."""
    from PySide6.QtCore import Qt

    search = window.palette_panel.search
    search.setFocus()
    qtbot.keyClicks(search, "GlobalAveragePooling2D")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes
    assert node.name == "global_average_pooling2d"


def test_switching_the_data_source_to_a_file_drops_the_bundled_set_name(window, qtbot):
    """Finding 10: after choosing npz, the path still said "digits" (the bundled set), so the
    run looked for a file called digits; the path is emptied and the run says to choose one."""
    from app.core.training.sources import DataError, locate

    window.show_training("setup")
    data_form = window.training.setup.data_form
    source = data_form.fields["source"].editor
    source.setCurrentIndex(source.findText("npz"))
    source.activated.emit(source.currentIndex())
    data = window.document.training.data
    assert (data["source"], data["path"]) == ("npz", "")
    try:
        locate(data["source"], data["path"], window.document.context.base_dir)
    except DataError as error:
        assert "choose" in str(error) and ".npz" in str(error)
    else:
        raise AssertionError("an empty path was accepted")
    window.document.undo_stack.undo()
    assert window.document.training.data["path"] == "digits"


def test_the_training_bar_stops_saying_training_saves_first_once_the_project_is_saved(
        window, qtbot, tmp_path, monkeypatch):
    """Finding 10: after File ▸ Save As the bar still said "Ready (training saves the project first)"."""
    from PySide6.QtWidgets import QFileDialog

    window.show_training("setup")
    assert window.training.progress_label == "Ready (training saves the project first)"
    target = tmp_path / "first.graft"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args: (str(target), "")))
    assert window.save_as()
    assert target.is_file()
    assert window.training.progress_label == "Ready"


def test_the_project_name_is_set_in_the_editor_undone_and_saved(window, qtbot, tmp_path):
    """Finding 10: the name stayed "Untitled" (exports and reports carry it) with no way to set it."""
    from app.core.document.fileformat import load

    file_menu = window.menuBar().actions()[0].menu()
    action = next(a for a in file_menu.actions() if "Project Info" in a.text().replace("&", ""))
    action.trigger()
    dialog = window.project_info_dialog
    qtbot.waitExposed(dialog)
    assert dialog.name.text() == "Untitled"
    dialog.name.selectAll()
    qtbot.keyClicks(dialog.name, "Digits cascade")
    dialog.description.setPlainText("Two models in a row.")
    dialog.accept()
    assert (window.document.project.name, window.document.project.description) == (
        "Digits cascade", "Two models in a row.")
    assert "Digits cascade" in window.windowTitle()
    window.document.save(tmp_path / "named.graft")
    assert load(tmp_path / "named.graft").name == "Digits cascade"
    window.document.undo_stack.undo()
    assert window.document.project.name == "Untitled" and "Digits cascade" not in window.windowTitle()


def test_an_empty_project_name_is_not_accepted(window, qtbot):
    window.show_project_info()
    dialog = window.project_info_dialog
    dialog.name.clear()
    assert not dialog.ok_button.isEnabled()
    assert "name" in dialog.name.toolTip().lower()


def frozen_wine_project(path):
    """The wine project whose one phase freezes its only trainable node."""
    from app.core.document.fileformat import save
    from tests.gui.test_training import wine_project

    project = wine_project()
    project.training = project.training.replaced(
        phases=[{"name": "frozen", "epochs": 1, "trainable": {"hidden": "frozen"}}])
    save(project, path)
    return path


def test_a_phase_that_trains_no_parameter_is_warned_about(make_window, qtbot, tmp_path):
    """Finding 10: a run with 0 trainable parameters started, and ended, without a word."""
    from app.gui.main_window import MainWindow

    window = make_window()
    assert window.open_path(frozen_wine_project(tmp_path / "frozen.graft"))
    assert isinstance(window, MainWindow)
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=120000):
        assert panel.start()
    assert panel.banner.kind == "warning", panel.banner.text.text()
    assert "'frozen' trains no parameter" in panel.banner.text.text()


def test_graft_train_warns_about_a_phase_that_trains_no_parameter(tmp_path, capsys):
    from app.cli import main

    path = frozen_wine_project(tmp_path / "frozen.graft")
    assert main(["train", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: phase 'frozen' trains no parameter" in out


def test_choosing_a_bundled_set_validates_on_its_held_out_part(window, qtbot):
    """Finding 9, for new projects too: a bundled set chosen in the data form validates on the
    part no bundled model was trained on, not on a split of what they saw."""
    from PySide6.QtCore import Qt

    window.show_training("setup")
    data_form = window.training.setup.data_form
    source = data_form.fields["source"].editor
    for choice in ("npz", "bundled"):
        source.setCurrentIndex(source.findText(choice))
        source.activated.emit(source.currentIndex())
    data = window.document.training.data
    assert (data["source"], data["path"], data["validation_path"]) == ("bundled", "digits", "digits_holdout")
    path = data_form.fields["path"].editor
    path.setFocus()
    path.selectAll()
    qtbot.keyClicks(path, "wine")
    qtbot.keyClick(path, Qt.Key.Key_Return)
    data = window.document.training.data
    assert (data["path"], data["validation_path"]) == ("wine", "wine_holdout")


def test_a_phase_that_would_train_no_parameter_is_a_warning_before_start(make_window, qtbot, tmp_path):
    """Before Start, too: the Problems panel warns of the phase, and unfreezing clears it."""
    window = make_window()
    assert window.open_path(frozen_wine_project(tmp_path / "frozen.graft"))
    window.document.wait_until_analysed()

    def warned():
        return [p for p in window.problems.problems if p.code == "phase_trains_nothing"]

    qtbot.waitUntil(lambda: bool(warned()), timeout=10000)
    assert warned()[0].severity == "warning" and "'frozen' trains no parameter" in warned()[0].message
    training = window.document.training
    window.document.set_training(training.replaced(phases=[{"name": "frozen", "epochs": 1}]), "Unfreeze")
    qtbot.waitUntil(lambda: not warned(), timeout=10000)
