"""Render the editor on every example into docs/screenshots/, for the docs and for reviewing
how the canvas looks without a display.

    .venv/bin/python docs/gen_screenshots.py   # or: make screenshots
    .venv/bin/python docs/gen_screenshots.py experiments   # only docs/experiments.md's

Writes `<example>.png` for each resources/examples/*.graft in the dark theme,
`broken-light.png` (the broken example in the light theme), `inspector.png` (a
pretrained node selected, so the inspector shows its details) and `training.png` /
`training-results.png` (the transfer example after a real two-phase run, its plots and
its results; the run's files go to a scratch folder) and `export.png` (File ▸ Export… after a
checked SavedModel export of the cascade example, written to the scratch folder),
`small-window.png` (the transfer example at 1024×700 with the Training dock open),
`empty.png` (a new, empty window), `quick-add-dense.png` (Tab, "dense"), `node-cards.png`
(a card of each kind, zoomed in), and for docs/experiments.md `runs-panel.png`,
`runs-overlay.png` and `runs-compare.png` (three real runs of the transfer example with other
settings: the Runs tab, their curves overlaid, two compared) and `sweep.png` (an 8-trial sweep
of it in the Sweep tab), `previews.png` and `previews-cascade.png` (previews on, a node
selected, its Preview panel shown). It uses a throwaway
settings file and recovery folder, so neither the user's editor state nor this run's
leaks into the other."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = tempfile.TemporaryDirectory(prefix="graft-shots-")  # removed at exit
os.environ["GRAFT_RECOVERY_DIR"] = str(Path(SCRATCH.name) / "recovery")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QSettings, Qt  # noqa: E402

from app.core.document.fileformat import load, save  # noqa: E402
from app.core.document.project import Project  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.editing.commands import CommandStack, SetParams, edit_training  # noqa: E402
from app.core.training.runner import train  # noqa: E402
from app.gui.app import application  # noqa: E402
from app.gui.document import Document  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.theme import apply_theme  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"
OUT = ROOT / "docs" / "screenshots"
SIZE = (1600, 1000)  # a typical maximised window; the examples then open legibly
SMALL = (1024, 700)  # the smallest window the editor is laid out for
INSPECTED = ("cascade", "classifier_a")  # example and node shown in inspector.png
SETTINGS = QSettings(str(Path(SCRATCH.name) / "settings.ini"), QSettings.Format.IniFormat)


def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        application().processEvents()


def opened(example: str, theme: str) -> MainWindow:
    """A fresh window at SIZE in `theme` on the example, its analysis done."""
    apply_theme(application(), theme)
    window = MainWindow(settings=SETTINGS)
    window.resize(*SIZE)
    window.show()
    if not window.open_path(EXAMPLES / f"{example}.graft"):
        raise SystemExit(f"cannot open {example}.graft")
    window.document.wait_until_analysed(120)
    return window


def saved(widget, name: str) -> Path:
    path = OUT / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise SystemExit(f"cannot write {path}")
    return path


def shoot(example: str, theme: str, name: str, select: str | None = None) -> Path:
    """Open the example in a fresh window, wait for its analysis, frame it and save the window."""
    window = opened(example, theme)
    settle()
    window.view.frame_all()
    if select is not None:
        node = next(n for n in window.document.graph.nodes if n.name == select)
        window.scene.select([node.id])
    settle()
    path = saved(window, name)
    window.close()
    return path


def shoot_training(theme: str = "dark") -> list[Path]:
    """Train the transfer example from the dock (its runs go to the scratch folder), then
    save the window with the Plots tab and with the Results tab."""
    window = opened("transfer", theme)
    window.training.train_function = functools.partial(train, out_dir=Path(SCRATCH.name) / "runs")
    window.show_training("plots")
    if not window.training.start():
        raise SystemExit(f"training refused: {window.training.refusal()}")
    while window.training.busy:
        application().processEvents()
        window.training.run.wait(50)
    settle()
    window.view.frame_all()
    paths = []
    for tab, name in (("plots", "training"), ("results", "training-results")):
        window.show_training(tab)
        settle()
        paths.append(saved(window, name))
    window.document.undo_stack.setClean()  # the stored weights need no saving here
    window.close()
    return paths


def shoot_small_window(theme: str = "dark") -> Path:
    """The transfer example at the smallest size, with the Training dock's setup open."""
    window = opened("transfer", theme)
    window.resize(*SMALL)
    window.show_training("setup")
    settle()
    window.view.frame_all()
    settle()
    path = saved(window, "small-window")
    window.close()
    return path


