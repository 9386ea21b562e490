"""The training setup: settings and data forms built from the config's Param schemas (with
the inspector's field widgets, so a bad value shows the schema's message and changes
nothing), a data-mapping editor, and the phases.

Every edit is one undoable command that swaps `project.training` for a new
TrainingConfig, so Ctrl+Z undoes it and the title bar marks the project unsaved."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.document.training_setup import (
    DATA,
    PHASE,
    SETTINGS,
    ConfigError,
    Phase,
    TrainingConfig,
    problems,
)
from app.core.graph.params import JSON, Param, ParamError, check_params
from app.core.graph.specs import format_shape
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT, PRETRAINED
from app.gui.panels.fields import Field, PathField, form_layout, make_field, set_style_property
from app.gui.theme import icon

NOT_MAPPED = "(not mapped)"
OWN_SETTING = "node's own"
LAST_N = "last N layers"


def _label(text: str, role: str | None = None, wrap: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    return label


def _scrolled(widget: QWidget) -> QScrollArea:
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(widget)
    return scroll


def _title(name: str) -> str:
    return name.replace("_", " ")


class SchemaForm(QWidget):
    """Rows for `schema` (less `skip`), editing one dict of the training config. A commit
    checks the whole dict against the schema; refused, the field shows why and keeps the text."""

    def __init__(self, schema: tuple[Param, ...], values: Callable[[], dict],
                 apply: Callable[[str, dict], None], skip: tuple[str, ...] = ()):
        super().__init__()
        self.schema, self._values, self._apply = schema, values, apply
        self.fields: dict[str, Field] = {}
        form = form_layout()
        line_height = None
        for param in schema:
            if param.name in skip:
                continue
            field = make_field(param)
            label = QLabel(_title(param.name))
            label.setToolTip(param.help)
            label.setBuddy(field.editor)
            if param.kind == JSON:
                form.addRow(label)
                form.addRow(field)
            else:
                line_height = line_height or field.editor.sizeHint().height()
                label.setFixedHeight(max(line_height, label.sizeHint().height()))
                form.addRow(label, field)
            field.committed.connect(lambda field=field: self._commit(field))
            field.reverted.connect(lambda field=field: self._revert(field))
            self.fields[param.name] = field
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)

    def set_base_dir(self, base_dir: Path | None) -> None:
        for field in self.fields.values():
            if isinstance(field, PathField):
                field.base_dir = base_dir

    def refresh(self) -> None:
        values = self._values()
        for name, field in self.fields.items():
            if not (field.has_error or field.is_being_edited()):
                field.show_value(values.get(name, field.param.default))

    def _commit(self, field: Field) -> None:
        name = field.param.name
        current = self._values()
        try:
            checked = check_params(self.schema, {**current, name: field.read()})
        except ParamError as error:
            field.set_error(error.detail)
            return
        field.set_error(None)
        field.show_value(checked[name])
        if checked[name] != current.get(name):
            self._apply(name, checked)

    def _revert(self, field: Field) -> None:
        field.set_error(None)
        field.show_value(self._values().get(field.param.name, field.param.default))


class MappingEditor(QWidget):
    """A combo per Input and Output of the graph, listing the data source's fields."""

    def __init__(self, owner: SetupView):
        super().__init__()
        self.owner = owner
        self.combos: dict[str, QComboBox] = {}
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip("Map Inputs and Outputs to fields by name and shape")
        self.suggest_button.clicked.connect(owner.suggest_mapping)
        self.message = _label("", "error", wrap=True)
        self.message.hide()
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(1, 1)
        header = QHBoxLayout()
        header.addWidget(_label("Data mapping", "heading"))
        header.addStretch(1)
        header.addWidget(self.suggest_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.message)
        layout.addLayout(self._grid)
        self._shown: tuple | None = None

    def refresh(self, nodes: list, offered: dict | None, error: str | None, mapping: dict,
                specs: dict, csv: bool) -> None:
        """Rebuild the rows when the nodes or fields changed, else just select the values."""
        self.message.setText(error or "")
        self.message.setVisible(bool(error))
        key = ([(n.name, n.category) for n in nodes], sorted((offered or {}).items(), key=str), csv,
               sorted((k, str(v)) for k, v in specs.items()))
        if key != self._shown:
            self._shown = key
            self._rebuild(nodes, offered or {}, specs, csv)
        for name, combo in self.combos.items():
            self._select(combo, mapping.get(name))

    def _rebuild(self, nodes: list, offered: dict, specs: dict, csv: bool) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone now, not when the event loop next deletes
                item.widget().deleteLater()
        self.combos = {}
        if not nodes:
            self._grid.addWidget(_label("The graph has no Inputs or Outputs yet.", "dim"), 0, 0, 1, 2)
            return
        for row, node in enumerate(nodes):
            spec = specs.get(node.name)
            kind = "Input" if node.category == INPUT else "Output"
            label = _label(node.name)
            label.setToolTip(f"{kind} {node.name!r}" + (f", {format_shape(spec.shape)}" if spec else ""))
            detail = f"{kind} · {format_shape(spec.shape)}" if spec else kind
            names = QWidget()
            column = QVBoxLayout(names)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(0)
            column.addWidget(label)
            column.addWidget(_label(detail, "dim"))
            combo = QComboBox()
            combo.setEditable(csv)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
            combo.addItem(NOT_MAPPED, None)
            for field, (shape, dtype) in offered.items():
                combo.addItem(f"{field}    {format_shape(tuple(shape))} {dtype}", field)
            combo.setToolTip(f"The field that feeds {kind} {node.name!r}"
                             + ("; type several CSV columns separated by commas to make one vector"
                                if csv else ""))
            combo.activated.connect(lambda _, name=node.name, combo=combo: self._chosen(name, combo))
            if csv:
                combo.lineEdit().editingFinished.connect(
                    lambda name=node.name, combo=combo: self._chosen(name, combo))
            self._grid.addWidget(names, row, 0)
            self._grid.addWidget(combo, row, 1)
            self.combos[node.name] = combo

    @staticmethod
    def _select(combo: QComboBox, value) -> None:
        index = combo.findData(value) if not isinstance(value, list) else -1
        if index < 0 and value is not None:
            text = ", ".join(value) if isinstance(value, list) else str(value)
            combo.addItem(text, value)
            index = combo.count() - 1
        combo.setCurrentIndex(max(index, 0))

    def _chosen(self, name: str, combo: QComboBox) -> None:
        value = combo.currentData()
        if combo.isEditable():
            text = combo.currentText().strip()
            if text != combo.itemText(combo.currentIndex()):
                columns = [c.strip() for c in text.split(",") if c.strip()]
                value = None if not columns or text == NOT_MAPPED else \
                    columns[0] if len(columns) == 1 else columns
        self.owner.set_mapping(name, value)


