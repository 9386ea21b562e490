"""The inspector: a form generated from the selected node's parameter schema, with the node's
shapes and problems below it.

Edits are parsed and checked against the node type's whole schema here, so the editor only
ever receives values the type accepts. A field the user changed stays a draft until the
parameters, drafts included, pass the check; a rule that spans two fields (weights `file`
needs a weights file) therefore applies both edits together once the second is made."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.analysis.validate import NodeAnalysis
from app.core.cards.loading import MODEL_FILE_SUFFIXES
from app.core.document.paths import stored_path
from app.core.graph.graph import GraphError, Node, check_name
from app.core.graph.params import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    INTS,
    JSON,
    PATH,
    SHAPE,
    STR,
    STRS,
    Param,
    ParamError,
)
from app.core.graph.specs import format_shape
from app.core.nodes import node_type
from app.core.nodes.base import PRETRAINED

EMPTY_TEXT = "Select a node to edit its parameters"

# The model files Graft reads, as file dialogs (here and the window's Import) offer them.
MODEL_FILTER = f"Keras models ({' '.join(f'*{suffix}' for suffix in MODEL_FILE_SUFFIXES)})"
# What the file dialog offers first, by parameter name; every dialog also offers all files.
FILE_FILTERS = {
    "weights_file": "Keras weights (*.weights.h5 *.h5)",
    "path": MODEL_FILTER,
}

# The name is edited like a string parameter; this is its row in the form.
NAME_PARAM = Param("name", STR, "", "The node's name, used for its Keras layer or model: letters, "
                   "digits and underscores, not starting with a digit.")

_SEVERITY_ROLES = {"error": "error", "warning": "warning", "info": "dim"}


# -- text <-> values -----------------------------------------------------------------------


def format_value(param: Param, value: Any) -> str:
    """A value as its field shows it: lists comma separated, unknown dims as `None`."""
    if value is None:
        return ""
    if param.kind in (SHAPE, INTS):
        return ", ".join("None" if dim is None else str(dim) for dim in value)
    if param.kind == STRS:
        return ", ".join(value)
    if param.kind == JSON:
        return json.dumps(value, indent=2)
    return str(value)


def parse_text(param: Param, text: str) -> Any:
    """The value a field's text stands for. Text that is no number stays a string, so the
    schema's check can say what it expected instead of the form guessing."""
    text = text.strip()
    if not text and param.optional:
        return None
    if param.kind in (INT, FLOAT):
        return _scalar(text)
    if param.kind in (SHAPE, INTS):
        return [_scalar(item) for item in _items(text)]
    if param.kind == STRS:
        return [item.strip("\"'") for item in _items(text)]
    if param.kind == JSON:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ParamError(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
                             param.name) from None
    return text


def _scalar(text: str) -> Any:
    if text in ("None", "none"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _items(text: str) -> list[str]:
    """Comma-separated items; brackets around the list (pasted from a file or a shape) are fine."""
    if len(text) >= 2 and text[0] + text[-1] in ("[]", "()"):
        text = text[1:-1]
    return [item.strip() for item in text.split(",") if item.strip()]


def rich_help(text: str) -> str:
    """Help text as rich text: the `names` the core quotes in backticks set in code type."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def set_style_property(widget: QWidget, name: str, value: str) -> None:
    """Set a property the theme's style sheet selects on, and re-polish so it shows now."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _label(text: str, role: str | None = None, wrap: bool = False, selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote user text, which may look like HTML
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


# -- editors ---------------------------------------------------------------------------------


class _LineEdit(QLineEdit):
    """A line edit that reports Escape, so the field can go back to the node's value."""

    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class _JsonEdit(QPlainTextEdit):
    """A JSON editor where Enter makes a new line, so applying is Ctrl+Enter (or the button)."""

    submitted = Signal()
    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, ctrl = event.key(), event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and ctrl:
            self.submitted.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class Field(QWidget):
    """One parameter's row: its editor with the message of a refused value right under it.
    Public: the training setup's forms are made of these too."""

    committed = Signal()  # the user finished an edit; read() gives the new value
    reverted = Signal()  # the user pressed Escape; show the node's value again

    def __init__(self, param: Param, editor: QWidget, row: QWidget | None = None):
        super().__init__()
        self.param, self.editor = param, editor
        editor.setToolTip(param.help)
        self.error_label = _label("", "error", wrap=True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(row or editor)
        layout.addWidget(self.error_label)

    def set_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))
        set_style_property(self.editor, "invalid", "true" if message else "false")

    @property
    def has_error(self) -> bool:
        return not self.error_label.isHidden()

    def show_value(self, value: Any) -> None:
        raise NotImplementedError

    def read(self) -> Any:
        """The value the user entered; ParamError where the text cannot even be parsed."""
        raise NotImplementedError

    def is_being_edited(self) -> bool:
        """Whether the user is typing here, so a refresh must leave the text alone."""
        return False


