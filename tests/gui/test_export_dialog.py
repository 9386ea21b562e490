"""File ▸ Export… as a user meets it: Ctrl+E opens it on the current project, the export runs
on its own thread while the stages show, the file it reports really loads in plain Keras, a
graph with errors is refused with the reason and nothing is written, and the dialog cannot
be closed under a running export."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PySide6.QtCore import Qt

from app.core.document.fileformat import load, save
from app.core.export.common import CHECKING, KERAS, PYTHON, SAVEDMODEL, sample_batch
from app.gui.document import Document
from app.gui.export_dialog import ExportDialog, ExportFailed
from tests.conftest import EXAMPLES


def opened(make_window, tmp_path, name: str):
    project = load(EXAMPLES / f"{name}.graft")
    save(project, tmp_path / f"{name}.graft")
    window = make_window(Document.open(tmp_path / f"{name}.graft"))
    window.document.wait_until_analysed()
    return window


def choose(dialog: ExportDialog, key: str) -> None:
    dialog.format.setCurrentIndex(dialog.format.findData(key))


def finish(qtbot, dialog: ExportDialog):
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=120_000)
    return dialog.result


def test_ctrl_e_exports_a_keras_file_that_plain_keras_loads(make_window, qtbot, tmp_path):
    window = opened(make_window, tmp_path, "cascade")
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = window.export_dialog
    assert dialog is not None and dialog.isVisible()
    choose(dialog, KERAS)
    assert Path(dialog.path.text()) == tmp_path / "cascade.keras"  # beside the project, named after it
    assert "no trained weights" in dialog.weights_note.text()

    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.close_button.isEnabled() and dialog.progress.isVisible()
    result = finish(qtbot, dialog)

    assert result.ok, result.message
    assert "predictions match" in dialog.outcome.text()
    assert dialog.stages[0] == "Building the model" and dialog.stages[-1] == CHECKING
    assert not dialog.progress.isVisible() and dialog.close_button.isEnabled()
    assert "predictions match" in window.statusBar().currentMessage()
    model = keras.saving.load_model(tmp_path / "cascade.keras", safe_mode=True)
    outputs = [n.name for n in window.document.project.graph.nodes if n.type == "Output"]
    assert sorted(model.output_names) == sorted(outputs)
    assert all(len(p) == len(sample_batch(model)[0]) for p in model.predict(sample_batch(model), verbose=0))


def test_changing_the_format_keeps_the_place_and_changes_the_ending(make_window, tmp_path):
    window = opened(make_window, tmp_path, "parallel")
    dialog = window.show_export()
    assert dialog.format_key == SAVEDMODEL  # the first time: the format TensorFlow serves
    choose(dialog, KERAS)
    dialog.path.setText(str(tmp_path / "out" / "mine.keras"))
    choose(dialog, SAVEDMODEL)
    assert Path(dialog.path.text()) == tmp_path / "out" / "mine_savedmodel"
    choose(dialog, PYTHON)
    assert Path(dialog.path.text()) == tmp_path / "out" / "mine.py"
    dialog.path.clear()
    assert not dialog.export_button.isEnabled()


def test_a_missing_folder_is_refused_and_the_format_is_remembered(make_window, qtbot, tmp_path):
    window = opened(make_window, tmp_path, "parallel")
    dialog = window.show_export()
    choose(dialog, KERAS)
    dialog.path.setText(str(tmp_path / "missing-folder" / "x.keras"))
    dialog.start()
    assert "missing-folder does not exist; create it or choose another place" in finish(qtbot, dialog).message
    dialog.close()
    again = window.show_export()
    assert again is not dialog and again.format_key == KERAS


def test_a_graph_with_errors_is_refused_with_the_reason_and_nothing_is_written(make_window, qtbot, tmp_path):
    window = opened(make_window, tmp_path, "broken")
    dialog = window.show_export()
    choose(dialog, KERAS)
    dialog.start()
    result = finish(qtbot, dialog)
    assert isinstance(result, ExportFailed) and not result.details  # a refusal, not a crash
    assert "error(s), fix them before exporting" in dialog.outcome.text()
    assert dialog.outcome.property("role") == "error"
    assert not (tmp_path / "broken.keras").exists()


def test_the_dialog_stays_open_until_the_export_ends(make_window, qtbot, tmp_path):
    window = opened(make_window, tmp_path, "cascade")
    dialog = window.show_export()
    choose(dialog, SAVEDMODEL)
    dialog.start()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    window.close()
    assert dialog.isVisible() and window.isVisible()  # neither goes while the export runs
    result = finish(qtbot, dialog)
    assert result.ok, result.message
    assert (tmp_path / "cascade_savedmodel" / "saved_model.pb").is_file()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_the_export_carries_the_trained_weights(make_window, qtbot, tmp_path):
    """A project with trained weights exports them, not fresh ones: the dialog says so, and the
    exported file predicts what the trained model predicts."""
    from app.core.training.runner import load_trained_model

    window = opened(make_window, tmp_path, "transfer")
    project = window.document.project
    model = load_trained_model(project).model
    weights = [np.full_like(w, 0.01 * i) for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    model.save_weights(tmp_path / "trained.weights.h5")
    project.training.weights = "trained.weights.h5"
    dialog = window.show_export()
    assert "trained.weights.h5" in dialog.weights_note.text()
    choose(dialog, KERAS)
    dialog.start()
    assert finish(qtbot, dialog).ok
    exported = keras.saving.load_model(tmp_path / "transfer.keras", safe_mode=True)
    for got, expected in zip(exported.get_weights(), weights):
        np.testing.assert_array_equal(got, expected)
