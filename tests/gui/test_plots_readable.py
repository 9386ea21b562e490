"""Issue 17, findings 7 and 8: the training plots are read at the dock's size (legends above
the data naming every curve, whole epochs, a phase's new learning rate drawn as a step, no
empty legend, runs named as their folders are), and at 1024×700 the Training dock leaves the
canvas room and every setup field in reach."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from app.core.document.fileformat import save
from app.core.document.training_setup import config_from_dict
from app.core.training.events import (
    FINISHED,
    BatchEnded,
    EpochEnded,
    PhaseStarted,
    RunEnded,
    RunStarted,
)
from app.gui.main_window import MainWindow
from app.gui.training.plots import TrainingPlots
from tests.gui.test_training import open_window, wine_project

TWO_OUTPUT_LOGS = ("loss", "val_loss", "digit_loss", "val_digit_loss", "is_even_loss", "val_is_even_loss",
                   "digit_accuracy", "val_digit_accuracy", "is_even_accuracy", "val_is_even_accuracy")


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    monkeypatch.setattr(MainWindow, "ask_stop_training", lambda self: True)
    monkeypatch.setattr(MainWindow, "ask_save_for_training", lambda self: False)


def two_phase_wine(path, head_rate=0.01, tune_rate=0.0001):
    """The wine project trained in two phases of two epochs, five batches each."""
    project = wine_project()
    training = project.training.to_dict()
    training["settings"].update(batch_size=32, steps_per_execution=2)  # points 2 steps apart
    training["phases"] = [{"name": "head", "epochs": 2, "learning_rate": head_rate},
                          {"name": "tune", "epochs": 2, "learning_rate": tune_rate}]
    project.training = config_from_dict(training)
    save(project, path)
    return path


def a_run_on_disk(folder, epochs: int = 3) -> None:
    """A finished run's folder as the core leaves it: state.json and history.json."""
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"status": "finished", "phase": 1, "epoch": 0}))
    history = [{"phase": "train", "epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e,
                "accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e} for e in range(1, epochs + 1)]
    (folder / "history.json").write_text(json.dumps(history))


def two_phase_events(run_dir: str = "run-001", steps: int = 5, epochs=(2, 2), rates=(1e-2, 1e-4)) -> list:
    """What the worker delivers for a two-phase run of a model with two Outputs."""
    events = [RunStarted(run_dir, ["head", "tune"], ["digit", "is_even"], 142, 36)]
    step = epoch = 0
    for phase, (count, rate) in enumerate(zip(epochs, rates, strict=True)):
        events.append(PhaseStarted(phase, ["head", "tune"][phase], count, steps, rate, 100, 0))
        for e in range(count):
            for s in range(1, steps + 1):
                step += 1
                events.append(BatchEnded(phase, e, s, steps, step, 2.0 / step, {}, rate, 500.0, 1.0))
            epoch += 1
            logs = {key: (1.0 if "loss" in key else 0.5) / epoch for key in TWO_OUTPUT_LOGS}
            events.append(EpochEnded(phase, e, epoch, logs, True))
    return [*events, RunEnded(FINISHED, "training finished")]


def settle(qtbot) -> None:
    """Let the layouts and a redraw run (the plots redraw on their timer)."""
    for _ in range(3):
        QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()


def _visible_scene_rect(view):
    return view.mapToScene(view.viewport().rect()).boundingRect()


def assert_legends_name_every_curve_above_the_data(plots: TrainingPlots) -> None:
    """Each curve of the current run has its own entry, an earlier run one entry by its name;
    every entry is in view, above the data, and clear of the others."""
    seen = _visible_scene_rect(plots.view)
    for plot in plots.plots:
        entries = {id(sample.item): (sample, label) for sample, label in plot.legend.items}
        current = [curve.item for curve in plots.current.curves() if curve.plot is plot]
        assert all(id(item) in entries for item in current), f"{plot.header.title.text}: unnamed curves"
        others = [label.text for sample, label in plot.legend.items if sample.item not in current]
        assert set(others) <= set(plots.earlier_runs)
        data = plot.vb.sceneBoundingRect()
        rects = []
        for sample, label in plot.legend.items:
            name = label.text
            assert label.isVisible() and sample.isVisible(), f"{name} is not in view"
            rect = sample.sceneBoundingRect().united(label.mapRectToScene(label.item.boundingRect()))
            assert not rect.intersects(data), f"the legend entry {name!r} covers the data"
            assert seen.contains(rect), f"the legend entry {name!r} is cut off"
            assert not any(rect.intersects(other) for other in rects), f"{name!r} overlaps another entry"
            rects.append(rect)


def assert_whole_epoch_ticks(plots: TrainingPlots) -> None:
    for plot in plots.plots:
        axis = plot.getAxis("bottom")
        low, high = plot.vb.viewRange()[0]
        for size in (axis.width(), 150, 400, 1200):
            values = [v for _, level in axis.tickValues(low, high, size) for v in level]
            assert values and all(float(v).is_integer() for v in values), (plot.header.title.text, values)


def rate_steps(plots: TrainingPlots) -> list[tuple[float, float, float]]:
    """(x, rate before, rate after) where the learning rate's curve goes straight up or down."""
    xs, ys = plots.current.learning_rate.item.xData, plots.current.learning_rate.item.yData
    return [(xs[i], ys[i], ys[i + 1]) for i in range(len(xs) - 1)
            if xs[i] == xs[i + 1] and ys[i] != ys[i + 1]]


# -- a real run ----------------------------------------------------------------------------------


def test_a_real_two_phase_run_is_plotted_readably_and_named_as_its_folder(make_window, qtbot, tmp_path):
    path = two_phase_wine(tmp_path / "wine.graft")
    runs = tmp_path / "wine.runs"
    a_run_on_disk(runs / "run-001")
    a_run_on_disk(runs / "run-002")
    window = open_window(make_window, path)
    panel = window.training
    plots = panel.plots
    assert plots.earlier_runs == ["run-002"]  # reopened: its newest run, as it is on disk
    with qtbot.waitSignal(panel.runEnded, timeout=120000) as ended:
        panel.start_action.trigger()  # Train ▸ Start: the Training dock shows its plots
    assert window.training_dock.isVisible() and panel.tabs.currentWidget() is plots
    assert ended.args[0].status == FINISHED, ended.args[0].message + ended.args[0].details
    assert (runs / "run-003").is_dir() and plots.current.label == "run-003"
    settle(qtbot)

    steps = rate_steps(plots)  # the one change of rate, at the phases' boundary, as a step
    assert len(steps) == 1
    x, before, after = steps[0]
    assert (before, after) == pytest.approx((0.01, 0.0001))
    boundary = [line.value() for p, line in plots.current.markers if p is plots.lr_plot]
    assert boundary == [x]
    assert_whole_epoch_ticks(plots)
    assert_legends_name_every_curve_above_the_data(plots)
    assert "run-002" in [label.text for _, label in plots.epoch_plot.legend.items]

    plots.begin_run()  # what the next Start does: this run dims, by its folder's name
    assert plots.earlier_runs == ["run-002", "run-003"]
    assert "run-003" in [label.text for _, label in plots.batch_plot.legend.items]


# -- events as the worker delivers them ----------------------------------------------------------


def replaying(events: list):
    """A runner that tells these events, as the core's would, on the worker's thread."""
    def train(project, *, sink, control, phase=None, epochs=None, out_dir=None, resume=False):
        for event in events:
            sink(event)
        return events[-1]
    return train


def _window_after_two_phases(make_window, qtbot, tmp_path, size):
    wine_project(tmp_path / "wine.graft")
    window = open_window(make_window, tmp_path / "wine.graft")
    window.resize(*size)
    QApplication.processEvents()
    panel = window.training
    panel.train_function = replaying(two_phase_events())
    with qtbot.waitSignal(panel.runEnded, timeout=10000):
        panel.start_action.trigger()
    settle(qtbot)
    return window


def test_six_curves_are_named_above_the_data_at_the_docks_default_size(make_window, qtbot, tmp_path):
    window = _window_after_two_phases(make_window, qtbot, tmp_path, (1400, 860))
    plots = window.training.plots
    assert len(plots.epoch_plot.listDataItems()) >= 6
    assert_legends_name_every_curve_above_the_data(plots)
    assert_whole_epoch_ticks(plots)
    assert len(rate_steps(plots)) == 1


def test_at_1024x700_a_long_legend_says_how_many_more_and_lets_them_out(make_window, qtbot, tmp_path):
    window = _window_after_two_phases(make_window, qtbot, tmp_path, (1024, 700))
    plots = window.training.plots
    assert window.view.viewport().height() >= 300
    for plot in plots.plots:  # what is shown is above the data; the rest is named under "+N more"
        legend = plot.legend
        hidden = [label.text for _, label in legend.items if not label.isVisible()]
        if hidden:
            assert legend.more.isVisible() and legend.more.text == f"+{len(hidden)} more"
            assert all(name in legend.more.toolTip() for name in hidden)
            assert not legend.more.sceneBoundingRect().intersects(plot.vb.sceneBoundingRect())
    cut = [plot for plot in plots.plots if plot.legend.more.isVisible()]
    assert cut, "at this size the two Outputs' six losses do not fit above a short plot"
    for plot in cut:
        centre = plot.legend.more.sceneBoundingRect().center()
        point = plots.view.mapFromScene(centre)
        qtbot.mouseClick(plots.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y()))
        assert plot.legend.more.text == "fewer"
    settle(qtbot)
    assert_legends_name_every_curve_above_the_data(plots)
    for plot in plots.plots:
        assert plot.vb.height() > 0


def test_a_plot_without_curves_shows_no_legend(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(1200, 320)
    plots.show()
    assert not any(plot.legend.isVisible() for plot in plots.plots)
    plots.begin_run()
    plots.add_batches([BatchEnded(0, 0, s, 10, s, 1.0 / s, {}, 1e-3, 100.0, 1.0) for s in range(1, 6)])
    plots.redraw()
    assert plots.batch_plot.legend.isVisible() and plots.lr_plot.legend.isVisible()
    assert not plots.epoch_plot.legend.isVisible() and not plots.metrics_plot.legend.isVisible()


def test_a_learning_rate_that_changes_with_the_phase_is_drawn_as_a_step(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.begin_run()
    batches = [e for e in two_phase_events() if isinstance(e, BatchEnded)]
    plots.add_batches(batches[:7])  # a delivery that ends inside the first phase…
    plots.add_batches(batches[7:12])  # …and one across the boundary (step 10 to 11)
    plots.add_batches(batches[12:])
    plots.redraw()
    assert rate_steps(plots) == [(10.5, 0.01, 0.0001)]
    xs = plots.current.learning_rate.item.xData
    assert np.all(np.diff(xs) >= 0) and len(xs) == len(batches) + 2


@pytest.mark.parametrize("height", [160, 220, 300, 450])
def test_the_learning_rate_axis_labels_its_decades_alike_and_apart(qtbot, height):
    """From 10⁻² in the first phase to 10⁻⁵ in the second, in plots of the dock's heights."""
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(1200, height)
    plots.show()
    plots.begin_run()
    batches = [BatchEnded(int(s > 30), 0, s, 30, s, 1.0, {}, 1e-2 if s <= 30 else 1e-5, 1.0, 1.0)
               for s in range(1, 61)]
    plots.add_batches(batches)
    plots.redraw()
    settle(qtbot)
    axis = plots.lr_plot.getAxis("left")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    _, _, texts = axis.generateDrawSpecs(painter)  # the labels it draws, and where
    painter.end()
    labels = [text for _, _, text in texts]
    assert len(labels) >= 2 and all(text.startswith("10") for text in labels), labels  # 10⁻³, not 0.001
    rects = [rect for rect, _, _ in texts]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:]), labels


def test_a_reopened_project_lists_its_run_on_disk_by_its_folder(make_window, tmp_path):
    wine_project(tmp_path / "wine.graft")
    a_run_on_disk(tmp_path / "wine.runs" / "run-003", epochs=4)
    window = open_window(make_window, tmp_path / "wine.graft")
    plots = window.training.plots
    assert plots.earlier_runs == ["run-003"]
    for plot in (plots.epoch_plot, plots.metrics_plot):
        assert [label.text for _, label in plot.legend.items] == ["run-003"]
    assert len(plots.epoch_plot.listDataItems()) == 2  # its loss and val_loss, dimmed
    assert plots.clear_button.isEnabled()


# -- the window at 1024×700 ----------------------------------------------------------------------

FIELDS = (QLineEdit, QComboBox, QAbstractSpinBox, QAbstractButton)


def reachable(field: QWidget, dock: QWidget) -> bool:
    """The field's whole rectangle can be brought into view: by the scroll areas it is in, each
    scrolling only where the user sees a scroll bar to do it with, and then it is in the dock."""
    parent = field.parentWidget()
    while parent is not None and parent is not dock:
        if isinstance(parent, QScrollArea):  # (ensureWidgetVisible shows a line edit's cursor only)
            centre = field.mapTo(parent.widget(), field.rect().center())
            parent.ensureVisible(centre.x(), centre.y(), field.width() // 2 + 1, field.height() // 2 + 1)
            for bar in (parent.horizontalScrollBar(), parent.verticalScrollBar()):
                if bar.value() != bar.minimum() and not bar.isVisible():
                    return False
            viewport = parent.viewport()
            shown = QRect(field.mapTo(viewport, QPoint(0, 0)), field.size())
            if not viewport.rect().contains(shown):
                return False
        parent = parent.parentWidget()
    return dock.rect().contains(QRect(field.mapTo(dock, QPoint(0, 0)), field.size()))


def test_at_1024x700_the_training_dock_leaves_the_canvas_300_px_and_every_setup_field_in_reach(
        make_window, qtbot, tmp_path):
    wine_project(tmp_path / "wine.graft")
    window = open_window(make_window, tmp_path / "wine.graft")
    window.resize(1024, 700)
    settle(qtbot)
    for tab in ("setup", "plots"):
        window.show_training(tab)
        settle(qtbot)
        assert window.training_dock.isVisible()
        assert window.view.viewport().height() >= 300, tab
    window.show_training("setup")
    settle(qtbot)
    setup = window.training.setup
    fields = [w for w in setup.findChildren(QWidget) if isinstance(w, FIELDS) and w.isVisibleTo(setup)]
    assert len(fields) > 10
    cut = [f"{type(f).__name__} {f.text() if hasattr(f, 'text') else ''}".strip() for f in fields
           if not reachable(f, window.training_dock)]
    assert cut == []
