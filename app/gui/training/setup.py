"""The training setup: settings and data forms built from the config's Param schemas (with
the inspector's field widgets, so a bad value shows the schema's message and changes
nothing), a data-mapping editor, and the phases.

Every edit is one undoable core command (`SetTraining`) that swaps `project.training` for a
new TrainingConfig, so Ctrl+Z undoes it and the title bar marks the project unsaved. The
editors themselves are in setup_editors.py."""

from __future__ import annotations

import copy

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.document.training_setup import (
    DATA,
    SETTINGS,
    ConfigError,
    TrainingConfig,
    problems,
)
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT
from app.core.training.data_checks import DATA_CODES
from app.gui.panels.fields import label, set_style_property
from app.gui.theme import icon
from app.gui.training.setup_editors import MappingEditor, PhasesEditor, SchemaForm, title

MIN_COLUMN_WIDTH = 240


class _Column(QScrollArea):
    """A column of the setup, scrolled up and down, and never narrower than its fields (nor
    than MIN_COLUMN_WIDTH), so none is cut: a narrow Training dock scrolls the whole setup
    sideways instead."""

    def minimumSizeHint(self) -> QSize:
        fields = self.widget().minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
        return QSize(max(MIN_COLUMN_WIDTH, fields), super().minimumSizeHint().height())


def _scrolled(widget: QWidget) -> QScrollArea:
    scroll = _Column()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(widget)
    return scroll


class _Node:
    def __init__(self, name: str, category: str):
        self.name, self.category = name, category


class SetupView(QWidget):
    """Settings | Data and mapping | Phases, side by side, with the setup's problems on top."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = None
        self._fields_cache: dict = {}
        self.problems_label = label("", "error", wrap=True)
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
        column.addWidget(label("Settings", "heading"))
        column.addWidget(self.settings_form)
        column.addStretch(1)
        data_column = QWidget()
        column = QVBoxLayout(data_column)
        column.setContentsMargins(10, 8, 10, 8)
        column.addWidget(label("Data", "heading"))
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
            self.splitter.addWidget(_scrolled(widget))
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
        self.push(self.config.replaced(**{part: values}), f"Set {title(name)}")

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
        """Fill the mapping with the fields that fit: by name, or the one field that passes a
        node's data checks (one undoable step). It reads the data, once while the file is unchanged."""
        from app.core.training.data import suggest_mapping

        document = self.document
        if document.analysis is None:
            self.mapping.message.setText("Wait until the graph is analysed, then ask again.")
            self.mapping.message.show()
            return {}
        data = self.config.data
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            suggested = suggest_mapping(data, document.context.base_dir, document.graph, document.analysis)
        finally:
            QApplication.restoreOverrideCursor()
        mapping = {**data["mapping"], **suggested}
        if mapping == data["mapping"]:
            self.mapping.message.setText(
                "Nothing to suggest: every node Graft can match is mapped already." if suggested else
                "No suggestion: no field is named like an unmapped node or is the only one that passes "
                "its data checks; choose one.")
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
        self.mapping.show_checks(self.data_problems())
        self.phases.refresh(self.weighted_nodes())
        messages = problems(self.config, self.document.graph)
        self.problems_label.setText("\n".join(messages))
        self.problems_box.setVisible(bool(messages))
        set_style_property(self.problems_label, "role", "error")

    def setup_problems(self) -> list[str]:
        return problems(self.config, self.document.graph)

    def data_problems(self) -> list:
        """The data checks' errors and warnings (with the analysis's, from the document)."""
        analysis = self.document.analysis
        return [p for p in analysis.problems if p.code in DATA_CODES] if analysis else []
