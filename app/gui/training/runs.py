"""The Runs tab: every run of the project as its runs folder has it (this session's, earlier
sessions' and `graft train`'s), in a sortable table. A tick overlays a run's epochs in the
Plots tab, in a colour of its own and named in the legend; a run's name, tags and notes are
edited in place and written to its run.json (they are the run's, not the project's: no undo).

Selected runs can be compared (two, side by side: compare_view.py), opened as a project of
their own (the run's snapshot, in a new window), have their weights used by this project (one
undoable command, once they are found to fit the graph) and be deleted (moved aside by an
undoable command; closing the project removes them for good). Each has a button, a place in
the right-click menu and a key while the table has the focus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.document.fileformat import snapshot
from app.core.document.paths import inside, stored_path
from app.core.editing.commands import edit_training
from app.core.training.compare import compare_records, graph_differences
from app.core.training.record import RUNNING, RecordError, read_record, recorded_project, write_user_fields
from app.core.training.runs import (
    UNREADABLE,
    DeleteRuns,
    RunSummary,
    RunWeightsError,
    checked_run_weights,
    empty_trash,
    list_runs,
    run_weights,
)
from app.core.training.store import read_history
from app.gui.background import LOADER, Job
from app.gui.document import Subscriptions
from app.gui.theme import colors
from app.gui.training.banner import Banner
from app.gui.training.compare_view import CompareDialog

if TYPE_CHECKING:
    from app.gui.training.plots import TrainingPlots

COLUMNS = ("Name", "Date", "Status", "Phases", "Best", "Duration", "Tags", "Notes")
NAME, DATE, STATUS, PHASES, BEST, DURATION, TAGS, NOTES = range(len(COLUMNS))
EDITABLE = (NAME, TAGS, NOTES)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # what a column sorts by, where its text would mislead
HINT = ("Tick runs to overlay their curves in Plots. Double-click a name, tags or notes to edit them. "
        "Select two to compare them; right-click for more.")
SHIFT_F10 = QKeySequence("Shift+F10")[0].toCombined()  # the right-click menu, from the keyboard
EMPTY_TEXT = "No runs yet. Start Training (F5) makes one; runs of graft train are listed here too."


class _Cell(QTableWidgetItem):
    """Sorts by its SORT_ROLE value where it has one (dates, numbers), else by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return (mine is None, self.text().lower()) < (theirs is None, other.text().lower())
        return mine < theirs


