"""The Problems panel: every error, warning and note from the live analysis. Clicking one
selects and centres its node or edge; a fixable one carries its one-click fix."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QPushButton, QTreeWidget, QTreeWidgetItem

from app.core.analysis.fixes import Fix
from app.core.analysis.validate import Problem
from app.gui.theme import icon

_ICONS = {"error": "error", "warning": "warning", "info": "info"}
EMPTY_GRAPH = ("Empty graph: add nodes from the Palette (or press Tab on the canvas), or open an example "
               "from File ▸ Examples or Help ▸ Getting Started.")


class ProblemsPanel(QTreeWidget):
    problemActivated = Signal(object)  # Problem
    fixRequested = Signal(object)  # Fix

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Problem", "Fix"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setWordWrap(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)
        self._problems: list[Problem] = []
        self._waiting: str | None = None  # None: nothing shown yet
        self._empty_graph = False

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def set_problems(self, problems: list[Problem], waiting: str = "", empty_graph: bool = False) -> None:
        """`empty_graph`: nothing is on the canvas yet; a hint what to do replaces the problems
        (the one an empty graph has, no Output, is no news then)."""
        if (problems, waiting, empty_graph) == (self._problems, self._waiting, self._empty_graph):
            return
        self._problems, self._waiting, self._empty_graph = list(problems), waiting, empty_graph
        self.clear()
        if waiting:
            QTreeWidgetItem(self, [waiting])
            return
        if empty_graph:
            item = QTreeWidgetItem(self, [EMPTY_GRAPH])
            item.setIcon(0, icon("info"))
            item.setToolTip(0, EMPTY_GRAPH)
            return
        if not problems:
            item = QTreeWidgetItem(self, ["No problems: the graph is ready to compile."])
            item.setIcon(0, icon("ok"))
            return
        for problem in problems:
            item = QTreeWidgetItem(self, [problem.message])
            item.setIcon(0, icon(_ICONS[problem.severity]))
            item.setToolTip(0, str(problem))
            item.setData(0, Qt.ItemDataRole.UserRole, problem)
            if problem.fix is not None:
                self.setItemWidget(item, 1, self._fix_button(problem.fix))

    def _fix_button(self, fix: Fix) -> QPushButton:
        button = QPushButton(icon("fix"), fix.label)
        button.setToolTip(f"{fix.label} on this connection (undo with Ctrl+Z)")
        button.clicked.connect(lambda: self.fixRequested.emit(fix))
        return button

    def fix_button(self, row: int) -> QPushButton | None:
        return self.itemWidget(self.topLevelItem(row), 1)

    def _clicked(self, item: QTreeWidgetItem) -> None:
        problem = item.data(0, Qt.ItemDataRole.UserRole)
        if problem is not None:
            self.problemActivated.emit(problem)
