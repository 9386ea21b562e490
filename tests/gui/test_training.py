"""The Training dock: a real run started, paused, resumed and stopped from the dock; runs
driven by synthetic runners for the failure paths; setup edits that undo; plots that redraw
on a timer, not per batch; results after evaluation."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.training.events import (
    DIVERGED,
    FAILED,
    FINISHED,
    STOPPED,
    BatchEnded,
    EpochEnded,
    Evaluated,
    PhaseStarted,
    RunEnded,
    RunStarted,
    StopRequested,
)
from app.gui.document import Document
from app.gui.main_window import MainWindow
from app.gui.training.dock import IDLE, PAUSED, RUNNING, progress_text
from app.gui.training.plots import DRAWING_SHARE, REDRAW_HZ, SLOWEST_REDRAW_MS, TrainingPlots
from app.gui.training.worker import TrainingRun
from tests.conftest import EXAMPLES


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    """Closing a window mid-run stops the run without asking; Start never offers Save As."""
    monkeypatch.setattr(MainWindow, "ask_stop_training", lambda self: True)
    monkeypatch.setattr(MainWindow, "ask_save_for_training", lambda self: False)


def example_copy(name: str, folder, **settings):
    """An example saved into `folder` (model paths rebased), with changed training settings."""
    project = load(EXAMPLES / f"{name}.graft")
    document = project.training.to_dict()
    document["settings"].update(settings)
    project.training = config_from_dict(document)
    save(project, folder / f"{name}.graft")
    return folder / f"{name}.graft"


def open_window(make_window, path) -> MainWindow:
    window = make_window(Document.open(path))
    window.document.wait_until_analysed()
    return window


WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315_of_diluted_wines", "proline"]


def wine_project(path=None) -> Project:
    """Input → Dense → Output on the bundled wine data; no pretrained model, so it needs no file."""
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[13])
    b.add("hidden", "Dense", 1, 0, units=8, activation="relu")
    b.add("cultivar", "Output", 2, 0, loss="sparse_categorical_crossentropy")
    b.chain("features", "hidden", "cultivar")
    project = Project(b.graph, "wine", training=config_from_dict({
        "data": {"source": "bundled", "path": "wine",
                 "mapping": {"features": WINE_COLUMNS, "cultivar": "label"}}}))
    if path is not None:
        save(project, path)
    return project


class FakeRunner:
    """A runner with the core's contract, minus TensorFlow: it steps until `steps` or a stop,
    honouring the RunControl at every step as the real one does."""

    def __init__(self, steps: int = 10**6, delay: float = 0.002, fail: BaseException | None = None,
                 end: RunEnded | None = None):
        self.steps, self.delay, self.fail, self.end = steps, delay, fail, end
        self.calls: list[dict] = []

    def __call__(self, project, *, sink, control, phase=None, epochs=None, out_dir=None, resume=False):
        self.calls.append({"project": project, "phase": phase, "resume": resume})
        if self.fail is not None:
            raise self.fail
        sink(RunStarted("run-001", ["train"], ["cultivar"], 142, 36, "run-001" if resume else None))
        sink(PhaseStarted(0, "train", 3, 10, 1e-3, 100, 0))
        try:
            for step in range(1, self.steps + 1):
                control.checkpoint()
                sink(BatchEnded(0, (step - 1) // 10 % 3, (step - 1) % 10 + 1, 10, step, 1.0 / step,
                                {}, 1e-3, 1000.0, 5.0))
                time.sleep(self.delay)
        except StopRequested:
            ended = RunEnded(STOPPED, "training stopped", weights="wine.runs/run-001/last.weights.h5")
            sink(ended)
            return ended
        weights = "wine.runs/run-001/best.weights.h5"
        ended = self.end or RunEnded(FINISHED, "training finished", weights=weights)
        sink(ended)
        return ended


def _wine_window(make_window, tmp_path, runner) -> MainWindow:
    wine_project(tmp_path / "wine.graft")
    window = open_window(make_window, tmp_path / "wine.graft")
    window.training.train_function = runner
    return window


def _ended(qtbot, panel, timeout=10000) -> RunEnded:
    with qtbot.waitSignal(panel.runEnded, timeout=timeout) as blocker:
        pass
    return blocker.args[0]


# -- a real run ------------------------------------------------------------------------------


def _received(panel) -> int:
    """Batches that reached the plots (they draw them later, on their timer)."""
    return panel.plots.current.raw_loss.n


def test_a_real_run_plots_batches_pauses_resumes_and_stops_from_the_keyboard(make_window, qtbot, tmp_path):
    path = example_copy("transfer", tmp_path, batch_size=16)
    window = open_window(make_window, path)
    panel = window.training
    assert panel.refusal() is None
    qtbot.keyClick(window, Qt.Key.Key_F5)  # Start
    assert panel.busy and window.training_dock.isVisible()
    assert not panel.start_action.isEnabled() and panel.stop_action.isEnabled()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 0, timeout=60000)  # TensorFlow, compile, data
    first = _received(panel)
    qtbot.waitUntil(lambda: _received(panel) > first + 5, timeout=10000)
    qtbot.waitUntil(lambda: panel.progress_label.startswith("Phase 1/2 'head' · epoch ")
                    and "samples/s" in panel.progress_label, timeout=2000)  # the bar shows twice a second
    assert "left" in panel.progress_label
    assert panel.state == RUNNING

    qtbot.keyClick(window, Qt.Key.Key_F6)  # Pause
    assert panel.state == PAUSED and panel.run.control.paused
    assert panel.pause_action.text() == "&Resume Training"
    qtbot.wait(400)  # at most one step was under way
    paused_at = _received(panel)
    qtbot.wait(500)
    assert _received(panel) == paused_at
    qtbot.keyClick(window, Qt.Key.Key_F6)  # Resume
    assert panel.state == RUNNING
    qtbot.waitUntil(lambda: _received(panel) > paused_at, timeout=5000)

    stopped_at = time.monotonic()
    with qtbot.waitSignal(panel.runEnded, timeout=3000) as ended:
        qtbot.keyClick(window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)  # Stop
    assert time.monotonic() - stopped_at < 3
    result = ended.args[0]
    assert result.status == STOPPED, result.message + result.details
    assert panel.state == IDLE and not panel.busy
    assert panel.start_action.isEnabled() and not panel.stop_action.isEnabled()
    assert not panel.pause_action.isEnabled() and panel.resume_last_action.isEnabled()
    assert "stopped" in panel.banner.text.text().lower() and panel.banner.isVisible()
    # The weights are the project's now: one undoable, unsaved change.
    assert window.document.training.weights == result.weights == "transfer.runs/run-001/last.weights.h5"
    assert (tmp_path / result.weights).is_file()
    assert window.document.modified and window.isWindowModified()
    assert window.document.undo_stack.undoText() == "Store trained weights"
    window.save()
    assert load(path).training.weights == result.weights


# -- synthetic runs ----------------------------------------------------------------------------


def test_pause_blocks_the_runner_and_resume_lets_it_go_on(make_window, qtbot, tmp_path):
    runner = FakeRunner()
    window = _wine_window(make_window, tmp_path, runner)
    panel = window.training
    assert panel.start()
    qtbot.waitUntil(lambda: _received(panel) > 20, timeout=5000)
    panel.pause_action.trigger()
    assert panel.state == PAUSED and panel.run.control.paused
    qtbot.wait(300)  # the batches sent before the pause arrive with the next poll
    paused_at = _received(panel)
    qtbot.wait(300)
    assert _received(panel) == paused_at
    assert panel.progress_label.startswith("Paused · Phase 1/1 'train'")
    panel.pause_action.trigger()
    assert panel.state == RUNNING and not panel.run.control.paused
    qtbot.waitUntil(lambda: panel.plots.batch_count > paused_at + 10, timeout=5000)
    panel.pause_action.trigger()  # a paused run still stops
    with qtbot.waitSignal(panel.runEnded, timeout=3000) as ended:
        panel.stop_action.trigger()
    assert ended.args[0].status == STOPPED and panel.state == IDLE


def test_the_runner_gets_a_snapshot_and_the_weights_come_back_as_an_undoable_change(make_window, qtbot,
                                                                                     tmp_path):
    runner = FakeRunner(steps=30, delay=0)
    window = _wine_window(make_window, tmp_path, runner)
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=5000) as ended:
        assert panel.start()
    assert ended.args[0].status == FINISHED
    given = runner.calls[0]["project"]
    assert given is not window.document.project and given.graph is not window.document.graph
    assert given.path == window.document.path
    assert window.document.training.weights == "wine.runs/run-001/best.weights.h5"
    assert "finished" in panel.banner.text.text().lower()
    assert panel.progress.value() == panel.progress.maximum()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.training.weights is None
    assert not window.document.modified


def test_the_bar_shows_how_the_run_ended_not_the_batch_delivered_with_the_end(make_window, qtbot, tmp_path):
    def trains(project, *, sink, control, **_):
        sink(RunStarted("run-001", ["train"], ["cultivar"], 142, 36, None))
        sink(PhaseStarted(0, "train", 1, 10, 1e-3, 100, 0))
        sink(_batch(1))
        time.sleep(0.5)  # longer than the bar waits between updates
        sink(_batch(2))  # taken in one list with the end
        return RunEnded(FINISHED, "training finished")

    panel = _wine_window(make_window, tmp_path, trains).training
    with qtbot.waitSignal(panel.runEnded, timeout=5000):
        assert panel.start()
    assert panel.progress_label.startswith("Finished in ")


def test_resume_last_run_calls_the_runner_with_resume(make_window, qtbot, tmp_path):
    runner = FakeRunner()
    window = _wine_window(make_window, tmp_path, runner)
    panel = window.training
    assert not panel.resume_last_action.isEnabled()
    panel.start()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 5, timeout=5000)
    with qtbot.waitSignal(panel.runEnded, timeout=3000):
        panel.stop()
    assert panel.resume_last_action.isEnabled()
    panel.resume_last_action.trigger()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 5, timeout=5000)
    assert runner.calls[-1]["resume"] is True
    assert panel.plots.earlier_runs == ["run-001"]  # the stopped run, by its folder
    with qtbot.waitSignal(panel.runEnded, timeout=3000):
        panel.stop()


def test_start_is_refused_with_the_reason_when_the_graph_has_errors(make_window, qtbot, tmp_path):
    runner = FakeRunner()
    window = open_window(make_window, example_copy("broken", tmp_path))
    panel = window.training
    panel.train_function = runner
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert not panel.busy and panel.run is None and runner.calls == []
    assert panel.banner.isVisible()
    assert "the graph has 3 errors" in panel.banner.text.text()
    assert "Fix them first" in window.statusBar().currentMessage()
    assert "the graph has 3 errors" in panel.start_action.toolTip()


def test_start_is_refused_when_the_mapping_leaves_an_input_without_data(make_window, qtbot, tmp_path):
    project = wine_project()
    project.training = config_from_dict({"data": {"source": "bundled", "path": "wine", "mapping": {}}})
    save(project, tmp_path / "wine.graft")
    window = open_window(make_window, tmp_path / "wine.graft")
    panel = window.training
    assert panel.setup.problems_box.isVisibleTo(panel.setup)
    assert "Input 'features' has no data" in panel.setup.problems_label.text()
    assert not panel.start()
    assert "the setup does not fit the graph" in panel.banner.text.text()


def test_an_unsaved_project_is_saved_first_or_not_trained(make_window, qtbot):
    window = make_window(Document(wine_project()))
    window.document.wait_until_analysed()
    panel = window.training
    panel.train_function = FakeRunner()
    assert not panel.start()  # ask_save_for_training answers Cancel here
    assert "Training needs a saved project" in panel.banner.text.text()


def test_a_runner_exception_becomes_a_failed_run_with_its_traceback(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner(fail=RuntimeError("the GPU caught fire")))
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=5000) as ended:
        panel.start()
    result = ended.args[0]
    assert result.status == FAILED and "RuntimeError: the GPU caught fire" in result.message
    assert result.details.startswith("Traceback") and "raise self.fail" in result.details
    assert panel.state == IDLE and panel.start_action.isEnabled()
    assert "the GPU caught fire" in panel.banner.text.text()
    assert panel.banner.action_button.text() == "Details…"
    dialog = panel.failure_dialog
    assert dialog.isVisible() and not dialog.isModal()
    assert "the GPU caught fire" in dialog.text() and dialog.detailedText() == result.details
    assert "Training failed" in window.statusBar().currentMessage()
    dialog.close()
    panel.banner.action_button.click()  # Details… opens it again
    assert panel.failure_dialog.isVisible()
    panel.failure_dialog.close()
    assert window.document.training.weights is None and not window.document.modified


def test_a_diverged_run_says_so_in_the_dock_and_the_status_bar(make_window, qtbot, tmp_path):
    message = "the loss became NaN in phase 'train', epoch 1, step 7; lower the learning rate"
    runner = FakeRunner(steps=7, delay=0, end=RunEnded(DIVERGED, message))
    window = _wine_window(make_window, tmp_path, runner)
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=5000):
        panel.start()
    assert panel.banner.isVisible() and panel.banner.kind == "error"
    assert "Training diverged: The loss became NaN" in panel.banner.text.text()
    assert "diverged" in window.statusBar().currentMessage()
    assert panel.failure_dialog is None  # no dialog for a diverged run: the banner says it


def test_batches_and_epochs_reach_the_ui_thread_as_lists_and_other_events_in_order(qtbot):
    """200 batches and 20 epochs sent at once wake the UI thread a few times, not 220: it
    takes them on its poll, in order; a phase start wakes it, and the run's end comes last."""
    sent, release = threading.Event(), threading.Event()

    def trains(project, *, sink, control, **_):
        for step in range(1, 201):
            sink(_batch(step))
            if step % 10 == 0:
                sink(EpochEnded(0, step // 10 - 1, step // 10, {"loss": 1.0}, True))
        sent.set()
        release.wait(10)
        sink(PhaseStarted(1, "tune", 3, 10, 1e-5, 10, 0))
        return RunEnded(FINISHED, "done")

    run = TrainingRun(None, train=trains)
    deliveries = []
    run.events.connect(deliveries.append)
    run.start()
    qtbot.waitUntil(lambda: sum(map(len, deliveries)) == 220, timeout=5000)
    assert sent.is_set() and len(deliveries) < 10  # not one per event
    run._poll.stop()  # from here on, only a wake-up delivers anything
    with qtbot.waitSignal(run.ended, timeout=5000):
        release.set()
    assert run.wait(5000)
    events = [event for delivered in deliveries for event in delivered]
    expected = []
    for step in range(1, 201):
        expected.append((BatchEnded, step))
        if step % 10 == 0:
            expected.append((EpochEnded, step // 10))
    assert [(type(e), e.global_step if isinstance(e, BatchEnded) else e.global_epoch)
            for e in events[:220]] == expected
    assert [type(event) for event in events[220:]] == [PhaseStarted, RunEnded]


def test_the_worker_delivers_exactly_one_run_ended(qtbot):
    def sends_and_returns(project, *, sink, control, **_):
        sink(RunEnded(FINISHED, "first"))
        sink(RunEnded(FAILED, "second"))
        return RunEnded(FINISHED, "returned")

    def returns_only(project, *, sink, control, **_):
        return RunEnded(STOPPED, "only returned")

    def returns_nothing(project, *, sink, control, **_):
        return None

    for train, expected in ((sends_and_returns, "first"), (returns_only, "only returned"),
                            (returns_nothing, "Training ended without reporting how it ended.")):
        run = TrainingRun(None, train=train)
        seen = []
        run.events.connect(seen.extend)
        with qtbot.waitSignal(run.ended, timeout=3000):
            run.start()
        assert run.wait(3000)
        assert [e.message for e in seen] == [expected] and not run.running


def test_closing_the_window_during_a_run_stops_it_and_waits_for_the_thread(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner())
    panel = window.training
    panel.start()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 5, timeout=5000)
    thread = panel.run._thread
    assert window.close()
    assert thread.isFinished() and not panel.busy
    assert panel.last_result.status == STOPPED


def test_the_window_stays_responsive_during_a_run(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner(delay=0.0005))  # 2,000 batches a second
    panel = window.training
    panel.start()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 100, timeout=5000)
    latencies = []
    for _ in range(10):
        started = time.monotonic()
        qtbot.wait(20)  # a timer on the UI thread still fires on time
        latencies.append(time.monotonic() - started)
    assert max(latencies) < 0.5
    with qtbot.waitSignal(panel.runEnded, timeout=5000):
        panel.stop()


# -- setup ---------------------------------------------------------------------------------------


def test_setup_edits_are_checked_and_undo_with_ctrl_z(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner())
    setup = window.training.setup
    window.show_training("setup")
    field = setup.settings_form.fields["batch_size"]
    field.editor.setFocus()
    field.editor.selectAll()
    qtbot.keyClicks(field.editor, "abc")
    qtbot.keyClick(field.editor, Qt.Key.Key_Return)
    assert field.has_error and field.error_label.text() == 'expected an integer >= 1 and <= 65536, got "abc"'
    assert window.document.training.settings["batch_size"] == 32 and not window.document.modified

    field.editor.selectAll()
    qtbot.keyClicks(field.editor, "16")
    qtbot.keyClick(field.editor, Qt.Key.Key_Return)
    assert not field.has_error
    assert window.document.training.settings["batch_size"] == 16
    assert window.document.modified and window.isWindowModified()
    assert window.undo_action.text() == "&Undo Set batch size"

    optimizer = setup.settings_form.fields["optimizer"].editor
    optimizer.setCurrentIndex(optimizer.findText("sgd"))
    optimizer.activated.emit(optimizer.currentIndex())
    assert window.document.training.settings["optimizer"] == "sgd"

    window.view.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.training.settings["optimizer"] == "adam"
    assert optimizer.currentText() == "adam"
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.training.settings["batch_size"] == 32 and field.editor.text() == "32"
    assert not window.document.modified
    redo = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(window, Qt.Key.Key_Z, redo)
    assert window.document.training.settings["batch_size"] == 16


def test_renaming_a_node_in_the_inspector_renames_it_in_the_setup_as_one_undo_step(make_window, qtbot,
                                                                                    tmp_path):
    window = open_window(make_window, example_copy("transfer", tmp_path))
    backbone = next(n for n in window.document.graph.nodes if n.name == "backbone")
    window.inspector.renameRequested.emit(backbone.id, "digits_base")
    training = window.document.training
    assert training.phases[1].trainable == {"digits_base": 3} and not window.training.refusal()
    assert window.undo_action.text() == "&Undo Rename to digits_base"
    control, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, Qt.Key.Key_Z, control)
    assert backbone.name == "backbone" and window.document.training.phases[1].trainable == {"backbone": 3}
    qtbot.keyClick(window, Qt.Key.Key_Z, control | shift)
    assert backbone.name == "digits_base"
    assert window.document.training.phases[1].lr_multipliers == {"digits_base": 0.5}


def test_mapping_combos_list_the_fields_and_suggest_fills_them(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner())
    setup = window.training.setup
    document = window.document
    combo = setup.mapping.combos["cultivar"]
    assert combo.findData("label") > 0 and combo.currentData() == "label"
    assert setup.mapping.combos["features"].currentData() == WINE_COLUMNS
    combo.setCurrentIndex(0)  # (not mapped)
    combo.activated.emit(0)
    assert "cultivar" not in document.training.data["mapping"]
    assert document.undo_stack.undoText() == "Map cultivar"
    document.undo_stack.undo()
    assert document.training.data["mapping"]["cultivar"] == "label"

    project = wine_project()
    project.training = config_from_dict({"data": {"source": "bundled", "path": "digits", "mapping": {}}})
    project.graph.node(project.graph.node_by_name("features").id).params["shape"] = [8, 8, 1]
    save(project, tmp_path / "digits.graft")
    window.open_path(tmp_path / "digits.graft")
    window.document.wait_until_analysed()
    setup.mapping.suggest_button.click()
    mapping = window.document.training.data["mapping"]
    assert mapping.get("features") == "images"
    assert window.document.undo_stack.undoText() == "Suggest data mapping"
    assert setup.mapping.combos["features"].currentData() == "images"


def test_phases_are_added_edited_reordered_and_removed_as_undoable_steps(make_window, qtbot, tmp_path):
    path = example_copy("transfer", tmp_path)
    window = open_window(make_window, path)
    phases = window.training.setup.phases
    document = window.document
    assert [p.name for p in document.training.phases] == ["head", "fine_tune"]
    assert phases.table.rowCount() == 2 and phases.table.item(1, 3).text() == "backbone: last 3"

    phases.table.selectRow(1)
    phases.add_button.click()
    assert [p.name for p in document.training.phases] == ["head", "fine_tune", "phase_3"]
    assert phases.selected() == 2
    epochs = phases.form.fields["epochs"]
    epochs.editor.setText("0")
    epochs.editor.setModified(True)
    epochs.committed.emit()
    assert epochs.has_error and "expected an integer >= 1" in epochs.error_label.text()
    epochs.editor.setText("3")
    epochs.editor.setModified(True)
    epochs.committed.emit()
    assert document.training.phases[2].epochs == 3

    name = phases.form.fields["name"]
    name.editor.setText("head")  # taken
    name.editor.setModified(True)
    name.committed.emit()
    assert name.has_error and 'a second phase named "head"' in name.error_label.text()
    name.reverted.emit()
    assert not name.has_error and name.editor.text() == "phase_3"

    trainable = phases.trainable["backbone"]
    trainable.combo.setCurrentText("frozen")
    trainable.combo.activated.emit(trainable.combo.currentIndex())
    assert document.training.phases[2].trainable == {"backbone": "frozen"}

    phases.up_button.click()
    assert [p.name for p in document.training.phases] == ["head", "phase_3", "fine_tune"]
    phases.remove_button.click()
    assert [p.name for p in document.training.phases] == ["head", "fine_tune"]
    for _ in range(5):
        document.undo_stack.undo()
    assert [p.name for p in document.training.phases] == ["head", "fine_tune"]
    assert not document.modified
    assert window.training.phase_box.count() == 3  # all phases, head only, fine_tune only


# -- plots and results ---------------------------------------------------------------------------


def _batch(step: int, loss: float = 1.0) -> BatchEnded:
    return BatchEnded(0, 0, step, 1000, step, loss, {}, 1e-3, 100.0, 1.0)


def test_plots_redraw_on_a_timer_of_at_most_30_hz_not_once_per_batch(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    assert REDRAW_HZ <= 30 and plots.redraw_timer.interval() >= 1000 / 30
    plots.begin_run()
    plots.add_batches([_batch(1)])
    calls = []
    curve = plots.current.batch_raw.item
    original = curve.setData
    curve.setData = lambda *args, **kwargs: (calls.append(1), original(*args, **kwargs))
    for step in range(2, 1001):
        plots.add_batches([_batch(step, 1.0 / step)])
    assert calls == []  # events only append
    qtbot.waitUntil(lambda: plots.batch_count == 1000, timeout=2000)
    assert len(calls) == 1
    qtbot.waitUntil(lambda: not plots.redraw_timer.isActive(), timeout=3000)  # nothing new: it stops
    assert len(calls) == 1
    assert 1000 / 30 <= plots.redraw_timer.interval() <= SLOWEST_REDRAW_MS  # slower when drawing is slow
    for plot in plots.plots:
        assert plot.clipToViewMode() and plot.ctrl.autoDownsampleCheck.isChecked()
    smoothed = plots.current.batch_smooth.item
    assert len(smoothed.xData) == 1000 and smoothed.yData[-1] < smoothed.yData[0]


def test_every_paint_since_the_last_redraw_counts_against_the_drawing_budget(qtbot):
    """A redraw is followed by several paints (data, then axes and ranges): 30 ms of them
    spaces the redraws out to keep drawing within DRAWING_SHARE of the UI thread's time."""
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.begin_run()
    plots.add_batches([_batch(1)])
    plots.view.paint_seconds = 0.010 + 0.012 + 0.008  # three paints since the last redraw
    plots.redraw()
    assert plots.redraw_timer.interval() >= round(0.030 / DRAWING_SHARE * 1000)
    assert plots.view.paint_seconds == 0.0  # the next redraw counts only its own paints


def test_epoch_curves_one_per_output_train_solid_validation_dashed(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    logs = {"loss": 1.0, "val_loss": 1.2, "digit_loss": 0.6, "val_digit_loss": 0.7, "is_even_loss": 0.4,
            "val_is_even_loss": 0.5, "digit_accuracy": 0.8, "val_digit_accuracy": 0.75,
            "is_even_accuracy": 0.9, "val_is_even_accuracy": 0.85, "learning_rate": 0.001}
    plots.add_epoch(EpochEnded(0, 0, 1, logs, True))
    plots.add_epoch(EpochEnded(0, 1, 2, {k: v / 2 for k, v in logs.items()}, True))
    plots.redraw()
    curves = plots.current.epoch
    assert "learning_rate" not in curves
    loss_keys = {k for k, c in curves.items() if c.plot is plots.epoch_plot}
    assert loss_keys == {"loss", "val_loss", "digit_loss", "val_digit_loss",
                         "is_even_loss", "val_is_even_loss"}
    assert {k for k, c in curves.items() if c.plot is plots.metrics_plot} == \
        {"digit_accuracy", "val_digit_accuracy", "is_even_accuracy", "val_is_even_accuracy"}
    assert curves["val_digit_loss"].item.opts["pen"].style() == Qt.PenStyle.DashLine
    assert curves["digit_loss"].item.opts["pen"].style() == Qt.PenStyle.SolidLine
    assert curves["digit_loss"].item.opts["pen"].color() == curves["val_digit_loss"].item.opts["pen"].color()
    assert len(curves["val_is_even_accuracy"].item.xData) == 2
    star = plots._best_item  # the best epoch so far, by the monitored validation loss
    assert (list(star.data["x"]), list(star.data["y"])) == ([2.0], [0.6])
    assert "best val_loss: 0.6 at epoch 2" in star.toolTip()


def test_earlier_runs_stay_dimmed_with_a_legend_entry_until_cleared(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    for run in range(3):
        plots.begin_run()
        for step in range(1, 50):
            plots.add_batches([_batch(step, 1.0 / step + run)])
        plots.add_epoch(EpochEnded(0, 0, 1, {"loss": 1.0, "val_loss": 1.1}, True))
    plots.redraw()
    assert plots.earlier_runs == ["run 1", "run 2"]
    names = [label.text for _, label in plots.batch_plot.legend.items]
    assert names.count("run 1") == 1 and "run 2" in names and "smoothed" in names
    assert plots.clear_button.isEnabled()
    plots.clear_button.click()
    assert plots.earlier_runs == []
    names = [label.text for _, label in plots.batch_plot.legend.items]
    assert "run 1" not in names and "smoothed" in names
    assert plots.batch_count == 49


def test_the_confusion_matrix_and_predictions_show_after_evaluated(make_window, qtbot, tmp_path):
    window = _wine_window(make_window, tmp_path, FakeRunner())
    panel = window.training
    matrix = [[12, 1, 0], [0, 13, 2], [1, 0, 7]]
    preview = [{"output": "cultivar", "true": "class_1", "predicted": "class_1", "confidence": 0.93},
               {"output": "cultivar", "true": "class_2", "predicted": "class_3", "confidence": 0.51}]
    evaluated = Evaluated({"cultivar accuracy": 0.8611, "loss": 0.41}, {"cultivar": matrix},
                          {"cultivar": ["class_1", "class_2", "class_3"]}, preview)
    panel.start()
    qtbot.waitUntil(lambda: panel.plots.batch_count > 0, timeout=5000)
    panel.run.events.emit([evaluated])  # as the run delivers it, on the UI thread
    results = panel.results
    assert results.content.currentWidget() is results.splitter
    view = results.matrices["cultivar"]
    assert view.rowCount() == view.columnCount() == 3
    assert [view.horizontalHeaderItem(i).text() for i in range(3)] == ["class_1", "class_2", "class_3"]
    assert view.count(1, 2) == 2 and view.count(2, 2) == 7
    assert "true class_2, predicted class_3: 2 samples" in view.item(1, 2).toolTip()
    assert results.metrics_table.item(0, 0).text() == "cultivar accuracy"
    assert results.metrics_table.item(0, 1).text() == "86.1 %"
    assert results.preview_table.rowCount() == 2
    assert results.preview_table.item(1, 3).text() == "51.0%"
    with qtbot.waitSignal(panel.runEnded, timeout=3000):
        panel.stop()
    assert panel.banner.isVisible()


def test_progress_text_reads_like_a_sentence():
    phase = PhaseStarted(0, "head", 10, 45, 0.01, 330, 5856)
    batch = BatchEnded(0, 2, 20, 45, 110, 0.5, {}, 0.01, 1240.4, 42.2)
    assert progress_text(2, phase, batch) == \
        "Phase 1/2 'head' · epoch 3/10 · step 20/45 · 1,240 samples/s · 0:42 left"


def test_the_train_menu_holds_the_run_actions_with_their_shortcuts(window):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Train")
    texts = {a.text(): a.shortcut().toString() for a in menu.actions() if a.text()}
    assert texts["&Start Training"] == "F5"
    assert texts["&Pause Training"] == "F6"
    assert texts["S&top Training"] == "Shift+F5"
    assert "&Resume Last Run" in texts
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert "Training" in [a.text() for a in view_menu.actions()]
    QApplication.processEvents()


def test_the_banner_names_weights_outside_the_project_folder_as_they_are(make_window, qtbot, tmp_path):
    """A path with `..` (weights written outside the project's folder) reads as it is, with one
    full stop after the run's message."""
    weights = "../elsewhere/run-001/best.weights.h5"
    runner = FakeRunner(steps=3, delay=0, end=RunEnded(FINISHED, "training finished.", weights=weights))
    window = _wine_window(make_window, tmp_path, runner)
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=5000):
        assert panel.start()
    assert panel.banner.text.text() == (f"Training finished. The weights are in {weights}; save the "
                                        "project to keep them.")


def test_the_data_path_dialog_offers_data_files_and_stores_the_choice(make_window, qtbot, tmp_path,
                                                                      monkeypatch):
    """The data form's "…" asks for data files, not Keras models (the inspector's model path
    shares the parameter's name), and a file beside the project is stored relative to it."""
    from PySide6.QtWidgets import QFileDialog, QPushButton

    window = _wine_window(make_window, tmp_path, FakeRunner())
    window.show_training("setup")
    data_form = window.training.setup.data_form
    source = data_form.fields["source"].editor
    source.setCurrentIndex(source.findText("csv"))
    source.activated.emit(source.currentIndex())
    offered = []

    def choose(parent, title, folder, name_filter):
        offered.append(name_filter)
        return str(tmp_path / "wine.csv"), name_filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(choose))
    path_field = data_form.fields["path"]
    browse = next(b for b in path_field.findChildren(QPushButton) if b.text() == "…")
    qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
    assert offered == ["Data files (*.npz *.csv);;All files (*)"]
    assert window.document.training.data["path"] == "wine.csv"


def test_a_run_that_finished_with_a_warning_beside_it_shows_a_warning_banner(make_window, qtbot, tmp_path):
    warning = "MLflow: not logged to http://127.0.0.1:9 (cannot connect: refused); check the server"
    end = RunEnded(FINISHED, "training finished", weights="wine.runs/run-001/best.weights.h5",
                   warning=warning)
    window = _wine_window(make_window, tmp_path, FakeRunner(steps=3, end=end))
    panel = window.training
    with qtbot.waitSignal(panel.runEnded, timeout=5000):
        panel.start()
    assert panel.banner.kind == "warning"
    assert "Training finished." in panel.banner.text.text() and warning + "." in panel.banner.text.text()
