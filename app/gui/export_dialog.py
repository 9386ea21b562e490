"""File ▸ Export…: pick a format and a place, watch the export's stages, read how it was checked.

An export compiles the model, writes it and reloads it to compare predictions, which takes
seconds to minutes, so it runs as a job on a thread of its own (`app.gui.background`; Keras
keeps per-thread state, so the whole export happens there) on a snapshot of the project:
the user may go on editing. The dialog stays open and cannot be closed until the export
has ended, so its outcome is always seen; a failure shows the core's message, with the
traceback as details when it was not a foreseen refusal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.document.fileformat import snapshot
from app.core.document.project import Project
from app.core.export.common import SAVEDMODEL, ExportError, ExportReport
from app.core.export.formats import FORMATS, export
from app.gui.background import Failure, Job
from app.gui.panels.fields import set_style_property

THREAD = "graft-export"


@dataclass(frozen=True)
class ExportFailed:
    message: str
    details: str = ""  # a traceback when the failure was not one the core foresaw
    ok: bool = False  # like a failed ExportReport


class ExportDialog(QDialog):
    """One export at a time; `finished_export` carries its ExportReport or ExportFailed."""

    finished_export = Signal(object)

    def __init__(self, project: Project, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        self.project = project
        self.settings = settings
        self.result: ExportReport | ExportFailed | None = None
        self.stages: list[str] = []  # seen during the current export, in order
        self._job: Job | None = None  # the export in progress

        self.format = QComboBox()
        for key, spec in FORMATS.items():
            self.format.addItem(spec.label, key)
        self.path = QLineEdit()
        self.path.setPlaceholderText("where to write it")
        self.path.textChanged.connect(self._update_buttons)
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_path)
        place = QHBoxLayout()
        place.addWidget(self.path, 1)
        place.addWidget(choose)
        self.weights_note = QLabel(self._weights_text(), wordWrap=True)
        self.weights_note.setProperty("role", "dim")

        place_label = QLabel("&Save to:")
        place_label.setBuddy(self.path)
        form = QFormLayout()
        form.addRow("&Format:", self.format)
        form.addRow(place_label, place)
        form.addRow("", self.weights_note)

        self.stage = QLabel(wordWrap=True)
        self.progress = QProgressBar(textVisible=False, maximumHeight=14)
        self.progress.setRange(0, 0)  # busy: no stage knows its own length
        self.progress.hide()
        self.outcome = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)  # messages quote errors
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("&Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.show_button = self.buttons.addButton("Show in &Folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.show_button.hide()  # until something was written
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start)
        self.show_button.clicked.connect(self.show_in_folder)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.stage)
        layout.addWidget(self.progress)
        layout.addWidget(self.outcome)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        remembered = settings.value("export/format", SAVEDMODEL) if settings else SAVEDMODEL
        self.format.setCurrentIndex(max(0, self.format.findData(remembered)))
        self.path.setText(str(self.default_path(self.format_key)))
        self.format.currentIndexChanged.connect(self._format_changed)
        self._update_buttons()

    # -- choosing ----------------------------------------------------------------------------
    @property
    def format_key(self) -> str:
        return self.format.currentData()

    @property
    def running(self) -> bool:
        return self._job is not None

    def default_path(self, key: str) -> Path:
        """Beside the project, named after it: `digits.keras`, `digits_savedmodel/`, …"""
        folder = self.project.path.parent if self.project.path else Path.home()
        stem = self.project.path.stem if self.project.path else "model"
        return folder / _file_name(stem, key)

    def _format_changed(self) -> None:
        """Keep the chosen folder and name; give the name the new format's ending."""
        current = Path(self.path.text().strip() or self.default_path(self.format_key))
        stem = current.name
        for spec in FORMATS.values():
            if spec.folder and stem.endswith(f"_{spec.key}"):
                stem = stem.removesuffix(f"_{spec.key}")
            elif spec.suffix and stem.endswith(spec.suffix):
                stem = stem.removesuffix(spec.suffix)
        self.path.setText(str(current.with_name(_file_name(stem, self.format_key))))

    def choose_path(self) -> None:
        spec = FORMATS[self.format_key]
        start = self.path.text().strip() or str(self.default_path(self.format_key))
        if spec.folder:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export to a new folder", start, "Folders (*)")
        else:
            kind = f"{spec.label} (*{spec.suffix})"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export to", start, kind)
            if chosen and not chosen.endswith(spec.suffix):
                chosen += spec.suffix
        if chosen:
            self.path.setText(chosen)

    def _weights_text(self) -> str:
        if self.project.training.weights:
            return f"With the trained weights ({self.project.training.weights})."
        return ("The project has no trained weights: the export carries the pretrained weights, and "
                "new layers as freshly initialised.")

    def _update_buttons(self) -> None:
        self.export_button.setEnabled(not self.running and bool(self.path.text().strip()))
        self.close_button.setEnabled(not self.running)
        self.format.setEnabled(not self.running)
        self.path.setEnabled(not self.running)

    # -- exporting ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.running or not self.path.text().strip():
            return
        path = Path(self.path.text().strip()).expanduser()
        if self.settings is not None:
            self.settings.setValue("export/format", self.format_key)
        self.result, self.stages = None, []
        self.outcome.clear()
        self.show_button.hide()
        self.stage.setText("Starting…")
        self.progress.show()
        project, key = snapshot(self.project), self.format_key
        job = Job(lambda report: export(project, key, path, progress=report), name="Export")
        job.progress.connect(self._stages)
        job.returned.connect(self._done)
        job.failed.connect(self._failed)
        self._job = job
        self._update_buttons()
        job.start(THREAD, dedicated=True)

    def _stages(self, texts: list[str]) -> None:
        self.stages.extend(texts)
        self.stage.setText(f"{texts[-1]}…")

    def _failed(self, failure: Failure) -> None:
        """A refusal the core foresaw says why; anything else comes with its traceback."""
        if isinstance(failure.error, ExportError):
            self._done(ExportFailed(f"Cannot export: {failure.error}"))
        else:
            self._done(ExportFailed(f"Export failed: {failure}", failure.details))

    def _done(self, result: ExportReport | ExportFailed) -> None:
        self._job = None
        self.result = result
        self.progress.hide()
        self.stage.clear()
        ok = result.ok
        self.outcome.setText(("✓ " if ok else "") + result.message)
        set_style_property(self.outcome, "role", "ok" if ok else "error")
        self.show_button.setVisible(ok)
        self._update_buttons()
        if isinstance(result, ExportFailed) and result.details:
            box = QMessageBox(QMessageBox.Icon.Critical, "Export failed", result.message,
                              QMessageBox.StandardButton.Close, self)
            box.setDetailedText(result.details)
            box.open()
        self.finished_export.emit(result)

    def show_in_folder(self) -> None:
        """Open the file manager on the folder that holds what was written."""
        if isinstance(self.result, ExportReport):
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.path.parent)))

    # -- closing -----------------------------------------------------------------------------
    def reject(self) -> None:
        if self.running:
            self.stage.setText(f"{self.stages[-1] if self.stages else 'Exporting'}… "
                               "(the export finishes first; it cannot be interrupted safely)")
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.running:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)


def _file_name(stem: str, key: str) -> str:
    """What an export of format `key` is called: `digits.keras`, `digits_savedmodel`, …"""
    spec = FORMATS[key]
    return f"{stem}_{key}" if spec.folder else stem + spec.suffix
