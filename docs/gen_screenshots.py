"""Render the editor on every example into docs/screenshots/, for the docs and for reviewing
how the canvas looks without a display.

    .venv/bin/python docs/gen_screenshots.py   # or: make screenshots

Writes `<example>.png` for each resources/examples/*.graft in the dark theme,
`broken-light.png` (the broken example in the light theme), `inspector.png` (a
pretrained node selected, so the inspector shows its details) and `training.png` /
`training-results.png` (the transfer example after a real two-phase run, its plots and
its results; the run's files go to a scratch folder) and `export.png` (File ▸ Export… after a
checked SavedModel export of the cascade example, written to the scratch folder). It uses a throwaway
settings file and recovery folder, so neither the user's editor state nor this run's
leaks into the other."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = tempfile.TemporaryDirectory(prefix="graft-shots-")  # removed at exit
os.environ["GRAFT_RECOVERY_DIR"] = str(Path(SCRATCH.name) / "recovery")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QSettings  # noqa: E402

from app.core.training.runner import train  # noqa: E402
from app.gui.app import application  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.theme import apply_theme  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"
OUT = ROOT / "docs" / "screenshots"
SIZE = (1600, 1000)  # a typical maximised window; the examples then open legibly
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


def main() -> None:
    application()
    OUT.mkdir(parents=True, exist_ok=True)
    shots = [(p.stem, "dark", p.stem, None) for p in sorted(EXAMPLES.glob("*.graft"))]
    shots += [("broken", "light", "broken-light", None),
              (INSPECTED[0], "dark", "inspector", INSPECTED[1])]
    for example, theme, name, select in shots:
        print(f"wrote {shoot(example, theme, name, select).relative_to(ROOT)}")
    for path in shoot_training():
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"wrote {shoot_export().relative_to(ROOT)}")


if __name__ == "__main__":
    main()
