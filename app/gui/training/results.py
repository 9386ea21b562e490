"""What a finished run measured: the metrics on the validation data, a confusion matrix per
classifier Output (a heat map with the counts and class names), and a few predictions."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.training.events import Evaluated
from app.gui.theme import colors

EMPTY_TEXT = "Results appear here when a run ends: metrics on the validation data, a " \
             "confusion matrix for each classifier Output, and sample predictions."
_PERCENT_METRICS = ("accuracy", "acc", "precision", "recall", "auc")


def format_metric(name: str, value: float) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    if name.split("_")[-1] in _PERCENT_METRICS or name.endswith(_PERCENT_METRICS):
        return f"{value * 100:.1f} %"
    return f"{value:.4g}"


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "heading")
    return label


def _readonly_table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.horizontalHeader().setHighlightSections(False)
    return table


class ConfusionMatrix(QTableWidget):
    """Rows are the true classes, columns the predicted ones. A cell's colour is its share of
    its row: the diagonal in the theme's "ok" colour, mistakes in its "error" colour."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setShowGrid(False)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setHighlightSections(False)
            header.setMinimumSectionSize(12)
        self.matrix: list[list[int]] = []
        self.class_names: list[str] = []

    def set_matrix(self, matrix: list[list[int]], class_names: list[str] | None = None) -> None:
        size = len(matrix)
        names = list(class_names or [])[:size]
        names += [str(i) for i in range(len(names), size)]
        self.matrix, self.class_names = matrix, names
        self.clear()
        self.setRowCount(size)
        self.setColumnCount(size)
        self.setHorizontalHeaderLabels(names)
        self.setVerticalHeaderLabels(names)
        metrics = self.fontMetrics()
        largest = max([max(row, default=0) for row in matrix], default=0)
        side = max(metrics.horizontalAdvance(f"{largest:,}") + 14, metrics.height() + 12, 30)
        wide = max((metrics.horizontalAdvance(n) for n in names), default=0) + 14
        self.horizontalHeader().setDefaultSectionSize(max(side, min(wide, 90)))
        self.verticalHeader().setDefaultSectionSize(side)
        theme = colors()
        base = QApplication.palette().color(QPalette.ColorRole.Base)
        dim = QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        bold = QFont(self.font())
        bold.setBold(True)
        for r, row in enumerate(matrix):
            total = sum(row)
            for c, count in enumerate(row):
                share = count / total if total else 0.0
                tint = QColor(theme.ok if r == c else theme.error)
                # sqrt: a few mistakes in a row of many still show
                fill = _mix(base, tint, 0.15 + 0.85 * math.sqrt(share) if count else 0.0)
                item = QTableWidgetItem(f"{count:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(fill))
                item.setForeground(QBrush(_readable_on(fill) if count else dim))
                if r == c:
                    item.setFont(bold)
                item.setToolTip(f"true {names[r]}, predicted {names[c]}: {count:,} sample"
                                f"{'' if count == 1 else 's'}" + (f" ({share:.1%} of true {names[r]})"
                                                                   if total else ""))
                self.setItem(r, c, item)

    def count(self, true: int, predicted: int) -> int:
        return int(self.item(true, predicted).text().replace(",", ""))


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


def _readable_on(fill: QColor) -> QColor:
    luminance = 0.2126 * fill.redF() + 0.7152 * fill.greenF() + 0.0722 * fill.blueF()
    return QColor("#111418") if luminance > 0.5 else QColor("#f5f7fa")


class ResultsView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.evaluated: Evaluated | None = None
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setProperty("role", "dim")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.metrics_table = _readonly_table(["Metric", "Value"])
        self.metrics_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.metrics_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        metrics = QWidget()
        column = QVBoxLayout(metrics)
        column.setContentsMargins(8, 6, 4, 6)
        column.addWidget(_heading("Metrics"))
        column.addWidget(self._dim("On the validation data"))
        column.addWidget(self.metrics_table, 1)

        self.output_box = QComboBox()
        self.output_box.setToolTip("The classifier Output whose confusion matrix is shown")
        self.matrix_stack = QStackedWidget()
        self.output_box.currentIndexChanged.connect(self.matrix_stack.setCurrentIndex)
        self.matrices: dict[str, ConfusionMatrix] = {}
        self.no_matrix = self._dim("No classifier Output: nothing to count.")
        self.no_matrix.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        header = QHBoxLayout()
        header.addWidget(_heading("Confusion matrix"))
        header.addStretch(1)
        header.addWidget(self.output_box)
        confusion = QWidget()
        column = QVBoxLayout(confusion)
        column.setContentsMargins(4, 6, 4, 6)
        column.addLayout(header)
        column.addWidget(self._dim("Rows: true class · columns: predicted class"))
        column.addWidget(self.matrix_stack, 1)
        column.addWidget(self.no_matrix)

        self.preview_table = _readonly_table(["Output", "True", "Predicted", "Confidence"])
        self.preview_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        preview = QWidget()
        column = QVBoxLayout(preview)
        column.setContentsMargins(4, 6, 8, 6)
        column.addWidget(_heading("Predictions"))
        column.addWidget(self._dim("A sample of the validation data; mistakes in red"))
        column.addWidget(self.preview_table, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for widget in (metrics, confusion, preview):
            self.splitter.addWidget(widget)
        self.splitter.setSizes([260, 420, 360])
        self.content = QStackedWidget()
        self.content.addWidget(self.empty)
        self.content.addWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.content)

    @staticmethod
    def _dim(text: str) -> QLabel:
        label = QLabel(text)
        label.setProperty("role", "dim")
        label.setWordWrap(True)
        return label

    def clear(self) -> None:
        self.evaluated = None
        self.content.setCurrentWidget(self.empty)

    def show_results(self, evaluated: Evaluated) -> None:
        self.evaluated = evaluated
        table = self.metrics_table
        table.setRowCount(0)
        for name, value in evaluated.metrics.items():
            row = table.rowCount()
            table.insertRow(row)
            table.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(format_metric(name, value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(repr(value))
            table.setItem(row, 1, item)

        while self.matrix_stack.count():
            widget = self.matrix_stack.widget(0)
            self.matrix_stack.removeWidget(widget)
            widget.deleteLater()
        self.output_box.clear()
        self.matrices = {}
        for output, matrix in evaluated.confusion.items():
            view = ConfusionMatrix()
            view.set_matrix(matrix, evaluated.class_names.get(output))
            self.matrices[output] = view
            self.matrix_stack.addWidget(view)
            self.output_box.addItem(output)
        self.output_box.setVisible(len(self.matrices) > 1)
        self.no_matrix.setVisible(not self.matrices)
        self.matrix_stack.setVisible(bool(self.matrices))

        outputs = {row.get("output") for row in evaluated.preview}
        preview = self.preview_table
        preview.setColumnHidden(0, len(outputs) <= 1)
        preview.setRowCount(0)
        error = QColor(colors().error)
        for sample in evaluated.preview:
            row = preview.rowCount()
            preview.insertRow(row)
            confidence = sample.get("confidence")
            texts = [str(sample.get("output", "")), str(sample.get("true", "")),
                     str(sample.get("predicted", "")),
                     f"{confidence:.1%}" if isinstance(confidence, (int, float)) else str(confidence or "")]
            wrong = sample.get("true") != sample.get("predicted")
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if column == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if wrong:
                    item.setForeground(QBrush(error))
                    item.setToolTip(f"wrong: true {texts[1]}, predicted {texts[2]}")
                preview.setItem(row, column, item)
        self.content.setCurrentWidget(self.splitter)

    def apply_theme(self) -> None:
        if self.evaluated is not None:
            self.show_results(self.evaluated)