class TrainableCombo(QWidget):
    """A phase's freezing of one node: its own setting, frozen, all, or (pretrained) the last N layers."""

    def __init__(self, pretrained: bool, changed: Callable[[object], None]):
        super().__init__()
        self.combo = QComboBox()
        self.combo.addItems([OWN_SETTING, "frozen", "all"] + ([LAST_N] if pretrained else []))
        self.spin = QSpinBox(minimum=0, maximum=100000)
        self.spin.setToolTip("How many layers at the end of the model train")
        self.spin.setKeyboardTracking(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.spin)
        self._changed = changed
        self.combo.activated.connect(self._emit)
        self.spin.valueChanged.connect(self._emit)

    def show_value(self, spec) -> None:
        for widget in (self.combo, self.spin):
            widget.blockSignals(True)
        if isinstance(spec, int) and self.combo.findText(LAST_N) >= 0:
            self.combo.setCurrentText(LAST_N)
            self.spin.setValue(spec)
        else:
            self.combo.setCurrentText(spec if spec in ("frozen", "all") else OWN_SETTING)
        self.spin.setVisible(self.combo.currentText() == LAST_N)
        for widget in (self.combo, self.spin):
            widget.blockSignals(False)

    def value(self):
        text = self.combo.currentText()
        if text == LAST_N:
            return self.spin.value()
        return None if text == OWN_SETTING else text

    def _emit(self, *_) -> None:
        self.spin.setVisible(self.combo.currentText() == LAST_N)
        self._changed(self.value())


