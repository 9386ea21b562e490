"""The inspector: a form generated from the selected node's parameter schema, with the node's
shapes and problems below it.

Edits are parsed and checked against the node type's whole schema here, so the editor only
ever receives values the type accepts. A field the user changed stays a draft until the
parameters, drafts included, pass the check; a rule that spans two fields (weights `file`
needs a weights file) therefore applies both edits together once the second is made."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.analysis.cost import cost_texts
from app.core.analysis.validate import NodeAnalysis
from app.core.graph.graph import GraphError, Node, check_name
from app.core.graph.params import (
    JSON,
    STR,
    Param,
    ParamError,
)
from app.core.graph.specs import format_shape
from app.core.nodes import node_type
from app.core.nodes.base import PRETRAINED
from app.gui.panels.fields import Field, PathField, TextField, form_layout, label, make_field, rich_help

EMPTY_TEXT = "Select a node to edit its parameters"


# The name is edited like a string parameter; this is its row in the form.
NAME_PARAM = Param("name", STR, "", "The node's name, used for its Keras layer or model: letters, "
                   "digits and underscores, not starting with a digit.")


_SEVERITY_ROLES = {"error": "error", "warning": "warning", "info": "dim"}


class Inspector(QWidget):
    paramsEdited = Signal(str, dict)  # node_id, {param_name: new_value}: only changes, already checked
    renameRequested = Signal(str, str)  # node_id, new name (a valid name; it may still be taken)
    showModelRequested = Signal(str)  # node_id of a pretrained node whose layers to show

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._node: Node | None = None
        self._fields: dict[str, Field] = {}
        self._name_field: TextField | None = None
        self._drafts: set[str] = set()  # fields the user changed whose values are not applied yet
        self._shapes: QWidget | None = None
        self._content_layout: QVBoxLayout | None = None

        self._empty = label(EMPTY_TEXT, "dim", wrap=True)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setContentsMargins(16, 16, 16, 16)
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._empty)
        self._stack.addWidget(self._scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

    # -- public ----------------------------------------------------------------------------
    def show_node(self, node: Node | None, analysis: NodeAnalysis | None = None,
                  base_dir: Path | None = None) -> None:
        """Show `node`, cheaply when it is the node already shown: the form is rebuilt only
        for another node or type; otherwise values update in place, leaving alone the field
        the user is typing in and the drafts still waiting for a valid value."""
        previous, self._node = self._node, node
        if node is None:
            self._clear_form()
            self._stack.setCurrentWidget(self._empty)
            return
        if previous is None or previous.id != node.id or previous.type != node.type:
            self._build_form(node)
        for field in self._fields.values():
            if isinstance(field, PathField):
                field.base_dir = base_dir
        self._refresh_values(node)
        self._show_shapes(analysis)
        self._stack.setCurrentWidget(self._scroll)

    def editor(self, name: str) -> QWidget | None:
        """The widget editing parameter `name` ("name" is the node's name), to focus it."""
        field = self._name_field if name == NAME_PARAM.name else self._fields.get(name)
        return field.editor if field is not None else None

    # -- building --------------------------------------------------------------------------
    def _clear_form(self) -> None:
        self._fields, self._name_field, self._drafts = {}, None, set()
        self._shapes = self._content_layout = None
        old = self._scroll.takeWidget()
        if old is not None:
            old.deleteLater()

    def _build_form(self, node: Node) -> None:
        self._clear_form()
        kind = node_type(node.type)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(4)

        layout.addWidget(label(kind.title, "heading", wrap=True))
        category = kind.category if kind.title == kind.name else f"{kind.category} · {kind.name}"
        layout.addWidget(label(category, "dim"))
        if kind.help:
            layout.addSpacing(4)
            help_label = label(rich_help(kind.help), "dim", wrap=True)
            help_label.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(help_label)
        layout.addSpacing(8)

        form = form_layout()
        self._name_field = TextField(NAME_PARAM)
        line_height = self._name_field.editor.sizeHint().height()
        self._add_row(form, NAME_PARAM, self._name_field, line_height)
        self._name_field.committed.connect(lambda field=self._name_field: self._rename(field))
        self._name_field.reverted.connect(lambda field=self._name_field: self._revert_name(field))
        for param in kind.params:
            field = make_field(param)
            self._add_row(form, param, field, line_height)
            field.committed.connect(lambda field=field: self._commit(field))
            field.reverted.connect(lambda field=field: self._revert(field))
            self._fields[param.name] = field
        layout.addLayout(form)

        self._shapes = QWidget()
        layout.addWidget(self._shapes)
        if kind.category == PRETRAINED:
            show_layers = QPushButton("Show layers…")
            show_layers.setToolTip("List the model's layers, to pick taps or see what is frozen")
            show_layers.clicked.connect(self._show_model)
            layout.addSpacing(8)
            layout.addWidget(show_layers, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self._content_layout = layout
        self._scroll.setWidget(content)

    @staticmethod
    def _add_row(form: QFormLayout, param: Param, field: Field, line_height: int) -> None:
        name_label = QLabel(param.name)
        name_label.setToolTip(param.help)
        name_label.setBuddy(field.editor)
        if param.kind == JSON:  # a JSON editor needs the panel's whole width
            form.addRow(name_label)
            form.addRow(field)
            return
        # As tall as a line edit and at the top, the name stays level with the editor
        # when an error message grows the row.
        name_label.setFixedHeight(line_height)
        form.addRow(name_label, field)

    def _show_shapes(self, analysis: NodeAnalysis | None) -> None:
        section = QWidget()
        layout = QVBoxLayout(section)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(4)
        if analysis is not None:
            layout.addWidget(label("Shapes", "heading"))
            ports = form_layout()
            for port, spec in analysis.inputs.items():
                ports.addRow(label(port, "dim"), label(format_shape(spec.shape), selectable=True))
            for port, spec in (analysis.outputs or {}).items():
                ports.addRow(label(port, "dim"), label(format_shape(spec.shape), selectable=True))
            layout.addLayout(ports)
            if analysis.outputs is None:
                layout.addWidget(label("The outputs cannot be inferred until the problems below are "
                                        "fixed.", "dim", wrap=True))
            if analysis.param_count is not None:
                count = analysis.param_count
                layout.addWidget(label(f"{count:,} parameter{'' if count == 1 else 's'}", "dim"))
            if analysis.cost is not None:
                layout.addWidget(self._cost_section(analysis))
            for problem in analysis.problems:
                layout.addSpacing(2)
                layout.addWidget(label(problem.message, _SEVERITY_ROLES.get(problem.severity, "dim"),
                                        wrap=True, selectable=True))
        self._content_layout.replaceWidget(self._shapes, section)
        self._shapes.deleteLater()
        self._shapes = section

    @staticmethod
    def _cost_section(analysis: NodeAnalysis) -> QWidget:
        """What the node costs (analysis/cost.py), per sample where it scales with the batch."""
        section = QWidget()
        layout = QVBoxLayout(section)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(4)
        heading = label("Cost", "heading")
        heading.setToolTip("Multiply-adds as papers count them: convolutions, dense and attention "
                           "products; biases, normalisation, activations and pooling count 0. "
                           "Parameters are float32 (4 bytes each).")
        layout.addWidget(heading)
        rows = form_layout()
        macs, params, activations = cost_texts(analysis.cost)
        for what, value in (("multiply-adds", f"{macs} per sample"), ("parameters", params),
                            ("activations", f"{activations} per sample")):
            rows.addRow(label(what, "dim"), label("unknown" if value.startswith("?") else value,
                                                  selectable=True))
        layout.addLayout(rows)
        return section

    # -- values ----------------------------------------------------------------------------
    def _refresh_values(self, node: Node) -> None:
        name_field = self._name_field
        if not (name_field.has_error or name_field.is_being_edited()):
            name_field.show_value(node.name)
        for name, field in self._fields.items():
            if name not in self._drafts and not field.is_being_edited():
                field.show_value(node.params.get(name, field.param.default))

    def _is_current(self, field: Field) -> bool:
        """Whether `field` belongs to the form on show (a replaced form's focus-out is no edit)."""
        return self._node is not None and field in (self._name_field, self._fields.get(field.param.name))

    def _commit(self, field: Field) -> None:
        if self._is_current(field):
            self._drafts.add(field.param.name)
            self._apply(field.param.name)

    def _revert(self, field: Field) -> None:
        if not self._is_current(field):
            return
        name = field.param.name
        self._drafts.discard(name)
        field.show_value(self._node.params.get(name, field.param.default))
        if self._drafts:
            self._apply(next(iter(self._drafts)))  # without this field they may be valid now
        else:
            self._clear_errors()

    def _apply(self, edited: str) -> None:
        """Check the node's parameters with every draft; emit the changes or show why not."""
        node = self._node
        try:
            values = {name: self._fields[name].read() for name in self._drafts}
            checked = node_type(node.type).check_params({**node.params, **values})
        except ParamError as error:
            self._clear_errors()
            self._fields[error.param if error.param in self._fields else edited].set_error(error.detail)
            return
        self._clear_errors()
        drafts, self._drafts = self._drafts, set()
        changes = {name: checked[name] for name in drafts if checked[name] != node.params.get(name)}
        for name in drafts:
            self._fields[name].show_value(checked[name])  # canonical text: `224,224,3` → `224, 224, 3`
        if changes:
            self.paramsEdited.emit(node.id, changes)

    def _clear_errors(self) -> None:
        for field in self._fields.values():
            field.set_error(None)

    def _rename(self, field: TextField) -> None:
        if not self._is_current(field):
            return
        name = field.read()
        try:
            check_name(name)
        except GraphError as error:
            field.set_error(str(error))
            return
        field.set_error(None)
        field.show_value(name)
        if name != self._node.name:
            self.renameRequested.emit(self._node.id, name)

    def _show_model(self) -> None:
        if self._node is not None:
            self.showModelRequested.emit(self._node.id)

    def _revert_name(self, field: TextField) -> None:
        if self._is_current(field):
            field.set_error(None)
            field.show_value(self._node.name)