class RunsView(QWidget):
    """The table of the project's runs, over the Training dock's plots: `plots()` returns them,
    built if need be, and `plots_built()` says whether they are (no run is in plots not built
    yet; the dock connects their `earlierRunsChanged` to `sync_ticks` when it builds them).
    `training_now` is the folder of the run this editor is training (the dock sets it): that
    one cannot be deleted."""

    statusMessage = Signal(str, int)
    openProjectRequested = Signal(object)  # a Project: a run's snapshot, for a new window

    def __init__(self, plots: Callable[[], TrainingPlots], plots_built: Callable[[], bool],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._plots = plots
        self._plots_built = plots_built
        self.document = None
        self.runs: list[RunSummary] = []
        self.training_now: Path | None = None
        self.compare_dialog: CompareDialog | None = None
        self._links = Subscriptions()
        self._filling = False
        self._stack_index = 0  # where the undo stack was: an undone delete brings runs back
        self._trashes: set[Path] = set()  # runs folders this project deleted runs from

        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "hint")
        self.banner = Banner()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the project's runs folder again")
        self.refresh_button.clicked.connect(self.refresh)
        self._build_actions()
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(DATE, Qt.SortOrder.DescendingOrder)  # the newest run first
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._update_actions)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self.show_menu)
        self.table.installEventFilter(self)

        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 0)
        top.addWidget(self.hint, 1)
        for action in (self.compare_action, self.open_action, self.use_weights_action, self.delete_action):
            button = QPushButton(action.text().replace("…", ""))
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda button=button, action=action: button.setEnabled(action.isEnabled()))
            button.setEnabled(action.isEnabled())
            top.addWidget(button)
        top.addWidget(self.refresh_button)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(8, 0, 8, 0)
        banner_row.addWidget(self.banner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(banner_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label, 1)
        self._update_actions()

    def _build_actions(self) -> None:
        """The table's actions. Their keys work while the table has the focus (see eventFilter):
        Delete and Ctrl+D mean other things to the canvas and the Edit menu."""
        def action(text: str, slot, key: str, tip: str) -> QAction:
            made = QAction(text, self)
            made.setShortcut(QKeySequence(key))  # shown in the menu; the table handles the key
            made.setToolTip(f"{tip} ({QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)})")
            made.triggered.connect(slot)
            return made

        self.compare_action = action("&Compare", self.compare_selected, "Ctrl+D",
                                     "Show what changed between the two selected runs, side by side")
        self.open_action = action("&Open as Project", self.open_selected, "Ctrl+Shift+O",
                                  "Open the selected run's project, as it trained, in a new window")
        self.use_weights_action = action("&Use These Weights", self.use_selected_weights, "Ctrl+U",
                                         "Make the selected run's weights the project's trained weights")
        self.delete_action = action("&Delete…", self.delete_selected, "Del",
                                    "Delete the selected runs (Edit ▸ Undo brings them back until the "
                                    "project is closed)")
        self.table_actions = [self.compare_action, self.open_action, self.use_weights_action,
                              self.delete_action]
        self._keys = {action.shortcut()[0].toCombined(): action for action in self.table_actions}
        self._keys[QKeySequence(Qt.Key.Key_Backspace)[0].toCombined()] = self.delete_action

    @property
    def plots(self) -> TrainingPlots:
        return self._plots()

    # -- the document ----------------------------------------------------------------------
    def set_document(self, document) -> None:
        """List another project's runs; a Save As elsewhere lists the runs beside its new file."""
        self.release_document()
        self.document = document
        self._stack_index = document.undo_stack.index()
        self._links.connect(document.fileChanged, self.refresh)  # saved, perhaps somewhere else
        self._links.connect(document.undo_stack.indexChanged, self._stack_moved)
        self.refresh()

    def release_document(self) -> None:
        """The project closes (the window closes or shows another one): hear no more from it,
        and remove the runs it deleted for good, since their delete can no longer be undone."""
        self._links.clear()
        for runs in self._trashes:
            empty_trash(runs)
        self._trashes.clear()
        self.banner.hide()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()  # a run of `graft train` in a terminal meanwhile

    # -- the table -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the runs folder again and fill the table, keeping its sort order and the selection."""
        project = self.document.project if self.document is not None else None
        self.runs = list_runs(project) if project is not None else []
        selected = {self._folder(index.row()) for index in self.table.selectionModel().selectedRows()}
        self._filling = True
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            for column, cell in enumerate(self._cells(run, row)):
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(True)
        self._filling = False
        self.sync_ticks()
        for row in range(self.table.rowCount()):
            if self._folder(row) in selected:
                self.table.selectRow(row)
        self.table.resizeColumnsToContents()
        for column in (NAME, PHASES, TAGS):  # long names and tags are cut, not the notes' room
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), 220))
        self.table.setVisible(bool(self.runs))
        self.empty_label.setVisible(not self.runs)

    def _cells(self, run: RunSummary, order: int) -> list[QTableWidgetItem]:
        """`order`: the run's place by folder number, which breaks ties of dates (runs started
        within one second, as scripts start them)."""
        texts = (run.name, run.date_text, run.status, ", ".join(run.phases), run.best_text,
                 run.duration_text, ", ".join(run.tags), run.notes.strip().replace("\n", " ⏎ "))
        sort_keys = {DATE: (run.started.timestamp(), order), BEST: run.best, DURATION: run.duration_s}
        cells = []
        for column, text in enumerate(texts):
            cell = _Cell(text)
            cell.setData(SORT_ROLE, sort_keys.get(column))
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if column in EDITABLE and run.status != UNREADABLE:
                flags |= Qt.ItemFlag.ItemIsEditable
            if column == NAME:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
                cell.setData(Qt.ItemDataRole.UserRole, str(run.folder))
                cell.setCheckState(Qt.CheckState.Unchecked)
                cell.setToolTip(f"{run.folder}\nTick to overlay its curves in Plots")
            elif column == NOTES and run.notes:
                cell.setToolTip(run.notes)
            elif column == STATUS and run.status == UNREADABLE:
                cell.setForeground(QBrush(QColor(colors().error)))
                cell.setToolTip("Its run.json or state.json cannot be read")
            cell.setFlags(flags)
            cells.append(cell)
        return cells

    def _folder(self, row: int) -> Path | None:
        cell = self.table.item(row, NAME)
        return Path(cell.data(Qt.ItemDataRole.UserRole)) if cell is not None else None

    def _run(self, row: int) -> RunSummary | None:
        folder = self._folder(row)
        return next((run for run in self.runs if run.folder == folder), None)

    def row_of(self, name: str) -> int:
        """The row showing the run called `name` (or in the folder `name`), or -1."""
        for row in range(self.table.rowCount()):
            run = self._run(row)
            if run is not None and name in (run.name, run.folder.name):
                return row
        return -1

    def selected_runs(self) -> list[RunSummary]:
        """The selected rows' runs, top to bottom."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [run for run in map(self._run, rows) if run is not None]

    def select(self, *names: str) -> None:
        """Select the runs called `names` (or in those folders), and only them."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for name in names:
            self.table.selectRow(self.row_of(name))
        self.table.setSelectionMode(mode)

    def _update_actions(self) -> None:
        selected = self.selected_runs()
        readable = [run for run in selected if run.status != UNREADABLE]
        self.compare_action.setEnabled(len(readable) == 2 == len(selected))
        self.open_action.setEnabled(len(readable) == 1 == len(selected))
        self.use_weights_action.setEnabled(len(readable) == 1 == len(selected) and self.document is not None)
        self.delete_action.setEnabled(bool(selected) and self.document is not None)

    def show_menu(self, at=None) -> QMenu:
        """The right-click menu (also the Menu key and Shift+F10) over the selected runs."""
        menu = QMenu(self)
        menu.addActions(self.table_actions[:3])
        row = self.table.currentRow()
        run = self._run(row) if row >= 0 else None
        if run is not None:
            ticked = self._shown_as(run) is not None
            overlay = menu.addAction("Hide from Plots" if ticked else "Overlay in Plots")
            overlay.triggered.connect(lambda: self.set_ticked(self.row_of(run.folder.name), not ticked))
            rename = menu.addAction("Rename")
            rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
            rename.triggered.connect(lambda: self.table.editItem(self._name_cell(run)))
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.addAction("Refresh", self.refresh)
        if at is None:  # from the keyboard: beside the current row
            rect = self.table.visualRect(self.table.currentIndex())
            at = rect.bottomLeft() if rect.isValid() else self.table.rect().center()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.table.viewport().mapToGlobal(at))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The table's keys go to its actions, before the window's shortcuts see them."""
        if watched is self.table and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            combined = event.keyCombination().toCombined()
            menu_key = combined == SHIFT_F10
            if combined in self._keys or menu_key:
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    if menu_key:
                        self.show_menu()
                    elif self._keys[combined].isEnabled():
                        self._keys[combined].trigger()
                return True
        return super().eventFilter(watched, event)

    def _name_cell(self, run: RunSummary) -> QTableWidgetItem | None:
        """The run's Name cell as the table is now (a refresh makes new cells)."""
        return self.table.item(self.row_of(run.folder.name), NAME)

    def _single(self) -> RunSummary | None:
        selected = self.selected_runs()
        if len(selected) != 1:
            self._tell("info", "Select one run for this.")
            return None
        return selected[0]

    def _tell(self, kind: str, text: str) -> None:
        self.banner.show_message(kind, text)
        self.statusMessage.emit(text, 10000)

    # -- compare, open, use weights, delete --------------------------------------------------
    def compare_selected(self) -> CompareDialog | None:
        """The two selected runs side by side, the earlier on the left (so a difference reads as
        what the later run changed)."""
        selected = sorted(self.selected_runs(), key=lambda run: (run.started, run.folder.name))
        if len(selected) != 2:
            self._tell("info", "Select two runs to compare them (Ctrl+click the second).")
            return None
        records = [read_record(run.folder) for run in selected]
        if None in records:
            self._tell("error", f"Cannot compare: {selected[records.index(None)].folder} can no longer be "
                       "read; refresh the list")
            return None
        if self.compare_dialog is not None:
            self.compare_dialog.close()
            self.compare_dialog.deleteLater()
        self.compare_dialog = CompareDialog(compare_records(*records), self)
        self.compare_dialog.show()
        return self.compare_dialog

    def open_selected(self) -> None:
        """The selected run's project as it trained, in a new, unsaved window (paths found from
        the original project's folder), with the run's weights as its trained weights."""
        run = self._single()
        if run is None:
            return
        try:
            project, _ = recorded_project(run.folder)
        except RecordError as error:
            self._tell("error", f"Cannot open {run.name} as a project: {error}")
            return
        if not project.folder.is_dir():  # the project moved since: its runs folder is beside it now
            project.folder = run.folder.parent.parent
        project.path = None
        project.name = f"{project.name} ({run.name})"
        weights = run_weights(run.folder)
        project.training = project.training.replaced(
            weights=stored_path(weights, project.folder) if weights else None)
        self.openProjectRequested.emit(project)
        self.statusMessage.emit(f"Opened {run.name}'s project in a new window; Save asks where to keep it",
                                6000)

    def use_selected_weights(self) -> None:
        """Check, off the UI thread, that the run's weights load into the graph as it is now; then
        make them the project's trained weights as one undoable command."""
        run = self._single()
        if run is None or self.document is None:
            return
        project, document = snapshot(self.document.project), self.document
        job = Job(lambda report: checked_run_weights(project, run.folder), name="Checking a run's weights")
        job.returned.connect(lambda weights: self._use_weights(document, run, weights))
        job.failed.connect(lambda failure: self._weights_refused(document, run, failure.error))
        self.statusMessage.emit(f"Checking that {run.name}'s weights fit the graph…", 0)
        job.start(LOADER)

    def _use_weights(self, document, run: RunSummary, weights: Path) -> None:
        if document is not self.document or document.closed:
            return  # another project meanwhile
        training = document.project.training
        relative = stored_path(weights, document.project.folder)
        if training.weights == relative:
            self._tell("info", f"The project already uses {run.name}'s weights.")
            return
        if document.push(edit_training(training, f"Use weights of {run.name}", weights=relative)):
            recorded = (read_record(run.folder) or {}).get("project") or {}
            changes = (graph_differences(recorded["document"], document.project.to_dict())
                       if isinstance(recorded.get("document"), dict) else [])
            note = (f" They fit, though the graph differs from the run's in {changes[0].what} "
                    f"({changes[0].left} → {changes[0].right})." if changes else "")
            self._tell("ok", f"The project's trained weights are now {run.name}'s ({relative}); "
                       f"Ctrl+Z undoes it, saving keeps it.{note}")

    def _weights_refused(self, document, run: RunSummary, error: BaseException) -> None:
        if document is not self.document or document.closed:
            return
        if isinstance(error, RunWeightsError):  # it names the run and what to do
            self._tell("error", f"{str(error)[:1].upper()}{str(error)[1:]}.")
        else:
            self._tell("error", f"Cannot use {run.name}'s weights: {type(error).__name__}: {error}")

    def delete_selected(self) -> bool:
        """Ask, then move the selected runs aside as one undoable command."""
        selected = self.selected_runs()
        if not selected or self.document is None:
            return False
        now = self.training_now.resolve() if self.training_now is not None else None
        busy = [run for run in selected if run.folder.resolve() == now]
        if busy:
            self._tell("error", f"Cannot delete {busy[0].name}: it is training now; stop it (Shift+F5) "
                       "first.")
            return False
        if not self.ask_delete(self._delete_question(selected)):
            return False
        try:
            self.document.push(DeleteRuns([run.folder for run in selected]))
        except OSError as error:
            where = error.filename or selected[0].folder
            self._tell("error", f"Cannot delete: {where} could not be moved ({error.strerror or error}); "
                       "nothing was deleted. Close what uses it and try again.")
            return False
        self._trashes.add(selected[0].folder.parent)
        for run in selected:
            label = self._shown_as(run)
            if label is not None:
                self.plots.remove_earlier_run(label)
        self.refresh()
        self.statusMessage.emit(f"Deleted {_names(selected)}; Edit ▸ Undo (Ctrl+Z) brings "
                                f"{'it' if len(selected) == 1 else 'them'} back", 8000)
        return True

    def _delete_question(self, runs: list[RunSummary]) -> str:
        lines = [f"Delete {_names(runs)}? {'It moves' if len(runs) == 1 else 'They move'} aside: Edit ▸ "
                 "Undo (Ctrl+Z) brings them back until the project is closed, which removes them for good."]
        weights = self.document.project.training.weights
        if weights:
            used = self.document.project.context.resolve(weights)
            owner = next((run for run in runs if inside(used, run.folder)), None)
            if owner is not None:
                lines.append(f"The project uses {owner.name}'s weights ({weights}): it will have no "
                             "trained weights once the run is gone.")
        running = [run.name for run in runs if run.status == RUNNING]
        if running:
            lines.append(f"{', '.join(running)} says it is still training (graft train in a terminal?); "
                         "deleting it makes that run fail.")
        return "\n\n".join(lines)

    def ask_delete(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Delete runs", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def _stack_moved(self, index: int) -> None:
        """An undo or redo of a delete: its runs come back or go again."""
        stack = self.document.undo_stack
        low, high = sorted((self._stack_index, index))
        self._stack_index = index
        if any(isinstance(getattr(stack.command(i), "command", None), DeleteRuns) for i in range(low, high)):
            self.refresh()

    # -- ticks: runs in the plots ----------------------------------------------------------
    def _shown_as(self, run: RunSummary) -> str | None:
        """The label the run has in the plots, if it is there: its name, or its folder's (the
        dock names this session's runs and the newest one on disk by their folders)."""
        earlier = self.plots.earlier_runs if self._plots_built() else []
        return next((label for label in (run.name, run.folder.name) if label in earlier), None)

    def sync_ticks(self) -> None:
        """A run is ticked while its curves are in the plots, however they got there."""
        self._filling = True
        for row in range(self.table.rowCount()):
            run = self._run(row)
            if run is not None:
                shown = self._shown_as(run) is not None
                self.table.item(row, NAME).setCheckState(Qt.CheckState.Checked if shown
                                                         else Qt.CheckState.Unchecked)
        self._filling = False

    def set_ticked(self, row: int, ticked: bool) -> None:
        self.table.item(row, NAME).setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def _overlay(self, run: RunSummary, shown: bool) -> None:
        label = self._shown_as(run)
        if not shown:
            if label is not None:
                self.plots.remove_earlier_run(label)
            return
        if label is not None:
            return
        history = read_history(run.folder)
        self.plots.add_earlier_run(run.name, history)
        if self._shown_as(run) is None:  # nothing to draw: no epoch ended yet, or no history
            self.statusMessage.emit(f"{run.name} has no epochs to plot yet", 5000)
            self.sync_ticks()

    # -- edits -----------------------------------------------------------------------------
    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        run = self._run(item.row())
        if run is None:
            return
        column = item.column()
        if column == NAME:
            ticked = item.checkState() == Qt.CheckState.Checked
            if ticked != (self._shown_as(run) is not None):
                self._overlay(run, ticked)
            if item.text().strip() != run.name:
                self._write(run, name=item.text())
        elif column == TAGS:
            tags = [tag.strip() for tag in item.text().split(",") if tag.strip()]
            if tags != list(run.tags):
                self._write(run, tags=tags)
        elif column == NOTES and item.text() != run.notes.strip().replace("\n", " ⏎ "):
            self._write(run, notes=item.text().replace(" ⏎ ", "\n"))

    def _write(self, run: RunSummary, **fields) -> None:
        """A name, tags or notes into the run's run.json; the table shows what is on disk after."""
        label = self._shown_as(run)
        try:
            write_user_fields(run.folder, **fields)
        except (ValueError, OSError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            self.statusMessage.emit(f"Cannot change {run.name}: {reason}", 10000)
        else:
            if "name" in fields and label is not None:  # its legend entry takes the new name
                self.plots.remove_earlier_run(label)
                self.plots.add_earlier_run(fields["name"].strip(), read_history(run.folder))
            self.statusMessage.emit(f"{run.folder.name}: saved in its run.json", 4000)
        QTimer.singleShot(0, self.refresh)  # not while the table is still handling the edit

    def apply_theme(self) -> None:
        self.refresh()
        if self.banner.isVisible():
            self.banner.apply_theme()


def _names(runs: list[RunSummary]) -> str:
    """`run-002`, `run-002 and run-003`, `run-001, run-002 and run-003`."""
    names = [run.name for run in runs]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