class PhasesEditor(QWidget):
    """The phases as a table (add, remove, reorder) and the selected phase's form below it."""

    COLUMNS = ["Name", "Epochs", "Learning rate", "Trainable", "Losses", "LR multipliers"]

    def __init__(self, owner: SetupView):
        super().__init__()
        self.owner = owner
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        for column in range(3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column in range(3, len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selected)

        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a phase after the selected one")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.add_button.clicked.connect(self.add_phase)
        self.remove_button.clicked.connect(self.remove_phase)
        self.up_button.clicked.connect(lambda: self.move_phase(-1))
        self.down_button.clicked.connect(lambda: self.move_phase(1))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.summary = _label("", "dim", wrap=True)

        self.detail = QWidget()
        self.form = SchemaForm(PHASE, self._phase_values, self._apply_field,
                               skip=("trainable", "losses", "lr_multipliers"))
        self.json_form = SchemaForm(PHASE, self._phase_values, self._apply_field,
                                    skip=("name", "epochs", "learning_rate", "trainable"))
        for field in self.json_form.fields.values():  # small dicts: a few lines each is plenty
            editor = field.editor
            editor.setFixedHeight(editor.fontMetrics().lineSpacing() * 4 + 2 * editor.frameWidth() + 8)
        self.trainable_grid = QGridLayout()
        self.trainable_grid.setContentsMargins(0, 0, 0, 0)
        self.trainable_grid.setColumnStretch(1, 1)
        self.trainable: dict[str, TrainableCombo] = {}
        detail_layout = QVBoxLayout(self.detail)
        detail_layout.setContentsMargins(0, 8, 0, 0)
        self.detail_title = _label("", "heading")
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.form)
        detail_layout.addSpacing(6)
        trainable_label = _label("Trainable, by node")
        trainable_label.setToolTip(PHASE[3].help)
        detail_layout.addWidget(trainable_label)
        detail_layout.addLayout(self.trainable_grid)
        detail_layout.addSpacing(6)
        detail_layout.addWidget(self.json_form)
        self.error = _label("", "error", wrap=True)
        self.error.hide()
        detail_layout.addWidget(self.error)
        detail_layout.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QHBoxLayout()
        heading.addWidget(_label("Phases", "heading"))
        heading.addStretch(1)
        layout.addLayout(heading)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.detail)
        self._trainable_key = None

    # -- values -----------------------------------------------------------------------------
    @property
    def phases(self) -> list[Phase]:
        return self.owner.config.phases

    def selected(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _phase_values(self) -> dict:
        row = self.selected()
        return self.phases[row].to_dict() if 0 <= row < len(self.phases) else {}

    def refresh(self, weighted: list) -> None:
        phases, row = self.phases, self.selected()
        self.table.blockSignals(True)
        self.table.setRowCount(len(phases))
        for r, phase in enumerate(phases):
            rate = "run's" if phase.learning_rate is None else f"{phase.learning_rate:g}"
            losses = "every Output" if phase.losses is None else _summary(phase.losses)
            cells = [phase.name, str(phase.epochs), rate, _summary(phase.trainable), losses,
                     _summary(phase.lr_multipliers)]
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                item.setToolTip(text)
        self.table.blockSignals(False)
        rows = min(max(len(phases), 1), 6)
        table = self.table
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
                             + rows * table.verticalHeader().defaultSectionSize() + 2)
        if phases and not 0 <= row < len(phases):
            row = 0
        if 0 <= row < len(phases) and self.selected() != row:
            self.table.selectRow(row)
        epochs = self.owner.config.settings["epochs"]
        self.summary.setText(
            f"{len(phases)} phase{'s' * (len(phases) != 1)}, run in order; each sets its own freezing, "
            "learning rate and losses." if phases else
            f"No phases: the run trains once for {epochs} epoch{'s' * (epochs != 1)} with the nodes' own "
            "freezing. Add phases to train the head first, then fine-tune.")
        self.table.setVisible(bool(phases))
        self.remove_button.setEnabled(self.selected() >= 0)
        self.up_button.setEnabled(self.selected() > 0)
        self.down_button.setEnabled(0 <= self.selected() < len(phases) - 1)
        self._rebuild_trainable(weighted)
        self._show_selected()

    def _rebuild_trainable(self, weighted: list) -> None:
        key = [(n.name, n.category) for n in weighted]
        if key == self._trainable_key:
            return
        self._trainable_key = key
        while self.trainable_grid.count():
            item = self.trainable_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone now, not when the event loop next deletes
                item.widget().deleteLater()
        self.trainable = {}
        for row, node in enumerate(weighted):
            combo = TrainableCombo(node.category == PRETRAINED,
                                   lambda value, name=node.name: self._set_trainable(name, value))
            combo.setToolTip(f"How {node.name!r} trains in this phase")
            self.trainable_grid.addWidget(_label(node.name), row, 0)
            self.trainable_grid.addWidget(combo, row, 1)
            self.trainable[node.name] = combo
        if not weighted:
            self.trainable_grid.addWidget(_label("No node with weights.", "dim"), 0, 0, 1, 2)

    def _field(self, name: str) -> Field:
        return self.form.fields.get(name) or self.json_form.fields[name]

    def _selected(self) -> None:
        for field in [*self.form.fields.values(), *self.json_form.fields.values()]:
            field.set_error(None)
        self.error.hide()
        row = self.selected()
        self.remove_button.setEnabled(row >= 0)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < len(self.phases) - 1)
        self._show_selected()

    def _show_selected(self) -> None:
        row = self.selected()
        self.detail.setVisible(0 <= row < len(self.phases))
        if not self.detail.isVisibleTo(self):
            return
        phase = self.phases[row]
        self.detail_title.setText(f"Phase {row + 1}: {phase.name}")
        self.form.refresh()
        self.json_form.refresh()
        for name, combo in self.trainable.items():
            combo.show_value(phase.trainable.get(name))

    # -- edits ------------------------------------------------------------------------------
    def _replace(self, row: int, phase: dict, text: str, field: Field | None = None) -> bool:
        phases = [p.to_dict() for p in self.phases]
        phases[row] = phase
        try:
            config = self.owner.config.replaced(phases=phases)
        except ConfigError as error:
            if field is not None:
                field.set_error(error.message)
            else:
                self.error.setText(str(error))
                self.error.show()
            return False
        self.error.hide()
        self.owner.push(config, text)
        return True

    def _apply_field(self, name: str, checked: dict) -> None:
        row = self.selected()
        phase = {**self.phases[row].to_dict(), name: checked[name]}
        self._replace(row, phase, f"Set phase {self.phases[row].name} {_title(name)}", self._field(name))

    def _set_trainable(self, node: str, value) -> None:
        row = self.selected()
        if row < 0:
            return
        phase = self.phases[row].to_dict()
        trainable = dict(phase["trainable"])
        if value is None:
            trainable.pop(node, None)
        else:
            trainable[node] = value
        if trainable != phase["trainable"]:
            self._replace(row, {**phase, "trainable": trainable},
                          f"Set phase {phase['name']} trainable {node}")

    def add_phase(self) -> None:
        phases = list(self.phases)
        names = {p.name for p in phases}
        name = "train" if not phases else next(f"phase_{i}" for i in range(len(phases) + 1, 10000)
                                               if f"phase_{i}" not in names)
        epochs = self.owner.config.settings["epochs"] if not phases else phases[-1].epochs
        row = self.selected() + 1 if self.selected() >= 0 else len(phases)
        phases.insert(row, Phase(name, epochs))
        self.owner.push(self.owner.config.replaced(phases=phases), f"Add phase {name}")
        self.table.selectRow(row)

    def remove_phase(self) -> None:
        row = self.selected()
        if row < 0:
            return
        phases = list(self.phases)
        removed = phases.pop(row)
        self.owner.push(self.owner.config.replaced(phases=phases), f"Remove phase {removed.name}")
        if phases:
            self.table.selectRow(min(row, len(phases) - 1))

    def move_phase(self, by: int) -> None:
        row = self.selected()
        target = row + by
        if row < 0 or not 0 <= target < len(self.phases):
            return
        phases = list(self.phases)
        phases[row], phases[target] = phases[target], phases[row]
        self.owner.push(self.owner.config.replaced(phases=phases),
                        f"Move phase {phases[target].name} {'up' if by < 0 else 'down'}")
        self.table.selectRow(target)