class _TextField(Field):
    """int, float, str, shape, ints and strs: committed on Enter or when focus leaves."""

    def __init__(self, param: Param, row_extras: tuple[QWidget, ...] = ()):
        edit = _LineEdit()
        row = None
        if row_extras:
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            row_layout.setSpacing(4)
            row_layout.addWidget(edit, 1)
            for extra in row_extras:
                row_layout.addWidget(extra)
        super().__init__(param, edit, row)
        edit.editingFinished.connect(self._finish)
        edit.escaped.connect(self.reverted)

    def _finish(self) -> None:
        if self.editor.isModified():
            self.committed.emit()

    def show_value(self, value: Any) -> None:
        text = format_value(self.param, value)
        if self.editor.text() != text:
            self.editor.setText(text)
            self.editor.setCursorPosition(0)  # a long path shows its start, not a cut-off tail
        self.editor.setModified(False)

    def read(self) -> Any:
        return parse_text(self.param, self.editor.text())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.isModified()


class PathField(_TextField):
    """A file path with a "…" button; a file inside the project folder is stored relative to it.
    Public: the training setup sets its base_dir too."""

    def __init__(self, param: Param):
        browse = QPushButton("…")
        browse.setFixedWidth(browse.fontMetrics().horizontalAdvance("…") + 20)
        browse.setToolTip(f"Choose the file for {param.name}")
        super().__init__(param, (browse,))
        self.base_dir: Path | None = None
        browse.clicked.connect(self._browse)

    def _browse(self) -> None:
        base = self.base_dir or Path.cwd()
        current = self.editor.text().strip()
        start = (base / current).parent if current else base
        name_filter = ";;".join(filter(None, (FILE_FILTERS.get(self.param.name), "All files (*)")))
        chosen, _ = QFileDialog.getOpenFileName(self, f"Choose {self.param.name}", str(start), name_filter)
        if not chosen:
            return
        self.editor.setText(stored_path(Path(chosen), self.base_dir))
        self.editor.setModified(True)
        self.committed.emit()


class _BoolField(Field):
    def __init__(self, param: Param):
        checkbox = QCheckBox()
        checkbox.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # the box is all it is
        super().__init__(param, checkbox)
        self.editor.clicked.connect(self.committed)  # clicks only: setChecked() must not commit

    def show_value(self, value: Any) -> None:
        self.editor.setChecked(bool(value))

    def read(self) -> Any:
        return self.editor.isChecked()


class _ChoiceField(Field):
    def __init__(self, param: Param):
        combo = QComboBox()
        combo.addItems([c if isinstance(c, str) else json.dumps(c) for c in param.choices])
        # Long choices (loss names) must not widen a narrow panel.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
        super().__init__(param, combo)
        combo.activated.connect(self.committed)  # user choices only, not setCurrentIndex()

    def show_value(self, value: Any) -> None:
        index = next((i for i, c in enumerate(self.param.choices)
                      if c == value and type(c) is type(value)), -1)
        self.editor.setCurrentIndex(index)

    def read(self) -> Any:
        index = self.editor.currentIndex()
        return self.param.choices[index] if index >= 0 else None


