"""Two runs side by side (the Runs tab's Compare, Ctrl+D): a section each for the graph, the
freezing, the setup, the data, the environment and the metrics, from `compare.compare_records`.
Changed values are highlighted; a section without a difference says so."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.training.compare import Comparison
from app.gui.theme import colors

WHAT, LEFT, RIGHT, DIFFERENCE = range(4)


class CompareDialog(QDialog):
    """A non-modal window over the Runs tab; it holds plain data, so it may outlive the runs."""

    def __init__(self, comparison: Comparison, parent: QWidget | None = None):
        super().__init__(parent)
        self.comparison = comparison
        self.setWindowTitle(f"Compare {comparison.left} and {comparison.right}")
        self.setModal(False)
        title = QLabel(f"<b>{_html(comparison.left)}</b> (left) and <b>{_html(comparison.right)}</b> "
                       "(right): what changed between them, and their metrics")
        title.setWordWrap(True)
        self.only_changes = QCheckBox("&Only what changed")
        self.only_changes.setToolTip("Hide the metrics that are the same in both runs")
        self.only_changes.toggled.connect(self._fill)
        top = QHBoxLayout()
        top.addWidget(title, 1)
        top.addWidget(self.only_changes)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["", comparison.left, comparison.right, "Difference (right − left)"])
        self.tree.setAlternatingRowColors(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(WHAT, QHeaderView.ResizeMode.Interactive)
        for column in (LEFT, RIGHT):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(DIFFERENCE, QHeaderView.ResizeMode.ResizeToContents)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self._fill()
        self.resize(900, 600)

    def _fill(self) -> None:
        self.tree.clear()
        only_changes = self.only_changes.isChecked()
        changed_fill = _tint(colors().warning, 0.22)
        bold = QFont(self.tree.font())
        bold.setBold(True)
        italic = QFont(self.tree.font())
        italic.setItalic(True)
        for section in self.comparison.sections:
            heading = QTreeWidgetItem(self.tree, [section.title])
            heading.setFont(WHAT, bold)
            heading.setFirstColumnSpanned(True)
            for note in section.notes:
                item = QTreeWidgetItem(heading, [note])
                item.setFirstColumnSpanned(True)
                item.setFont(WHAT, italic)
            for row in section.rows:
                if only_changes and not row.changed:
                    continue
                item = QTreeWidgetItem(heading, [row.what, row.left, row.right, row.difference])
                item.setToolTip(LEFT, row.left)
                item.setToolTip(RIGHT, row.right)
                if row.changed:
                    for column in (LEFT, RIGHT, DIFFERENCE):
                        item.setBackground(column, QBrush(changed_fill))
            heading.setExpanded(True)
        self.tree.resizeColumnToContents(WHAT)
        self.tree.setColumnWidth(WHAT, min(max(self.tree.columnWidth(WHAT), 160), 320))

    def rows_shown(self, title: str) -> list[list[str]]:
        """The texts of the section's lines as shown (notes and rows), for tests and scripts."""
        for index in range(self.tree.topLevelItemCount()):
            heading = self.tree.topLevelItem(index)
            if heading.text(WHAT) == title:
                return [[heading.child(i).text(c) for c in range(4)] for i in range(heading.childCount())]
        return []


def _tint(color: str, share: float) -> QColor:
    """`color` mixed into the view's background: a highlight that keeps the text readable."""
    base = QApplication.palette().color(QPalette.ColorRole.Base).getRgb()[:3]
    accent = QColor(color).getRgb()[:3]
    return QColor(*(round(b * (1 - share) + a * share) for b, a in zip(base, accent)))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
