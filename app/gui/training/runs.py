"""The Runs tab: every run of the project as its runs folder has it (this session's, earlier
sessions' and `graft train`'s), in a sortable table. A tick overlays a run's epochs in the
Plots tab, in a colour of its own and named in the legend; a run's name, tags and notes are
edited in place and written to its run.json (they are the run's, not the project's: no undo)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.training.record import write_user_fields
from app.core.training.runs import UNREADABLE, RunSummary, list_runs
from app.core.training.store import read_history
from app.gui.document import Subscriptions
from app.gui.theme import colors

COLUMNS = ("Name", "Date", "Status", "Phases", "Best", "Duration", "Tags", "Notes")
NAME, DATE, STATUS, PHASES, BEST, DURATION, TAGS, NOTES = range(len(COLUMNS))
EDITABLE = (NAME, TAGS, NOTES)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # what a column sorts by, where its text would mislead
HINT = "Tick runs to overlay their curves in Plots. Double-click a name, tags or notes to edit them."
EMPTY_TEXT = "No runs yet. Start Training (F5) makes one; runs of graft train are listed here too."


class _Cell(QTableWidgetItem):
    """Sorts by its SORT_ROLE value where it has one (dates, numbers), else by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return (mine is None, self.text().lower()) < (theirs is None, other.text().lower())
        return mine < theirs


class RunsView(QWidget):
    """The table of the project's runs, over the Training dock's `plots`."""

    statusMessage = Signal(str, int)

    def __init__(self, plots, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots = plots
        self.document = None
        self.runs: list[RunSummary] = []
        self._links = Subscriptions()
        self._filling = False

        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "hint")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the project's runs folder again")
        self.refresh_button.clicked.connect(self.refresh)
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
        self.plots.earlierRunsChanged.connect(self.sync_ticks)

        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 0)
        top.addWidget(self.hint, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label, 1)

    # -- the document ----------------------------------------------------------------------
    def set_document(self, document) -> None:
        """List another project's runs; a Save As elsewhere lists the runs beside its new file."""
        self._links.clear()
        self.document = document
        self._links.connect(document.fileChanged, self.refresh)  # saved, perhaps somewhere else
        self.refresh()

    def release_document(self) -> None:
        self._links.clear()

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

    # -- ticks: runs in the plots ----------------------------------------------------------
    def _shown_as(self, run: RunSummary) -> str | None:
        """The label the run has in the plots, if it is there: its name, or its folder's (the
        dock names this session's runs and the newest one on disk by their folders)."""
        earlier = self.plots.earlier_runs
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
