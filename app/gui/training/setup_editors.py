"""The training setup's editors: a form for one part of the setup built from its Param
schema (with the parameter fields, so a bad value shows the schema's message and changes
nothing), the data-mapping table and the phases table. Each edit is handed to the owning
`SetupView`, which makes it one undoable core command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.document.training_setup import (
    PHASE,
    ConfigError,
    Phase,
)
from app.core.graph.params import JSON, Param, ParamError, check_params
from app.core.graph.specs import format_shape
from app.core.nodes.base import INPUT, PRETRAINED
from app.core.nodes.pretrained import (
    FREEZING_CHOICES,
    FREEZING_LABELS,
    freezing_params,
    freezing_word,
    phase_spec,
)
from app.gui.panels.fields import Field, PathField, form_layout, label, make_field
from app.gui.theme import icon

NOT_MAPPED = "(not mapped)"
OWN_SETTING = "node's own"


def title(name: str) -> str:
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
            name_label = QLabel(title(param.name))
            name_label.setToolTip(param.help)
            name_label.setBuddy(field.editor)
            if param.kind == JSON:
                form.addRow(name_label)
                form.addRow(field)
            else:
                line_height = line_height or field.editor.sizeHint().height()
                name_label.setFixedHeight(max(line_height, name_label.sizeHint().height()))
                form.addRow(name_label, field)
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

    def __init__(self, owner):  # the SetupView it edits for
        super().__init__()
        self.owner = owner
        self.combos: dict[str, QComboBox] = {}
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip("Map each Input and Output to the field that fits it: by name, or "
                                       "the one field that passes its data checks")
        self.suggest_button.clicked.connect(owner.suggest_mapping)
        self.message = label("", "error", wrap=True)
        self.message.hide()
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(1, 1)
        header = QHBoxLayout()
        header.addWidget(label("Data mapping", "heading"))
        header.addStretch(1)
        header.addWidget(self.suggest_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.message)
        layout.addLayout(self._grid)
        self.checks = QWidget()  # the data checks' errors and warnings, under the mapping
        self._checks_layout = QGridLayout(self.checks)
        self._checks_layout.setContentsMargins(0, 6, 0, 0)
        self._checks_layout.setColumnStretch(1, 1)
        self.checks.hide()
        layout.addWidget(self.checks)
        self._shown: tuple | None = None
        self._checks_shown: list | None = None

    def show_checks(self, problems: list) -> None:
        """The data checks' problems (analysis Problems), each with its severity's icon."""
        shown = [(p.severity, p.message) for p in problems]
        if shown == self._checks_shown:
            return
        self._checks_shown = shown
        while self._checks_layout.count():
            item = self._checks_layout.takeAt(0)
            item.widget().hide()
            item.widget().deleteLater()
        for row, (severity, message) in enumerate(shown):
            mark = QLabel()
            mark.setPixmap(icon(severity).pixmap(16, 16))
            self._checks_layout.addWidget(mark, row, 0, Qt.AlignmentFlag.AlignTop)
            self._checks_layout.addWidget(label(message, severity, wrap=True, selectable=True), row, 1)
        self.checks.setVisible(bool(shown))

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
            self._grid.addWidget(label("The graph has no Inputs or Outputs yet.", "dim"), 0, 0, 1, 2)
            return
        for row, node in enumerate(nodes):
            spec = specs.get(node.name)
            kind = "Input" if node.category == INPUT else "Output"
            name_label = label(node.name)
            name_label.setToolTip(f"{kind} {node.name!r}" + (f", {format_shape(spec.shape)}" if spec else ""))
            detail = f"{kind} · {format_shape(spec.shape)}" if spec else kind
            names = QWidget()
            column = QVBoxLayout(names)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(0)
            column.addWidget(name_label)
            column.addWidget(label(detail, "dim"))
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
    """A phase's freezing of one node, in the inspector's words: the node's own setting,
    trainable, frozen, or (a pretrained model) the last N layers."""

    def __init__(self, pretrained: bool, changed: Callable[[object], None]):
        super().__init__()
        self.combo = QComboBox()
        self.combo.addItem(OWN_SETTING, "")
        for mode, word in zip(FREEZING_CHOICES, FREEZING_LABELS):
            if pretrained or mode != "last_n":
                self.combo.addItem(word, mode)
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
        mode = "" if spec is None else freezing_params(spec)["trainable"]
        if mode == "last_n" and self.combo.findData(mode) < 0:  # N layers of a node that has no layers
            mode = "trainable" if spec else "frozen"
        self.combo.setCurrentIndex(max(self.combo.findData(mode), 0))
        if mode == "last_n":
            self.spin.setValue(spec)
        self.spin.setVisible(mode == "last_n")
        for widget in (self.combo, self.spin):
            widget.blockSignals(False)

    def value(self):
        mode = self.combo.currentData()
        return phase_spec(mode, self.spin.value()) if mode else None

    def _emit(self, *_) -> None:
        self.spin.setVisible(self.combo.currentData() == "last_n")
        self._changed(self.value())


class PhasesEditor(QWidget):
    """The phases as a table (add, remove, reorder) and the selected phase's form below it."""

    phaseSelected = Signal(int)  # the row of the phase being edited (-1: none), when it or its values change

    COLUMNS = ["Name", "Epochs", "Learning rate", "Trainable", "Losses", "LR multipliers"]

    def __init__(self, owner):  # the SetupView it edits for
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
        self.summary = label("", "dim", wrap=True)

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
        self.detail_title = label("", "heading")
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.form)
        detail_layout.addSpacing(6)
        trainable_label = label("Trainable, by node")
        trainable_label.setToolTip(PHASE[3].help)
        detail_layout.addWidget(trainable_label)
        detail_layout.addLayout(self.trainable_grid)
        detail_layout.addSpacing(6)
        detail_layout.addWidget(self.json_form)
        self.error = label("", "error", wrap=True)
        self.error.hide()
        detail_layout.addWidget(self.error)
        detail_layout.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QHBoxLayout()
        heading.addWidget(label("Phases", "heading"))
        heading.addStretch(1)
        layout.addLayout(heading)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.detail)
        self._trainable_key = None
        self._announced: tuple | None = None

    # -- values -----------------------------------------------------------------------------
    @property
    def phases(self) -> list[Phase]:
        return self.owner.config.phases

    def selected(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def selected_phase(self) -> Phase | None:
        """The phase being edited: the canvas and the status bar show how it trains."""
        row = self.selected()
        return self.phases[row] if 0 <= row < len(self.phases) else None

    def _phase_values(self) -> dict:
        phase = self.selected_phase()
        return phase.to_dict() if phase else {}

    def refresh(self, weighted: list) -> None:
        phases, row = self.phases, self.selected()
        self.table.blockSignals(True)
        self.table.setRowCount(len(phases))
        for r, phase in enumerate(phases):
            rate = "run's" if phase.learning_rate is None else f"{phase.learning_rate:g}"
            losses = "every Output" if phase.losses is None else summary(phase.losses)
            freezing = {name: freezing_word(freezing_params(spec)) for name, spec in phase.trainable.items()}
            cells = [phase.name, str(phase.epochs), rate, summary(freezing), losses,
                     summary(phase.lr_multipliers)]
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
        self._announce()

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
            self.trainable_grid.addWidget(label(node.name), row, 0)
            self.trainable_grid.addWidget(combo, row, 1)
            self.trainable[node.name] = combo
        if not weighted:
            self.trainable_grid.addWidget(label("No node with weights.", "dim"), 0, 0, 1, 2)

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
        self._announce()

    def _announce(self) -> None:
        """Say when another phase is selected or the selected one changed (the canvas's badges
        and the status bar follow it)."""
        phase = self.selected_phase()
        shown = (self.selected(), phase.to_dict() if phase else None)
        if shown != self._announced:
            self._announced = shown
            self.phaseSelected.emit(self.selected())

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
        self._replace(row, phase, f"Set phase {self.phases[row].name} {title(name)}", self._field(name))

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


def summary(values: dict | None) -> str:
    if not values:
        return "—"
    return ", ".join(f"{k}: {v}" for k, v in values.items())