def shoot_empty(theme: str = "dark") -> Path:
    """What a new user sees first: an empty window and its hints."""
    apply_theme(application(), theme)
    window = MainWindow(settings=SETTINGS)
    window.resize(*SIZE)
    window.show()
    window.document.wait_until_analysed(60)
    settle()
    path = saved(window, "empty")
    window.close()
    return path


def shoot_quick_add(theme: str = "dark") -> Path:
    """Tab on the canvas, "dense" typed: the window with the quick-add box over it."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    window = opened("cascade", theme)
    settle()
    window.view.frame_all()
    window.show_quick_add(window.view.mapToScene(window.view.viewport().rect().center()))
    window.quick_add.search.setText("dense")
    settle()
    picture = window.grab()
    painter = QPainter(picture)
    corner = window.mapFromGlobal(window.quick_add.mapToGlobal(QPoint(0, 0)))
    painter.drawPixmap(corner, window.quick_add.grab())
    painter.end()
    path = OUT / "quick-add-dense.png"
    if not picture.save(str(path)):
        raise SystemExit(f"cannot write {path}")
    window.quick_add.hide()
    window.close()
    return path


def card_gallery() -> Project:
    """One node of each kind, wired as a user would, so every card shows shapes and counts."""
    b = GraphBuilder()
    b.add("pixels", "Input", 0, 0, shape=[96, 96, 3])
    b.add("preprocess", "Preprocess", 340, 0, architecture="MobileNetV2")
    b.add("mobilenet", "Application", 680, 0, architecture="MobileNetV2", input_shape=[96, 96, 3],
          pooling="avg")
    b.add("digits", "Input", 0, 220, shape=[8, 8, 1])
    b.add("digits_cnn", "ModelFile", 340, 220, path=str(ROOT / "resources" / "models" / "digits_cnn.keras"))
    b.add("both", "Concatenate", 1020, 110)
    b.add("head", "Dense", 1360, 110, units=5, activation="softmax")
    b.add("label", "Output", 1700, 110)
    b.chain("pixels", "preprocess", "mobilenet")
    b.wire("digits", "digits_cnn")
    b.wire("mobilenet", "both", "in0")
    b.wire("digits_cnn", "both", "in1")
    b.chain("both", "head", "label")
    return b.project


def shoot_node_cards(theme: str = "dark") -> Path:
    """A card of each kind (input, preprocessing, architecture, model file, merge, layer,
    output) at a zoom where each shows its details."""
    apply_theme(application(), theme)
    window = MainWindow(Document(card_gallery()), settings=SETTINGS)
    window.resize(*SIZE)
    window.show()
    window.document.wait_until_analysed(120)
    settle()
    window.view.frame_all()
    settle()
    path = saved(window.view, "node-cards")
    window.close()
    return path


def shoot_export(theme: str = "dark") -> Path:
    """Export the cascade example as a SavedModel into the scratch folder; save the dialog."""
    window = opened("cascade", theme)
    dialog = window.show_export()
    dialog.path.setText(str(Path(SCRATCH.name) / "cascade_savedmodel"))
    finished = QEventLoop()
    dialog.finished_export.connect(finished.quit)
    dialog.start()
    finished.exec()
    if not dialog.result.ok:
        raise SystemExit(f"export failed: {dialog.result.message}")
    settle()
    path = saved(dialog, "export")
    dialog.close()
    window.close()
    return path


def shoot_previews(theme: str = "dark") -> list[Path]:
    """The transfer example and a small CNN with previews on: each card's output on the first
    batch of the held-out digits, and the Preview panel for a selected node."""
    shots = []
    for example, select, name in (("transfer", "head", "previews"), ("cascade", "classifier_a",
                                                                       "previews-cascade")):
        window = opened(example, theme)
        window.previews.set_enabled(True)
        while not window.previews.settled:  # the preview thread's results arrive as events
            application().processEvents()
            time.sleep(0.02)
        node = next(n for n in window.document.graph.nodes if n.name == select)
        window.scene.select([node.id])
        window.preview_panel.parentWidget().raise_()
        settle()
        window.view.frame_all()
        settle()
        shots.append(saved(window, name))
        window.previews.set_enabled(False)
        window.close()
    return shots


def experiment_project() -> Path:
    """The transfer example saved into the scratch folder (its runs and study go there), with
    three runs on disk: as shipped; a faster head with more dropout; as shipped with a deeper
    fine-tune."""
    path = Path(SCRATCH.name) / "experiments" / "transfer.graft"
    path.parent.mkdir()
    save(load(EXAMPLES / "transfer.graft"), path)
    project = load(path)
    stack = CommandStack(project)
    for change in (None, "faster head", "deeper fine-tune"):
        if change == "faster head":
            stack.push(SetParams(project.graph.node_by_name("dropout").id, {"rate": 0.4}))
            phases = [p.to_dict() for p in project.training.phases]
            phases[0]["learning_rate"] = 0.03
            stack.push(edit_training(project.training, change, phases=phases))
        elif change == "deeper fine-tune":  # the shipped settings again, but for the fine-tune
            stack.undo()
            stack.undo()
            phases = [p.to_dict() for p in project.training.phases]
            phases[1]["trainable"] = {"backbone": 6}
            stack.push(edit_training(project.training, change, phases=phases))
        ended = train(project)
        if ended.status != "finished":
            raise SystemExit(f"the {change or 'first'} run ended {ended.status}: {ended.message}")
    sweep = {"trials": 8, "parameters": [
        {"kind": "learning_rate", "phase": "head", "low": 1e-4, "high": 0.3},
        {"kind": "dropout", "node": "dropout", "low": 0.0, "high": 0.6},
        {"kind": "trainable", "phase": "fine_tune", "node": "backbone", "low": 0, "high": 6}]}
    stack.push(edit_training(project.training, "sweep", sweep=sweep))
    save(project, path)
    return path


def shoot_experiments(theme: str = "dark") -> list[Path]:
    """The Runs tab with three runs ticked, their curves overlaid, two compared; then an
    8-trial sweep run from the Sweep tab."""
    apply_theme(application(), theme)
    window = MainWindow(settings=SETTINGS)
    window.resize(*SIZE)
    window.show()
    if not window.open_path(experiment_project()):
        raise SystemExit("cannot open the experiments project")
    window.document.wait_until_analysed(120)
    window.view.frame_all()
    runs = window.training.runs
    window.show_training("runs")
    for row in range(runs.table.rowCount()):
        runs.set_ticked(row, True)
    runs.select("run-002", "run-003")
    settle()
    paths = [saved(window, "runs-panel")]
    window.show_training("plots")
    settle()
    paths.append(saved(window, "runs-overlay"))
    window.show_training("runs")
    runs.select("run-001", "run-002")
    dialog = runs.compare_selected()
    settle()
    paths.append(saved(dialog, "runs-compare"))
    dialog.close()
    sweep = window.training.sweep
    window.training.tabs.setCurrentWidget(sweep)
    window.resizeDocks([window.training_dock], [560], Qt.Orientation.Vertical)  # room for the trials
    if not sweep.start():
        raise SystemExit(f"sweep refused: {sweep.refusal()}")
    while sweep.running:
        application().processEvents()
        sweep.job.wait(50)
    settle()
    paths.append(saved(window, "sweep"))
    window.document.undo_stack.setClean()
    window.close()
    return paths


def main() -> None:
    application()
    OUT.mkdir(parents=True, exist_ok=True)
    only = {"experiments": shoot_experiments, "previews": shoot_previews}  # a part of them alone
    if sys.argv[1:] and sys.argv[1] in only:
        for path in only[sys.argv[1]]():
            print(f"wrote {path.relative_to(ROOT)}")
        return
    shots = [(p.stem, "dark", p.stem, None) for p in sorted(EXAMPLES.glob("*.graft"))]
    shots += [("broken", "light", "broken-light", None),
              (INSPECTED[0], "dark", "inspector", INSPECTED[1])]
    for example, theme, name, select in shots:
        print(f"wrote {shoot(example, theme, name, select).relative_to(ROOT)}")
    for path in shoot_training():
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"wrote {shoot_export().relative_to(ROOT)}")
    for path in shoot_experiments() + shoot_previews():
        print(f"wrote {path.relative_to(ROOT)}")
    for shot in (shoot_small_window, shoot_empty, shoot_quick_add, shoot_node_cards):
        print(f"wrote {shot().relative_to(ROOT)}")


if __name__ == "__main__":
    main()
