"""The Preview dock: the selected node's output in detail. A larger view (the picture, one channel
of it at a time from the channel picker, a plot of a vector or a sequence, bars for the top
classes), its statistics over the sample batch and a histogram of one sample's values; or, when
it has none, why (previews are off, its error, no sample)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QBoxLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.preview.summary import FEATURE_MAP, IMAGE, PROBABILITIES, SEQUENCE, NodePreview
from app.gui.preview.controller import OFF_TEXT, PreviewController
from app.gui.preview.strip import KIND_WORDS, PENDING, number_text
from app.gui.theme import colors

MIN_PLOT_HEIGHT = 110  # px: the dock beside Problems leaves about this much at 1024×700
WIDE = 1.8  # width : height above which the view, statistics and histogram stand side by side
HISTOGRAM_BINS = 40
WHOLE_PICTURE = -1  # the channel picker's first value: the whole picture (an image, or the mosaic)
STATS = (("mean", "mean"), ("std", "std"), ("min", "minimum"), ("max", "maximum"))


class PreviewPanel(QWidget):
    """Follows the controller's previews and the node the window selects (`show_node`)."""

    def __init__(self, controller: PreviewController, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.node_id: str | None = None
        self.shown: NodePreview | None = None
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel()
        self.subtitle.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.channel_box = QSpinBox()
        self.channel_box.setToolTip("Which channel to show; the first entry shows the whole picture")
        self.channel_box.valueChanged.connect(self._draw_view)
        self.channel_label = QLabel("Channel")
        self.channel_label.setBuddy(self.channel_box)
        self.view = self.histogram = None  # pyqtgraph plots, built with the details (`_details`)
        self.details: QBoxLayout | None = None
        self.stat_values: dict[str, QLabel] = {}
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 6, 8, 6)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.subtitle, 1)
        column.addLayout(header)
        column.addWidget(self.pages, 1)
        controller.changed.connect(self.refresh)
        self.refresh()

    def _plot(self):
        import pyqtgraph as pg

        plot = pg.PlotWidget()
        plot.setMinimumHeight(MIN_PLOT_HEIGHT)
        plot.setMenuEnabled(False)
        plot.getPlotItem().hideButtons()
        for axis in ("left", "bottom"):
            plot.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)
        return plot

    def _details(self) -> QWidget:
        """The view, the statistics and the histogram: side by side in a wide dock (beside
        Problems), one above the other in a tall one. Built for the first preview shown (which
        needs TensorFlow loaded anyway): pyqtgraph is slow to import, and the launch does without."""
        self.view = self._plot()
        self.histogram = self._plot()
        self.histogram.getPlotItem().setTitle("values of the first sample", size="8pt")
        page = QWidget()
        self.details = QBoxLayout(self._direction(self.size()), page)
        self.details.setContentsMargins(0, 4, 0, 0)
        view_column = QVBoxLayout()
        picker = QHBoxLayout()
        picker.addWidget(self.channel_label)
        picker.addWidget(self.channel_box)
        picker.addStretch(1)
        view_column.addLayout(picker)
        view_column.addWidget(self.view, 1)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        names = [*STATS, ("zeros", "zero_share"), ("NaN", "nan_count"), ("Inf", "inf_count")]
        for index, (label, key) in enumerate(names):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.stat_values[key] = value
            row, col = divmod(index, 2)
            grid.addWidget(QLabel(label), row, 2 * col)
            grid.addWidget(value, row, 2 * col + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        stats_column = QVBoxLayout()
        stats_column.addWidget(QLabel("Statistics over the sample batch"))
        stats_column.addLayout(grid)
        stats_column.addStretch(1)
        self.details.addLayout(view_column, 3)
        self.details.addLayout(stats_column, 2)
        self.details.addWidget(self.histogram, 3)
        return page

    @staticmethod
    def _direction(size) -> QBoxLayout.Direction:
        wide = size.width() > WIDE * size.height()
        return QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom

    def resizeEvent(self, event) -> None:
        if self.details is not None:
            self.details.setDirection(self._direction(event.size()))
        super().resizeEvent(event)

    # -- what it shows -------------------------------------------------------------------
    def show_node(self, node_id: str | None) -> None:
        """The node selected on the canvas (None: none, or several)."""
        self.node_id = node_id
        self.refresh()

    def refresh(self) -> None:
        controller, node_id = self.controller, self.node_id
        document = controller.document
        known = document is not None and node_id is not None and document.graph.has_node(node_id)
        node = document.graph.node(node_id) if known else None
        self.title.setText(node.name if node else "Preview")
        preview = controller.preview(node.id) if node and controller.enabled else None
        if preview is None:
            self.shown = None
            self.subtitle.setText("")
            if not controller.enabled:
                self.message.setText(OFF_TEXT)
            elif node is None:
                self.message.setText("Select a node to see its output on the preview sample.")
            else:
                why = controller.why_none(node.id)
                self.message.setText(f"No preview: {why}" if why else PENDING.capitalize())
            self.pages.setCurrentIndex(0)
            return
        if self.details is None:
            self.pages.addWidget(self._details())
        self.pages.setCurrentIndex(1)
        kind = KIND_WORDS.get(preview.kind, preview.kind)
        shape = "×".join(map(str, preview.shape))
        self.subtitle.setText(f"{kind} {shape} · port {preview.port} · on {controller.result.source}")
        if preview is not self.shown:
            self._show(preview)

    def _show(self, preview: NodePreview) -> None:
        last = self.shown
        changed_kind = last is None or (last.kind, last.shape) != (preview.kind, preview.shape)
        self.shown = preview
        pictured = preview.picture is not None and preview.kind in (IMAGE, FEATURE_MAP)
        for widget in (self.channel_label, self.channel_box):
            widget.setVisible(pictured)
        self.channel_box.blockSignals(True)
        self.channel_box.setRange(WHOLE_PICTURE, preview.channels - 1)
        self.channel_box.setSpecialValueText("mosaic" if preview.kind == FEATURE_MAP else "all")
        if changed_kind:
            self.channel_box.setValue(WHOLE_PICTURE)
        self.channel_box.blockSignals(False)
        self._draw_view()
        self._draw_stats(preview)
        self._draw_histogram(preview)

    def _draw_view(self) -> None:
        preview = self.shown
        if preview is None:
            return
        import numpy as np
        import pyqtgraph as pg

        plot = self.view.getPlotItem()
        plot.clear()
        self._style(self.view)
        pen = pg.mkPen(QColor(colors().info), width=2)
        if preview.picture is not None and preview.kind in (IMAGE, FEATURE_MAP):
            channel = self.channel_box.value()
            self._image_axes(plot, True)
            if channel == WHOLE_PICTURE:
                item = pg.ImageItem(preview.picture, axisOrder="row-major", levels=(0, 255))
            else:
                item = pg.ImageItem(np.nan_to_num(preview.channel_picture(channel)), axisOrder="row-major")
                item.setColorMap(pg.colormap.get("viridis"))
            plot.addItem(item)
            plot.autoRange(padding=0)
            return
        self._image_axes(plot, False)
        if preview.kind == PROBABILITIES and preview.top:
            shares = [share for _, share in preview.top]
            plot.addItem(pg.BarGraphItem(x=np.arange(len(shares)), height=shares, width=0.6,
                                         brush=QColor(colors().info)))
            plot.getAxis("bottom").setTicks([[(i, label) for i, (label, _) in enumerate(preview.top)]])
            plot.setYRange(0, 1)
            plot.setLabel("left", "probability")
            return
        values = preview.line if preview.line is not None else np.ravel(preview.sample)
        plot.addItem(pg.PlotDataItem(np.asarray(values), pen=pen))
        plot.setLabel("left", "mean over features" if preview.kind == SEQUENCE else "value")
        plot.setLabel("bottom", "step" if preview.kind == SEQUENCE else "index")
        plot.autoRange()

    def _image_axes(self, plot, image: bool) -> None:
        """Pictures fill the view the right way up, square pixels and no axes; plots have axes."""
        plot.getAxis("bottom").setTicks(None)
        for axis in ("left", "bottom"):
            plot.setLabel(axis, "")  # (which shows the axis)
            plot.showAxis(axis, not image)
        plot.getViewBox().invertY(image)
        plot.getViewBox().setAspectLocked(image)

    def _draw_stats(self, preview: NodePreview) -> None:
        stats = preview.stats
        for _, key in STATS:
            self.stat_values[key].setText(number_text(getattr(stats, key)))
        self.stat_values["zero_share"].setText(f"{stats.zero_share:.1%}")
        self.stat_values["nan_count"].setText(f"{stats.nan_count:,}")
        self.stat_values["inf_count"].setText(f"{stats.inf_count:,}")
        warning = f"color: {colors().warning}"
        for key in ("nan_count", "inf_count"):
            self.stat_values[key].setStyleSheet(warning if getattr(stats, key) else "")

    def _draw_histogram(self, preview: NodePreview) -> None:
        import numpy as np
        import pyqtgraph as pg

        plot = self.histogram.getPlotItem()
        plot.clear()
        self._style(self.histogram)
        values = np.ravel(preview.sample)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        counts, edges = np.histogram(values, bins=min(HISTOGRAM_BINS, max(len(np.unique(values)), 1)))
        fill = QColor(colors().info)
        fill.setAlphaF(0.5)
        plot.addItem(pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                     pen=pg.mkPen(QColor(colors().info))))
        plot.autoRange()

    def _style(self, plot) -> None:
        plot.setBackground(self.palette().color(QPalette.ColorRole.Base))
