"""Editor fixtures: a window with its own settings and recovery folder, and real mouse
gestures (pressed buttons travel with every move, as they do from a real mouse)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app.gui.document import Document


@pytest.fixture(autouse=True, scope="session")
def garbage_collected_on_the_gui_thread(qapp):
    """As in the app: a cycle holding a widget, collected on a loader thread, deadlocks."""
    from app.gui.app import collect_garbage_on_the_gui_thread

    collect_garbage_on_the_gui_thread()


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def recovery_dir(tmp_path, monkeypatch):
    folder = tmp_path / "recovery"
    monkeypatch.setenv("GRAFT_RECOVERY_DIR", str(folder))
    return folder


@pytest.fixture
def make_window(qtbot, settings, monkeypatch):
    """Windows that close without asking (tests that check the question replace it)."""
    from app.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "ask_unsaved", lambda self: QMessageBox.StandardButton.Discard)
    made = []

    def make(document: Document | None = None) -> MainWindow:
        window = MainWindow(document, settings=settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        activate(qtbot, window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()


@pytest.fixture
def window(make_window):
    return make_window()


def activate(qtbot, window) -> None:
    """Make `window` the active one: shortcuts (Ctrl+S…) go to the active window only."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def viewport_point(view, scene_point: QPointF) -> QPoint:
    return view.mapFromScene(scene_point)


def _mouse(view, kind, point: QPoint, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = view.viewport()
    global_point = QPointF(viewport.mapToGlobal(point))
    event = QMouseEvent(kind, QPointF(point), global_point, button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def drag(view, start: QPointF, end: QPointF, button=Qt.MouseButton.LeftButton, steps: int = 6) -> None:
    """Press at `start`, move in steps with the button held, release at `end` (scene points)."""
    a, b = viewport_point(view, start), viewport_point(view, end)
    _mouse(view, QEvent.Type.MouseButtonPress, a, button, button)
    for i in range(1, steps + 1):
        p = a + (b - a) * (i / steps)
        _mouse(view, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
    _mouse(view, QEvent.Type.MouseButtonRelease, b, button, Qt.MouseButton.NoButton)


def click(view, at: QPointF, modifiers=Qt.KeyboardModifier.NoModifier, double: bool = False) -> None:
    point = viewport_point(view, at)
    left = Qt.MouseButton.LeftButton
    _mouse(view, QEvent.Type.MouseButtonPress, point, left, left, modifiers)
    _mouse(view, QEvent.Type.MouseButtonRelease, point, left, Qt.MouseButton.NoButton, modifiers)
    if double:
        _mouse(view, QEvent.Type.MouseButtonDblClick, point, left, left, modifiers)
        _mouse(view, QEvent.Type.MouseButtonRelease, point, left, Qt.MouseButton.NoButton, modifiers)


def drop(view, mime: QMimeData, at: QPointF) -> None:
    """Deliver a drag-and-drop of `mime` at scene point `at`, as a drag from elsewhere does."""
    point = QPointF(viewport_point(view, at))
    viewport = view.viewport()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    for event_class in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(viewport, event_class(point.toPoint(), *args))
    QApplication.sendEvent(viewport, QDropEvent(point, *args))


def port_point(window, node_id: str, port: str, is_input: bool) -> QPointF:
    item = window.scene.node_items[node_id]
    return (item.inputs if is_input else item.outputs)[port].scenePos()


def node_point(window, node_id: str) -> QPointF:
    """A point on the node's title bar (where a click selects and a drag moves it)."""
    item = window.scene.node_items[node_id]
    return item.mapToScene(QPointF(60, 12))