class _JsonField(Field):
    """A JSON object in an editor of its own; Apply or Ctrl+Enter commits it."""

    def __init__(self, param: Param):
        edit = _JsonEdit()
        edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        edit.setTabChangesFocus(True)
        edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 8 + 2 * edit.frameWidth() + 8)
        apply_button = QPushButton("Apply")
        apply_button.setToolTip("Apply the JSON (Ctrl+Enter)")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addStretch(1)
        buttons.addWidget(apply_button)
        row = QWidget()
        row_layout = QVBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.setSpacing(4)
        row_layout.addWidget(edit)
        row_layout.addLayout(buttons)
        super().__init__(param, edit, row)
        edit.submitted.connect(self.committed)
        apply_button.clicked.connect(self.committed)
        edit.escaped.connect(self.reverted)

    def show_value(self, value: Any) -> None:
        text = format_value(self.param, value)
        if self.editor.toPlainText() != text:
            self.editor.setPlainText(text)
        self.editor.document().setModified(False)

    def read(self) -> Any:
        return parse_text(self.param, self.editor.toPlainText())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.document().isModified()


_FIELD_CLASSES = {BOOL: _BoolField, CHOICE: _ChoiceField, PATH: PathField, JSON: _JsonField}


def make_field(param: Param) -> Field:
    return _FIELD_CLASSES.get(param.kind, _TextField)(param)


# -- the panel -------------------------------------------------------------------------------


class Inspector(QWidget):
    paramsEdited = Signal(str, dict)  # node_id, {param_name: new_value}: only changes, already checked
    renameRequested = Signal(str, str)  # node_id, new name (a valid name; it may still be taken)
    showModelRequested = Signal(str)  # node_id of a pretrained node whose layers to show

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._node: Node | None = None
        self._fields: dict[str, Field] = {}
        self._name_field: _TextField | None = None
        self._drafts: set[str] = set()  # fields the user changed whose values are not applied yet
        self._shapes: QWidget | None = None
        self._content_layout: QVBoxLayout | None = None

        self._empty = _label(EMPTY_TEXT, "dim", wrap=True)
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

        layout.addWidget(_label(kind.title, "heading", wrap=True))
        category = kind.category if kind.title == kind.name else f"{kind.category} · {kind.name}"
        layout.addWidget(_label(category, "dim"))
        if kind.help:
            layout.addSpacing(4)
            help_label = _label(rich_help(kind.help), "dim", wrap=True)
            help_label.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(help_label)
        layout.addSpacing(8)

        form = form_layout()
        self._name_field = _TextField(NAME_PARAM)
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
        label = QLabel(param.name)
        label.setToolTip(param.help)
        label.setBuddy(field.editor)
        if param.kind == JSON:  # a JSON editor needs the panel's whole width
            form.addRow(label)
            form.addRow(field)
            return
        # As tall as a line edit and at the top, the name stays level with the editor
        # when an error message grows the row.
        label.setFixedHeight(line_height)
        form.addRow(label, field)

    def _show_shapes(self, analysis: NodeAnalysis | None) -> None:
        section = QWidget()
        layout = QVBoxLayout(section)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(4)
        if analysis is not None:
            layout.addWidget(_label("Shapes", "heading"))
            ports = form_layout()
            for port, spec in analysis.inputs.items():
                ports.addRow(_label(port, "dim"), _label(format_shape(spec.shape), selectable=True))
            for port, spec in (analysis.outputs or {}).items():
                ports.addRow(_label(port, "dim"), _label(format_shape(spec.shape), selectable=True))
            layout.addLayout(ports)
            if analysis.outputs is None:
                layout.addWidget(_label("The outputs cannot be inferred until the problems below are "
                                        "fixed.", "dim", wrap=True))
            if analysis.param_count is not None:
                count = analysis.param_count
                layout.addWidget(_label(f"{count:,} parameter{'' if count == 1 else 's'}", "dim"))
            for problem in analysis.problems:
                layout.addSpacing(2)
                layout.addWidget(_label(problem.message, _SEVERITY_ROLES.get(problem.severity, "dim"),
                                        wrap=True, selectable=True))
        self._content_layout.replaceWidget(self._shapes, section)
        self._shapes.deleteLater()
        self._shapes = section

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

    def _rename(self, field: _TextField) -> None:
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

    def _revert_name(self, field: _TextField) -> None:
        if self._is_current(field):
            field.set_error(None)
            field.show_value(self._node.name)


def form_layout() -> QFormLayout:
    form = QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    return form
