"""Start the editor: the window is shown first, then projects open and crashed sessions are
offered for recovery; TensorFlow loads in the background after that."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app.gui import recovery
from app.gui.document import load_keras
from app.gui.main_window import MainWindow
from app.gui.theme import THEMES, apply_theme

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "graft.svg"
WARM_UP_DELAY_MS = 1500  # let the first paint and the project settle before TensorFlow loads


GC_INTERVAL_MS = 1000


class GuiThreadCollector:
    """Python's cycle collector runs on whichever thread allocates; when that is the loader
    or training thread and the cycle holds a widget, Qt destroys it off the GUI thread and
    the two threads deadlock (GIL against Qt's object mutex). This turns the automatic one
    off and collects on a GUI-thread timer instead, each generation when its count passes
    Python's threshold (as pyqtgraph's GarbageCollector does, without importing pyqtgraph at
    launch)."""

    def __init__(self):
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(interval=GC_INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        for generation, (count, threshold) in enumerate(zip(gc.get_count(), self.threshold)):
            if count <= threshold:
                return
            gc.collect(generation)


_collector: GuiThreadCollector | None = None


def collect_garbage_on_the_gui_thread() -> None:
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector()


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Graft")
    app.setApplicationName("Graft")
    app.setWindowIcon(QIcon(str(ICON)))
    collect_garbage_on_the_gui_thread()
    return app


def open_window(paths: list[str], settings: QSettings | None = None) -> MainWindow:
    """The first window, shown at once; opening and recovery follow on the event loop."""
    app = application()
    settings = settings or QSettings()
    theme = settings.value("theme", "dark")
    apply_theme(app, theme if theme in THEMES else "dark")
    window = MainWindow(settings=settings)
    window.show()
    app.processEvents()  # the first paint, before anything slow starts
    QTimer.singleShot(0, lambda: _after_show(window, paths))
    return window


def _after_show(window: MainWindow, paths: list[str]) -> None:
    if paths:
        window.open_path(paths[0])
        window.view.frame_all()
        window.view.viewport().repaint()  # the project on screen before TensorFlow starts loading
        for path in paths[1:]:
            window.new_window().open_path(path)
    offer_recovery(window)
    QTimer.singleShot(WARM_UP_DELAY_MS, load_keras)


def offer_recovery(window: MainWindow, ask=None) -> int:
    """Offer the autosaves of Graft sessions that ended without saving; returns how many
    were recovered. `ask(text) -> QMessageBox.StandardButton` replaces the dialog in tests."""
    found = recovery.orphans()
    if not found:
        return 0
    names = "\n".join(f"• {item.label}" for item in found)
    text = (f"Graft closed without saving {len(found)} project(s):\n{names}\n\n"
            "Recover the autosaved changes?")
    answer = (ask or _ask)(window, text)
    if answer == QMessageBox.StandardButton.Discard:
        for item in found:
            item.forget()
        return 0
    if answer != QMessageBox.StandardButton.Yes:
        return 0  # asked again next time
    recovered = 0
    target = window if not window.document.modified and not window.document.graph.nodes else None
    for item in found:
        recovered += (target or window.new_window()).recover(item)
        target = None
    return recovered


def _ask(window: MainWindow, text: str) -> QMessageBox.StandardButton:
    button = QMessageBox.StandardButton
    buttons = button.Yes | button.Discard | button.Cancel
    return QMessageBox.question(window, "Recover unsaved work", text, buttons, button.Yes)


def run(paths: list[str]) -> int:
    open_window(paths)
    return application().exec()
