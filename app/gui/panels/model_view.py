"""The model view: a pretrained node's layers as that node uses them, opened by
double-clicking the node.

It answers what freezing and taps leave open: which layers learn under the node's settings,
what each layer outputs, which ones are tapped. Models reach 800+ layers, so the table is a
model/view pair behind a sort-and-filter proxy rather than a widget per cell."""

from __future__ import annotations

from pathlib import PurePath

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.cards.card import LayerInfo, ModelCard
from app.core.graph.specs import element_count, format_shape
from app.core.nodes.pretrained import TAP_PREFIX, trainable_count, trainable_flags
from app.gui.theme import colors

COLUMNS = ("Layer", "Type", "Output shape", "Parameters", "Trainable")
LAYER, TYPE, SHAPE, PARAMS, TRAINABLE = range(len(COLUMNS))

SORT_ROLE = Qt.ItemDataRole.UserRole  # numbers sort as numbers, names without case
# The filter matches the layer column's name and type, one per line so no match spans both.
FILTER_ROLE = Qt.ItemDataRole.UserRole + 1

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_ALIGNMENT = {PARAMS: _RIGHT, TRAINABLE: Qt.AlignmentFlag.AlignCenter}


class LayerTableModel(QAbstractTableModel):
    """A card's layers with the node's effective trainable flags. Tapped layers are bold, and
    the check box beside a layer's name taps it (exposes it as an output port)."""

    tapsChanged = Signal(list)  # the layer names to tap, in the model's layer order

    def __init__(self, card: ModelCard, params: dict, parent=None):
        super().__init__(parent)
        self._layers = card.layers
        self._tap_font = QFont()
        self._tap_font.setBold(True)
        self.set_params(params)

    def set_params(self, params: dict) -> None:
        """Follow the node's current freezing and taps (after an edit or an undo)."""
        self._trainable = trainable_flags(len(self._layers), params)
        self._taps = set(params.get("taps", ()))
        if self._layers:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._layers) - 1, len(COLUMNS) - 1))

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.column() == LAYER and self._layers[index.row()].output is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable  # layers with several outputs cannot be tapped
        return flags

    def setData(self, index: QModelIndex, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != LAYER:
            return False
        name = self._layers[index.row()].name
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        taps = (self._taps | {name}) if checked else (self._taps - {name})
        self.tapsChanged.emit([layer.name for layer in self._layers if layer.name in taps])
        return True  # the node's new params come back through set_params

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own default argument
        return 0 if parent.isValid() else len(self._layers)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Vertical:
            # The layer's place in the model: the proxy keeps it with its row through sorting and
            # filtering, and it is what `last_n` freezing counts from the end of.
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGNMENT.get(section, _LEFT)
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        layer, trainable = self._layers[index.row()], self._trainable[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(layer, trainable, column)
        if role == SORT_ROLE:
            return _sort_key(layer, trainable, column)
        if role == FILTER_ROLE and column == LAYER:
            return f"{layer.name}\n{layer.class_name}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGNMENT.get(column, _LEFT)
        tapped = layer.name in self._taps
        if role == Qt.ItemDataRole.CheckStateRole and column == LAYER and layer.output is not None:
            return Qt.CheckState.Checked if tapped else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.FontRole and tapped:
            return self._tap_font
        if role == Qt.ItemDataRole.ToolTipRole and tapped:
            return f"Tapped: the node's output port {TAP_PREFIX}{layer.name}"
        if role == Qt.ItemDataRole.ForegroundRole and column == TRAINABLE and not trainable:
            return QColor(colors().dim_text)
        return None


def _text(layer: LayerInfo, trainable: bool, column: int) -> str:
    if column == LAYER:
        return layer.name
    if column == TYPE:
        return layer.class_name
    if column == SHAPE:
        return "several outputs" if layer.output is None else format_shape(layer.output.shape)
    if column == PARAMS:
        return f"{layer.params:,}"
    return "yes" if trainable else "no"


def _sort_key(layer: LayerInfo, trainable: bool, column: int) -> str | int:
    if column == LAYER:
        return layer.name.casefold()
    if column == TYPE:
        return layer.class_name.casefold()
    if column == SHAPE:  # by size per example; unknown sizes and several outputs first
        count = None if layer.output is None else element_count(layer.output.features)
        return -1 if count is None else count
    if column == PARAMS:
        return layer.params
    return int(trainable)


class ModelView(QDialog):
    """The layer table of one pretrained node, with a filter by layer name or type; ticking a
    layer taps it."""

    tapsChanged = Signal(list)  # the layer names the user wants tapped

    def __init__(self, node_name: str, card: ModelCard, params: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Layers of {node_name}")
        self.resize(780, 560)

        self.layers = LayerTableModel(card, params, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.layers)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterRole(FILTER_ROLE)
        self.proxy.setFilterKeyColumn(LAYER)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by layer name or type")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter)
        self.shown_label = _label("", "dim")
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.shown_label)

        self.table = self._table()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        self._card = card
        self.header = QWidget()
        QVBoxLayout(self.header).setContentsMargins(0, 0, 0, 0)
        self.layers.tapsChanged.connect(self.tapsChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addSpacing(4)
        layout.addLayout(filter_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.set_params(params)
        self._filter("")

    def set_params(self, params: dict) -> None:
        """Show the node's current freezing and taps."""
        self.layers.set_params(params)
        header = self.header.layout()
        while header.count():
            header.takeAt(0).widget().deleteLater()
        for line in _header(self._card, params):
            header.addWidget(line)

    def _table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.proxy)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setShowGrid(False)
        header = table.horizontalHeader()
        header.setSortIndicatorClearable(True)  # a third click goes back to the model's order
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        header.setHighlightSections(False)
        header.setResizeContentsPrecision(200)  # measure a sample, not all 800 rows
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LAYER, QHeaderView.ResizeMode.Stretch)
        rows = table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows stay fast when long
        rows.setDefaultSectionSize(table.fontMetrics().height() + 8)
        rows.setDefaultAlignment(_RIGHT)
        return table

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        shown, total = self.proxy.rowCount(), self.layers.rowCount()
        self.shown_label.setText(f"{total:,} layers" if shown == total else f"{shown:,} of {total:,} layers")


def _header(card: ModelCard, params: dict) -> list[QLabel]:
    """Where the model comes from, what goes in and out, and how much of it learns."""
    source = _label(PurePath(card.source).name or card.source, "heading")
    source.setToolTip(card.source)
    inputs = ", ".join(format_shape(spec.shape) for spec in card.inputs)
    outputs = ", ".join(format_shape(spec.shape) for spec in card.outputs)
    shapes = _label(f"Input {inputs}  →  output {outputs}")
    counts = _label(f"{card.params:,} parameters, {trainable_count(card, params):,} trainable"
                    f"  ·  {_freezing(params)}", "dim")
    taps = params.get("taps", [])
    if not taps:
        return [source, shapes, counts]
    return [source, shapes, counts, _label(f"Tapped (in bold): {', '.join(taps)}", "dim")]


def _freezing(params: dict) -> str:
    mode = params["trainable"]
    if mode == "last_n":
        n = params["trainable_last_n"]
        return f"last {n} layer{'s' if n != 1 else ''} trainable"
    return "every layer trainable" if mode == "trainable" else "frozen"


def _label(text: str, role: str = "") -> QLabel:
    """Plain text (names come from model files) with the theme's role styling."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if role:
        label.setProperty("role", role)
    return label
