"""The editor window: palette, canvas, inspector, problems and status bar around one document.
Every user action here becomes a core command pushed on the document.

One piece, though long: each method is the slot of a menu action, a shortcut or a panel's
signal, and each is short; what they do lives in the core (commands) and in the panels. The
sections (construction, the document, analysis, adding nodes, editing, fixes, model view,
files, training, window) read in that order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
)

from app.core.analysis.cost import macs_text, training_memory, training_memory_text
from app.core.analysis.freezing import trainable_by_node, trainable_params
from app.core.analysis.memory import human
from app.core.analysis.validate import ERROR, WARNING
from app.core.cards.loading import ModelLoadError, is_model_file
from app.core.document.fileformat import ProjectError
from app.core.document.project import SUFFIX, Project, changed_models
from app.core.editing.clipboard import copy_text, duplicate_command, paste_command
from app.core.editing.commands import (
    AddNode,
    Disconnect,
    Macro,
    RemoveNodes,
    SetParams,
    apply_fix,
    connect,
    new_node,
)
from app.core.editing.layout import layout_command
from app.core.editing.placement import free_position, node_size
from app.core.graph.params import ParamError
from app.core.nodes import Port, node_type
from app.core.nodes.appearance import count_text
from app.core.nodes.base import PRETRAINED
from app.gui import recovery
from app.gui.canvas.items import TITLE_HEIGHT, WIDTH
from app.gui.canvas.scene import GraphScene
from app.gui.canvas.view import GraphView
from app.gui.document import Document, Subscriptions
from app.gui.help import About, GettingStarted, Shortcuts, example_document, examples
from app.gui.panels.fields import MODEL_FILTER, set_style_property
from app.gui.panels.inspector import Inspector
from app.gui.panels.palette import FOLDER, Entry, Palette, RecentChoices
from app.gui.panels.problems import ProblemsPanel
from app.gui.panels.quick_add import QuickAdd
from app.gui.preview.controller import PreviewController
from app.gui.preview.panel import PreviewPanel
from app.gui.project_info import ProjectInfoDialog
from app.gui.theme import ICON_DIR, THEMES, apply_theme, current_theme, icon
from app.gui.training import TrainingPanel

if TYPE_CHECKING:
    from app.gui.export_dialog import ExportDialog

AUTOSAVE_MS = 2 * 60 * 1000
MIN_CANVAS_HEIGHT = 300  # px of the canvas in view: a chain of cards stays visible beside the docks
MAX_RECENT = 10
PROJECT_FILTER = f"Graft projects (*{SUFFIX})"

_windows: list[MainWindow] = []  # open windows, kept alive until closed


class MainWindow(QMainWindow):
    def __init__(self, document: Document | None = None, settings: QSettings | None = None,
                 autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        self.settings = settings or QSettings()
        self.setWindowIcon(QIcon(str(ICON_DIR / "graft.svg")))
        self.setAcceptDrops(True)
        self.document: Document | None = None
        self.scene: GraphScene | None = None
        self._document_links = Subscriptions()  # the window's connections to the document and scene
        self.view = GraphView()
        # The docks give way before the canvas does: at 1024×700 the Training dock takes what is
        # left over this, not the canvas's share.
        self.view.setMinimumHeight(MIN_CANVAS_HEIGHT + 2 * self.view.frameWidth())
        self.setCentralWidget(self.view)
        self.recent_choices = RecentChoices(self.settings)  # shared by the palette and quick-add
        self.palette_panel = Palette(recent=self.recent_choices)
        self.inspector = Inspector()
        self.problems = ProblemsPanel()
        self.training = TrainingPanel()
        self.training.save_project = self._save_for_training
        self.quick_add = QuickAdd(self, self.recent_choices)
        self._quick_add_at = QPointF()  # where Tab was pressed
        self._model_views: dict = {}  # node id → its open layer table
        self.export_dialog: ExportDialog | None = None
        self._add_dock("Palette", self.palette_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        problems_dock = self._add_dock("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.training_dock = self._add_dock("Training", self.training, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(problems_dock, self.training_dock)
        self.previews = PreviewController(self.settings, self)  # off until View ▸ Preview Outputs
        self.preview_panel = PreviewPanel(self.previews)
        # Beside Problems and Training: a second group of tabbed docks leaves a stray tab bar in Qt 6
        self.tabifyDockWidget(self.training_dock, self._add_dock("Preview", self.preview_panel,
                                                                 Qt.DockWidgetArea.BottomDockWidgetArea))
        problems_dock.raise_()
        self._build_status_bar()
        self.recovery = recovery.RecoveryFile()
        self.autosave_timer = QTimer(self, interval=autosave_ms)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._connect_panels()
        self.set_document(document or Document())
        self._build_actions()
        self.resize(1400, 860)
        docks = {d.objectName(): d for d in self.findChildren(QDockWidget)}
        self.resizeDocks([docks["Palette"], docks["Inspector"]], [230, 290], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["Problems"]], [170], Qt.Orientation.Vertical)
        _windows.append(self)

    # -- construction ------------------------------------------------------------------
    def _add_dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.loading_label = QLabel()
        self.loading_bar = QProgressBar(maximumWidth=120, maximumHeight=14, textVisible=False)
        self.loading_bar.setRange(0, 0)  # busy: how long TensorFlow takes is not known
        self.validation_label = QLabel()
        self.params_label = QLabel()
        self.cost_label = QLabel()  # multiply-adds and training memory (analysis/cost.py)
        for widget in (self.loading_label, self.loading_bar, self.validation_label, self.params_label,
                       self.cost_label):
            bar.addPermanentWidget(widget)

    def _connect_panels(self) -> None:
        self.palette_panel.activated.connect(lambda entry: self.add_entry(entry, self._view_centre()))
        self.view.entryDropped.connect(self.add_entry)
        self.view.filesDropped.connect(self.open_files)
        self.view.quickAddRequested.connect(self.show_quick_add)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self.problems.problemActivated.connect(self.reveal_problem)
        self.problems.fixRequested.connect(self.apply_fix)
        self.inspector.paramsEdited.connect(lambda node_id, changes: self.push(SetParams(node_id, changes)))
        self.inspector.renameRequested.connect(lambda node_id, name: self.document.rename(node_id, name))
        self.inspector.showModelRequested.connect(self.show_model)
        self.training.statusMessage.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.previews.statusMessage.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.training.setup.phases.phaseSelected.connect(lambda row: self._show_phase())
        self.training.runs.openProjectRequested.connect(self.open_in_new_window)

    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None, menu=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        if icon_name:
            action.setIcon(icon(icon_name))
            action.setData(icon_name)
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        menu = self.menuBar().addMenu("&File")
        self._action("&New", self.new_document, keys.New, "new", menu)
        self._action("New &Window", self.new_window, "Ctrl+Shift+N", None, menu)
        self._action("&Open…", self.open_dialog, keys.Open, "open", menu)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.examples_menu = menu.addMenu("E&xamples")
        for example in examples():
            self.examples_menu.addAction(example.title, lambda p=example.path: self.open_example(p))
        menu.addSeparator()
        self._action("&Save", self.save, keys.Save, "save", menu)
        self._action("Save &As…", self.save_as, keys.SaveAs, None, menu)
        self._action("&Export…", self.show_export, "Ctrl+E", "export", menu)
        self._action("Project &Info…", self.show_project_info, "Ctrl+Shift+I", None, menu)
        menu.addSeparator()
        self._action("&Close Window", self.close, keys.Close, None, menu)
        # Quit has no standard key on some platforms (Windows, plain X11): Ctrl+Q there
        quit_keys = QKeySequence.keyBindings(keys.Quit) or [QKeySequence("Ctrl+Q")]
        self._action("&Quit", QApplication.closeAllWindows, quit_keys, None, menu)

        menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self._stack_action(menu, undo=True)
        self.redo_action = self._stack_action(menu, undo=False)
        menu.addSeparator()
        self._action("Cu&t", self.cut, keys.Cut, "cut", menu)
        self._action("&Copy", self.copy, keys.Copy, "copy", menu)
        self._action("&Paste", self.paste, keys.Paste, "paste", menu)
        self._action("&Duplicate", self.duplicate, "Ctrl+D", "duplicate", menu)
        self._action("De&lete", self.delete_selection,
                     [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)], "delete", menu)
        menu.addSeparator()
        self._action("Select &All", self.select_all, keys.SelectAll, None, menu)
        self._action("&Find Node…", self.view.show_find, keys.Find, None, menu)

        menu = self.menuBar().addMenu("&View")
        self._action("&Frame All", self.view.frame_all, "F", "frame", menu)
        self._action("Zoom &In", lambda: self.view.set_zoom(1.25), keys.ZoomIn, "zoom-in", menu)
        self._action("Zoom &Out", lambda: self.view.set_zoom(0.8), keys.ZoomOut, "zoom-out", menu)
        self._action("&Actual Size", lambda: self.view.set_zoom(1 / self.view.zoom), "Ctrl+0", None, menu)
        menu.addSeparator()
        theme_menu = menu.addMenu(icon("theme"), "&Theme")
        group = QActionGroup(self)
        for name in THEMES:
            action = theme_menu.addAction(name.capitalize(), lambda n=name: self.set_theme(n))
            action.setCheckable(True)
            action.setChecked(name == current_theme())
            group.addAction(action)
        menu.addSeparator()
        self.previews.toggle_action.setIcon(icon("preview"))
        menu.addAction(self.previews.toggle_action)
        self.addAction(self.previews.toggle_action)
        sample_menu = menu.addMenu("Preview &Sample")
        sample_menu.addActions([self.previews.validation_action, self.previews.files_action])
        menu.addSeparator()
        for dock in self.findChildren(QDockWidget):
            menu.addAction(dock.toggleViewAction())

        menu = self.menuBar().addMenu("&Graph")
        self._action("Add &Node…", lambda: self.show_quick_add(self.view.cursor_scene_pos()), menu=menu)
        self._action("Auto-&Layout", self.auto_layout, "Ctrl+L", "layout", menu)
        self._action("Apply First &Fix", self.apply_first_fix, "Ctrl+Shift+F", "fix", menu)
        self._action("Show &Layers…", self.show_selected_model, "Ctrl+I", "model", menu)
        self._action("Add Weight-&Sharing Twin", self.add_twin, "Ctrl+Shift+D", None, menu)

        menu = self.menuBar().addMenu("&Train")
        training = self.training
        for action in training.actions_in_order:
            menu.addAction(action)
            self.addAction(action)
        for action in (training.start_action, training.resume_last_action):
            action.triggered.connect(self.show_training)
        menu.addSeparator()
        menu.addAction(training.clear_runs_action)
        self._action("Training &Setup", lambda: self.show_training("setup"), None, None, menu)
        self._action("Training &Plots", lambda: self.show_training("plots"), None, None, menu)
        self._action("Training &Results", lambda: self.show_training("results"), None, None, menu)
        self._action("Training R&uns", lambda: self.show_training("runs"), None, None, menu)

        menu = self.menuBar().addMenu("&Help")
        self._action("&Getting Started", self.show_getting_started, None, None, menu)
        self._action("&Keyboard Shortcuts", self.show_shortcuts, keys.HelpContents, None, menu)
        self._action("&About Graft", self.show_about, None, None, menu)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main toolbar")
        toolbar.setMovable(False)
        for action in self.actions():
            if action.data() in ("new", "open", "save", "undo", "redo", "frame", "layout", "fix"):
                toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (training.start_action, training.pause_action, training.stop_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.previews.toggle_action)

    def _stack_action(self, menu, undo: bool) -> QAction:
        """Undo/Redo whose text names the command ("Undo Connect")."""
        stack = self.document.undo_stack
        action = QAction(self)
        action.setIcon(icon("undo" if undo else "redo"))
        action.setData("undo" if undo else "redo")
        action.setShortcuts([QKeySequence.StandardKey.Undo] if undo else
                            [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        action.triggered.connect(lambda: (self.document.undo_stack.undo() if undo
                                          else self.document.undo_stack.redo()))
        menu.addAction(action)
        self.addAction(action)
        self._update_undo_action(action, undo, stack)
        return action

    def _update_undo_action(self, action: QAction, undo: bool, stack) -> None:
        if undo:
            text, enabled = stack.undoText(), stack.canUndo()
        else:
            text, enabled = stack.redoText(), stack.canRedo()
        verb = "&Undo" if undo else "&Redo"
        action.setText(f"{verb} {text}" if text else verb)
        action.setEnabled(enabled)

    # -- the document --------------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        """Show another document in this window (New, Open, recovery). The window and its
        panels detach from the old one first: nothing it or its project does reaches them."""
        old_scene, old_document = self.scene, self.document
        self._release_document()
        self.document = document
        document.setParent(self)  # lives and dies with the window, and its signals with it
        self.scene = GraphScene(document, self)
        self.view.show_scene(self.scene)
        self.training.set_document(document)
        self.previews.set_document(document, self.scene)
        self._show_phase()
        links = self._document_links
        for signal, slot in ((self.scene.selectionChanged, self._selection_changed),
                             (self.scene.nodeActivated, self.show_model),
                             (document.analysisChanged, self._analysis_changed),
                             (document.loadingChanged, self._loading_changed),
                             (document.trainingChanged, self._show_param_counts),  # the batch size
                             (document.fileChanged, self._update_title),
                             (document.editFailed, self._edit_failed),
                             (document.downloadProgress, self._download_progress),
                             (document.downloadFailed, self._download_failed),
                             (document.undo_stack.indexChanged, self._refresh_undo_actions),
                             (document.undo_stack.indexChanged, self._refresh_inspector),
                             (document.undo_stack.indexChanged, self._refresh_model_views)):
            links.connect(signal, slot)
        if old_scene is not None:
            old_scene.deleteLater()
        for dialog in list(self._model_views.values()):
            dialog.close()
        if old_document is not None:
            old_document.deleteLater()
        self._update_title()
        self._loading_changed(document.loading)
        self._analysis_changed()
        self._refresh_undo_actions()
        self.inspector.show_node(None)
        self.preview_panel.show_node(None)
        QTimer.singleShot(0, self.view.frame_all)

    def _release_document(self) -> None:
        """Detach the window, its scene and its panels from the document, and close it."""
        self._document_links.clear()
        if self.scene is not None:
            self.scene.close()
        self.training.release_document()
        self.previews.release_document()
        if self.document is not None:
            self.document.close()

    def _refresh_undo_actions(self) -> None:
        if hasattr(self, "undo_action"):
            self._update_undo_action(self.undo_action, True, self.document.undo_stack)
            self._update_undo_action(self.redo_action, False, self.document.undo_stack)

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — Graft")
        self.setWindowModified(self.document.modified)

    def push(self, command) -> bool:
        return self.document.push(command)

    def _edit_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    # -- reacting to the analysis ----------------------------------------------------------
    def _analysis_changed(self) -> None:
        analysis = self.document.analysis
        if analysis is None:
            self.problems.set_problems([], waiting=self.document.loading or "Analysing…")
            self.validation_label.setText("")
            self.params_label.setText("")
            self.cost_label.setText("")
            return
        empty = not self.document.graph.nodes  # not an error yet: a start, with a hint what to do
        self.problems.set_problems(analysis.problems, empty_graph=empty)
        errors = sum(p.severity == ERROR for p in analysis.problems)
        warnings = sum(p.severity == WARNING for p in analysis.problems)
        if empty:
            text = "Empty graph"
        elif errors:
            text = f"✖ {errors} error{'s' * (errors != 1)}"
        else:
            text = "✔ valid" + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")
        self.validation_label.setText(text)
        self._show_param_counts()
        self._refresh_inspector()

    def _show_phase(self) -> None:
        """The cards' badges and the bar's count follow the phase selected in the training setup."""
        phase = self.training.setup.phases.selected_phase()
        self.scene.set_phase(phase.trainable if phase else None)
        self._show_param_counts()

    def _show_param_counts(self) -> None:
        """All parameters and those that learn: in the phase being edited, else by each node's own setting."""
        analysis = self.document.analysis
        if analysis is None:
            return
        phases = self.training.setup.phases
        phase = phases.selected_phase()
        self._show_cost(phase)
        total, trainable = analysis.param_totals()
        if phase is None:
            self.params_label.setText(f"{count_text(total)} parameters · {count_text(trainable)} trainable")
            return
        trainable = trainable_params(self.document.graph, analysis, self.document.context, phase.trainable)
        learning = "?" if trainable is None else count_text(trainable)
        self.params_label.setText(f"Phase {phases.selected() + 1} {phase.name!r}: {learning} of "
                                  f"{count_text(total)} parameters trainable")

    def _show_cost(self, phase) -> None:
        """Multiply-adds per sample, and what training takes for the setup's batch size in the
        phase being edited; in the warning colour when that is more than this machine has."""
        analysis, graph = self.document.analysis, self.document.graph
        total = analysis.cost_totals()
        text = f"{'≥ ' if total.partial else ''}{macs_text(total.macs)} MACs per sample"
        by_node = trainable_by_node(graph, analysis, self.document.context,
                                    phase.trainable if phase else None)
        estimate = by_node is not None and training_memory(analysis, graph, by_node,
                                                           self.document.training.settings)
        too_big = bool(estimate) and estimate.exceeds_machine
        if estimate:
            text += f" · training {'≥' if estimate.partial else '≈'} {human(estimate.total)}"
            if too_big:
                text = f"⚠ {text}: more than this machine's {human(estimate.machine)}"
        self.cost_label.setText(text)
        self.cost_label.setToolTip(training_memory_text(estimate) if estimate else "")
        set_style_property(self.cost_label, "role", "warning" if too_big else "")

    def _loading_changed(self, text: str) -> None:
        self.loading_label.setText(text)
        self.loading_label.setVisible(bool(text))
        self.loading_bar.setVisible(bool(text))
        if text and self.document.analysis is None:
            self.problems.set_problems([], waiting=text)

    def _download_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 30000)

    def _download_progress(self, label: str, received: int, total: int) -> None:
        """A determinate bar while weights download; the loading state again when done."""
        if total and received >= total:
            self.loading_bar.setRange(0, 0)
            self._loading_changed(self.document.loading)
            return
        self.loading_label.setText(f"Downloading {label}… {received / 1e6:.1f}"
                                   + (f" of {total / 1e6:.1f} MB" if total > 0 else " MB"))
        self.loading_bar.setRange(0, max(total, 0))
        self.loading_bar.setValue(received)
        self.loading_label.show()
        self.loading_bar.show()

    def _selection_changed(self) -> None:
        self._refresh_inspector()
        selected = self.scene.selected_node_ids()
        self.preview_panel.show_node(selected[0] if len(selected) == 1 else None)

    def _refresh_inspector(self) -> None:
        if self.scene is None:
            return
        selected = self.scene.selected_node_ids()
        if len(selected) != 1 or not self.document.graph.has_node(selected[0]):
            self.inspector.show_node(None)
            return
        node = self.document.graph.node(selected[0])
        analysis = self.document.analysis
        result = analysis.nodes.get(node.id) if analysis else None
        self.inspector.show_node(node, result, self.document.context.base_dir)

    # -- adding nodes ---------------------------------------------------------------------
    def _view_centre(self) -> QPointF:
        return self.view.mapToScene(self.view.viewport().rect().center())

    def add_entry(self, entry: Entry, at: QPointF, after: str | None = None) -> str | None:
        """Add a palette entry centred at `at`; `after` connects that node's first output to it.
        Returns the new node's id, or None when the user cancelled or the values were refused."""
        params = dict(entry.params)
        if entry.pick:
            folder = str(self.document.context.base_dir)
            if entry.pick == FOLDER:
                path = QFileDialog.getExistingDirectory(self, "Import SavedModel folder", folder)
            else:
                path, _ = QFileDialog.getOpenFileName(self, "Import model file", folder, MODEL_FILTER)
            if not path:
                return None
            params["path"] = path
        graph = self.document.graph
        position = (round(at.x() - WIDTH / 2, 1), round(at.y() - TITLE_HEIGHT / 2, 1))
        try:
            node = new_node(graph, entry.type_name, params, position)
        except ParamError as error:
            self._edit_failed(f"cannot add {entry.label}: {error}")
            return None
        node.position = free_position(graph, node.position, node_size(graph, node))  # on no other node
        command = AddNode(node)
        if after is not None:
            outputs = self.document.output_ports(graph.node(after))
            inputs = ([Port("in")] if self.document.needs_loading(node)
                      else node_type(node.type).input_ports(node, set(), self.document.context))
            if outputs and inputs:
                edge = connect(graph, after, outputs[0], node.id, inputs[0].name)
                command = Macro(f"Add {node.name}", [command, edge])
        if not self.push(command):
            return None
        self.recent_choices.add(entry)
        self.scene.select([node.id])
        self.view.ensureVisible(self.scene.node_items[node.id], 40, 40)
        return node.id

    def show_quick_add(self, at: QPointF) -> None:
        self._quick_add_at = at
        self.quick_add.popup(self.view.mapToGlobal(self.view.mapFromScene(at)))

    def _quick_add_chosen(self, entry: Entry) -> None:
        """With one node selected, the new node is appended after it, to its right."""
        selected = self.scene.selected_node_ids()
        after = selected[0] if len(selected) == 1 else None
        at = self._quick_add_at
        if after is not None:
            item = self.scene.node_items[after]
            at = item.pos() + QPointF(WIDTH * 1.5 + 60, TITLE_HEIGHT / 2)
        self.add_entry(entry, at, after)
        self.view.setFocus()

    # -- editing the selection ---------------------------------------------------------------
    def delete_selection(self) -> None:
        nodes = self.scene.selected_node_ids()
        edges = [e for e in self.scene.selected_edge_ids()
                 if not {self.document.graph.edge(e).source, self.document.graph.edge(e).target} & set(nodes)]
        commands = ([RemoveNodes(nodes)] if nodes else []) + [Disconnect(e) for e in edges]
        if len(commands) == 1:
            self.push(commands[0])
        elif commands:
            self.push(Macro(f"Delete {len(nodes)} nodes and {len(edges)} connections", commands))

    def select_all(self) -> None:
        self.scene.select(self.scene.node_items)

    def copy(self) -> bool:
        nodes = self.scene.selected_node_ids()
        if not nodes:
            return False
        text = copy_text(self.document.graph, nodes, self.document.context.base_dir)
        QGuiApplication.clipboard().setText(text)
        return True

    def cut(self) -> None:
        if self.copy():
            self.push(RemoveNodes(self.scene.selected_node_ids()))

    def paste(self) -> None:
        text = QGuiApplication.clipboard().text()
        if not text.strip():
            return
        try:
            at = self.view.cursor_scene_pos()
            command = paste_command(self.document.graph, text, at=(at.x(), at.y()),
                                    base_dir=self.document.context.base_dir)
        except ProjectError as error:
            self._edit_failed(f"the clipboard does not hold Graft nodes: {error}")
            return
        if self.push(command):
            self.scene.select(command.node_ids)

    def duplicate(self) -> None:
        nodes = self.scene.selected_node_ids()
        if nodes:
            command = duplicate_command(self.document.graph, nodes)
            if self.push(command):
                self.scene.select(command.node_ids)

    def add_twin(self) -> str | None:
        """A second node applying the selected pretrained model with the same weights (the
        other half of a siamese pair), placed below it."""
        selected = self.scene.selected_node_ids()
        if len(selected) != 1:
            return None
        node = self.document.graph.node(selected[0])
        if node_type(node.type).category != PRETRAINED:
            self._edit_failed("select a pretrained node to add a twin that shares its weights")
            return None
        owner = node.params["share_weights_with"] or node.name
        graph = self.document.graph
        twin = new_node(graph, node.type, {**node.params, "share_weights_with": owner},
                        (node.position[0], node.position[1] + 180))
        twin.position = free_position(graph, twin.position, node_size(graph, twin))
        if not self.push(AddNode(twin)):
            return None
        self.scene.select([twin.id])
        return twin.id

    def auto_layout(self) -> None:
        command = layout_command(self.document.graph)
        if command is not None and self.push(command):
            self.view.frame_all()

    # -- problems and fixes ----------------------------------------------------------------
    def reveal_problem(self, problem) -> None:
        """Select and centre the problem's edge or node."""
        if problem.edge_id and problem.edge_id in self.scene.edge_items:
            self.scene.select(edge_ids=[problem.edge_id])
            self.view.centre_on_items([self.scene.edge_items[problem.edge_id]])
        elif problem.node_id and problem.node_id in self.scene.node_items:
            self.scene.select([problem.node_id])
            self.view.centre_on_items([self.scene.node_items[problem.node_id]])

    def apply_fix(self, fix) -> None:
        if self.document.graph.has_edge(fix.edge_id):
            self.push(apply_fix(self.document.graph, fix))

    def apply_first_fix(self) -> None:
        analysis = self.document.analysis
        fixes = [p.fix for p in (analysis.problems if analysis else []) if p.fix]
        if fixes:
            self.apply_fix(fixes[0])

    # -- model view ----------------------------------------------------------------------
    def show_selected_model(self) -> None:
        selected = self.scene.selected_node_ids()
        if len(selected) == 1:
            self.show_model(selected[0])

    def show_model(self, node_id: str):
        """The model view (layers table) of a pretrained node; None for other nodes."""
        from app.gui.panels.model_view import ModelView

        node = self.document.graph.node(node_id)
        kind = node_type(node.type)
        if kind.category != PRETRAINED:
            return None
        if self.document.needs_loading(node):
            self._edit_failed(f"{node.name}: still loading, try again in a moment")
            return None
        try:
            card = kind.card(node, self.document.context)
        except ModelLoadError as error:
            self._edit_failed(str(error))
            return None
        dialog = self._model_views.get(node_id)
        if dialog is None:
            dialog = ModelView(node.name, card, node.params, self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.tapsChanged.connect(lambda taps: self.push(SetParams(node_id, {"taps": taps})))
            dialog.destroyed.connect(lambda: self._model_views.pop(node_id, None))
            self._model_views[node_id] = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def _refresh_model_views(self) -> None:
        """Open layer tables follow their node's params (an edit, an undo) or close with it."""
        for node_id, dialog in list(self._model_views.items()):
            if self.document.graph.has_node(node_id):
                dialog.set_params(self.document.graph.node(node_id).params)
            else:
                dialog.close()

    # -- files -----------------------------------------------------------------------------
    def new_document(self) -> None:
        if self.training_may_end() and self.maybe_save():
            self.set_document(Document())

    def new_window(self) -> MainWindow:
        window = MainWindow(settings=self.settings)
        window.show()
        return window

    def open_in_new_window(self, project: Project) -> MainWindow:
        """A project made here, not read from a file (a run's snapshot), in a new window: unsaved,
        so closing asks and Save asks where to keep it; its paths stay relative to its folder."""
        document = Document(project)
        document.undo_stack.resetClean()
        window = MainWindow(document, settings=self.settings)
        window.show()
        return window

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_folder(), PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a project here after offering to save this one. A file that cannot be read is
        reported with its place and leaves this window as it was."""
        if not (self.training_may_end() and self.maybe_save()):
            return False
        try:
            document = Document.open(path)
        except ProjectError as error:
            QMessageBox.warning(self, "Cannot open project", str(error))
            return False
        self.set_document(document)
        self._remember(Path(path))
        changed = changed_models(document.project)
        if changed:
            self.statusBar().showMessage(" · ".join(changed), 20000)
        return True

    def open_files(self, paths: list[str]) -> None:
        """Files dropped on the window: a project opens, a model file becomes a node."""
        for path in paths:
            if path.endswith(SUFFIX):
                self.open_path(path)
                return
            if is_model_file(path) or (Path(path) / "saved_model.pb").exists():
                entry = Entry(Path(path).stem, PRETRAINED, "ModelFile", {"path": path})
                self.add_entry(entry, self.view.cursor_scene_pos())

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        stem = re.sub(r"[^\w.-]+", "_", self.document.project.name).strip("._").lower() or "untitled"
        start = str(self.document.path or Path(self._last_folder()) / f"{stem}{SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as error:
            QMessageBox.warning(self, "Cannot save project",
                                f"{path} could not be written: {error.strerror or error}. "
                                "Your changes are still here; choose another place with Save As.")
            return False
        self.recovery.discard()
        self._remember(path)
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def show_project_info(self) -> ProjectInfoDialog:
        """File ▸ Project Info…: the name and description exports and reports carry."""
        self.project_info_dialog = ProjectInfoDialog(self.document, self)
        self.project_info_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.project_info_dialog.show()
        return self.project_info_dialog

    def show_export(self) -> ExportDialog:
        """File ▸ Export…: a window-modal dialog over the current project (its trained weights too)."""
        if self.export_dialog is not None and self.export_dialog.running:
            self.export_dialog.raise_()
            return self.export_dialog
        if self.export_dialog is not None:
            self.export_dialog.deleteLater()  # the last one, done: each export starts afresh
        from app.gui.export_dialog import ExportDialog  # the export formats: not needed at launch

        dialog = ExportDialog(self.document.project, self.settings, self)
        dialog.finished_export.connect(lambda result: self.statusBar().showMessage(result.message, 10000))
        dialog.open()
        self.export_dialog = dialog
        return dialog

    def maybe_save(self) -> bool:
        """Ask before unsaved changes would be lost; False when the user cancels."""
        if not self.document.modified:
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        return QMessageBox.question(self, "Unsaved changes",
                                    f"Save the changes to {self.document.title} before closing?",
                                    buttons, QMessageBox.StandardButton.Save)

    def autosave(self) -> None:
        """Every two minutes: unsaved changes go to the recovery file, never to the project."""
        if not self.document.modified:
            self.recovery.discard()
            return
        try:
            self.recovery.write(self.document.project, self.document.text())
        except OSError as error:  # a full disk or a refused folder: said, and tried again next time
            self.statusBar().showMessage(
                f"Autosave failed: cannot write {error.filename or self.recovery.path}: "
                f"{error.strerror or error}; free some space or make the folder writable. "
                "Your changes are still here: save them.", 15000)

    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self.recent_files() if p != str(path.resolve())]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path, lambda p=path: self.open_path(p))
            action.setEnabled(Path(path).exists())
        if not self.recent_menu.actions():
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def _last_folder(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def recover(self, found: recovery.Recovered) -> bool:
        """Open a crashed session's autosave here, marked unsaved."""
        try:
            project: Project = found.project()
        except ProjectError as error:
            QMessageBox.warning(self, "Cannot recover", f"The recovery file is damaged: {error}")
            found.forget()
            return False
        document = Document(project)
        document.undo_stack.resetClean()  # unsaved until the user saves
        self.set_document(document)
        self.autosave()  # this window's recovery file takes over
        found.forget()
        return True

    # -- training --------------------------------------------------------------------------
    def show_training(self, tab: str | None = None) -> None:
        """Show the Training dock (tall enough for its plots), optionally on one of its tabs."""
        dock = self.training_dock
        dock.show()
        dock.raise_()
        wanted = max(460, round(self.height() * 0.45))
        if dock.height() < wanted and not dock.isFloating():
            self.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)
        training = self.training
        pages = {"setup": training.setup_page, "plots": training.plots, "results": training.results,
                 "runs": training.runs}
        if tab in pages:
            self.training.tabs.setCurrentWidget(pages[tab])

    def _save_for_training(self) -> bool:
        """Start found the project unsaved: offer to save it (runs are kept beside it)."""
        return self.ask_save_for_training() and self.save()

    def ask_save_for_training(self) -> bool:
        answer = QMessageBox.question(
            self, "Save before training",
            "A training run keeps its weights and history next to the project file, so the project "
            "must be saved first. Save it now?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        return answer == QMessageBox.StandardButton.Save

    def training_may_end(self) -> bool:
        """Before the document goes (close, New, Open): a running training is stopped, if the
        user agrees, and waited for; its weights so far are stored in the project first."""
        if not self.training.busy:
            return True
        if not self.ask_stop_training():
            return False
        self.statusBar().showMessage("Stopping training…")
        self.training.shutdown()
        return True

    def ask_stop_training(self) -> bool:
        answer = QMessageBox.question(
            self, "Training in progress",
            "A training run is in progress. Stop it? The weights trained so far are kept, and "
            "Train ▸ Resume Last Run goes on from the epoch it stopped in.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    # -- window ----------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        apply_theme(QApplication.instance(), name)
        self.settings.setValue("theme", name)
        for window in _windows:
            for action in window.actions():
                if action.data():
                    action.setIcon(icon(action.data()))
            window.scene.update()
            window.training.apply_theme()
            window.view.viewport().update()
            window.view.resetCachedContent()

    def show_shortcuts(self) -> Shortcuts:
        return self._show_help(Shortcuts(self.actions(), self))

    def show_about(self) -> About:
        return self._show_help(About(self))

    def show_getting_started(self) -> GettingStarted:
        dialog = GettingStarted(self)
        dialog.exampleChosen.connect(self.open_example)
        return self._show_help(dialog)

    def _show_help(self, dialog):
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_example(self, path: Path) -> bool:
        """File ▸ Examples, Getting Started: a shipped example as an unsaved copy (see help.py)."""
        if not (self.training_may_end() and self.maybe_save()):
            return False
        try:
            document = example_document(path)
        except ProjectError as error:
            QMessageBox.warning(self, "Cannot open example", str(error))
            return False
        self.set_document(document)
        return True

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_files(paths)
            event.acceptProposedAction()

    def closeEvent(self, event):
        if self.export_dialog is not None and self.export_dialog.running:
            self.statusBar().showMessage("An export is running; close the window when it has finished.", 8000)
            event.ignore()
            return
        if not (self.training_may_end() and self.maybe_save()):
            event.ignore()
            return
        self.autosave_timer.stop()
        self.recovery.release()
        self._release_document()
        if self in _windows:
            _windows.remove(self)
        event.accept()