def _summary(values: dict | None) -> str:
    if not values:
        return "—"
    return ", ".join(f"{k}: {v}" for k, v in values.items())


class _Node:
    def __init__(self, name: str, category: str):
        self.name, self.category = name, category


class SetupView(QWidget):
    """Settings | Data and mapping | Phases, side by side, with the setup's problems on top."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = None
        self._fields_cache: dict = {}
        self.problems_label = _label("", "error", wrap=True)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_icon = QLabel()
        self.problems_icon.setPixmap(icon("error").pixmap(16, 16))
        self.problems_box = QWidget()
        problems_row = QHBoxLayout(self.problems_box)
        problems_row.setContentsMargins(10, 6, 10, 0)
        problems_row.addWidget(self.problems_icon, 0, Qt.AlignmentFlag.AlignTop)
        problems_row.addWidget(self.problems_label, 1)
        self.problems_box.hide()

        self.settings_form = SchemaForm(SETTINGS, lambda: self.config.settings,
                                        lambda name, values: self._apply("settings", name, values))
        self.data_form = SchemaForm(DATA, lambda: self.config.data,
                                    lambda name, values: self._apply("data", name, values), skip=("mapping",))
        self.mapping = MappingEditor(self)
        self.phases = PhasesEditor(self)

        settings_column = QWidget()
        column = QVBoxLayout(settings_column)
        column.setContentsMargins(10, 8, 10, 8)
        column.addWidget(_label("Settings", "heading"))
        column.addWidget(self.settings_form)
        column.addStretch(1)
        data_column = QWidget()
        column = QVBoxLayout(data_column)
        column.setContentsMargins(10, 8, 10, 8)
        column.addWidget(_label("Data", "heading"))
        column.addWidget(self.data_form)
        column.addSpacing(10)
        column.addWidget(self.mapping)
        column.addStretch(1)
        phases_column = QWidget()
        column = QVBoxLayout(phases_column)
        column.setContentsMargins(10, 8, 10, 8)
        column.addWidget(self.phases)
        column.addStretch(1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for widget in (settings_column, data_column, phases_column):
            scroll = _scrolled(widget)
            scroll.setMinimumWidth(240)
            self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.problems_box)
        layout.addWidget(self.splitter, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # -- the document ---------------------------------------------------------------------------
    @property
    def config(self) -> TrainingConfig:
        return self.document.project.training

    def set_document(self, document) -> None:
        self.document = document
        self._fields_cache = {}
        self.refresh()

    def push(self, config: TrainingConfig, text: str) -> None:
        self.document.set_training(config, text)

    def _apply(self, part: str, name: str, values: dict) -> None:
        self.push(self.config.replaced(**{part: values}), f"Set {_title(name)}")

    def set_mapping(self, node: str, value) -> None:
        data = copy.deepcopy(self.config.data)
        mapping = dict(data["mapping"])
        if value is None:
            mapping.pop(node, None)
        else:
            mapping[node] = value
        if mapping == data["mapping"]:
            return
        try:
            config = self.config.replaced(data={**data, "mapping": mapping})
        except ConfigError as error:
            self.mapping.message.setText(error.message)
            self.mapping.message.show()
            return
        self.push(config, f"Map {node}")

    def suggest_mapping(self) -> dict:
        """Fill the mapping from the data's field names and shapes (one undoable step)."""
        from app.core.training.data import suggest_mapping

        document = self.document
        if document.analysis is None:
            self.mapping.message.setText("Wait until the graph is analysed, then ask again.")
            self.mapping.message.show()
            return {}
        data = self.config.data
        suggested = suggest_mapping(data, document.context.base_dir, document.graph, document.analysis)
        mapping = {**data["mapping"], **suggested}
        if mapping == data["mapping"]:
            self.mapping.message.setText("Nothing to suggest: every node Graft can match is mapped already."
                                         if suggested else "No suggestion: no field matches an unmapped "
                                         "node by name or shape.")
            self.mapping.message.show()
            return suggested
        self.push(self.config.replaced(data={**data, "mapping": mapping}), "Suggest data mapping")
        return suggested

    # -- showing ----------------------------------------------------------------------------
    def io_nodes(self) -> list[_Node]:
        nodes = []
        for node in self.document.graph.nodes:
            category = node_type(node.type).category
            if category in (INPUT, OUTPUT):
                nodes.append(_Node(node.name, category))
        return sorted(nodes, key=lambda n: n.category != INPUT)

    def weighted_nodes(self) -> list[_Node]:
        """Nodes a phase can freeze: those with weights (all but Inputs and Outputs until analysed)."""
        analysis = self.document.analysis
        nodes = []
        for node in self.document.graph.nodes:
            category = node_type(node.type).category
            if category in (INPUT, OUTPUT):
                continue
            result = analysis.nodes.get(node.id) if analysis else None
            if result is not None and result.param_count == 0:
                continue
            nodes.append(_Node(node.name, category))
        return nodes

    def _specs(self) -> dict:
        analysis = self.document.analysis
        specs = {}
        if analysis is None:
            return specs
        for node in self.document.graph.nodes:
            category = node_type(node.type).category
            result = analysis.nodes.get(node.id)
            if result is None:
                continue
            if category == INPUT and result.outputs:
                specs[node.name] = next(iter(result.outputs.values()))
            elif category == OUTPUT and result.inputs:
                specs[node.name] = next(iter(result.inputs.values()))
        return specs

    def _fields(self) -> tuple[dict | None, str | None]:
        from app.core.training.sources import DataError, fields

        data = self.config.data
        base_dir = self.document.context.base_dir
        key = (data["source"], data["path"], str(base_dir))
        if key not in self._fields_cache:
            try:
                self._fields_cache[key] = (fields(data, base_dir), None)
            except (DataError, OSError, ValueError) as error:
                self._fields_cache[key] = (None, str(error))
        return self._fields_cache[key]

    def refresh(self) -> None:
        if self.document is None:
            return
        base_dir = self.document.context.base_dir
        self.settings_form.set_base_dir(base_dir)
        self.data_form.set_base_dir(base_dir)
        self.settings_form.refresh()
        self.data_form.refresh()
        offered, error = self._fields()
        columns = self.config.data["source"] == "csv" or bool(offered) and all(
            tuple(shape) == () for shape, _ in offered.values())  # a table: a list of columns makes a vector
        self.mapping.refresh(self.io_nodes(), offered, error, self.config.data["mapping"], self._specs(),
                             columns)
        self.mapping.suggest_button.setEnabled(self.document.analysis is not None)
        self.phases.refresh(self.weighted_nodes())
        messages = problems(self.config, self.document.graph)
        self.problems_label.setText("\n".join(messages))
        self.problems_box.setVisible(bool(messages))
        set_style_property(self.problems_label, "role", "error")

    def setup_problems(self) -> list[str]:
        return problems(self.config, self.document.graph)
