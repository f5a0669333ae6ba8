"""Live training plot: losses per step (top) and validation metrics per epoch (bottom).

Plain data in (floats and dicts), no torch and no database. Points arrive at up to a few per
second; curves are redrawn at most every ``redraw_ms`` so a fast stream never floods the GUI.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

PLOT_HINT_HEIGHT = 170  # each plot's preferred height; the dock gives them what it has

# Stable colours per series so "total" is the same blue in every run.
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
LOSS_ORDER = ("total", "cls", "box", "ctr", "sky", "sky network")  # the last: a fine-tune's sky stage
METRIC_ORDER = ("mAP07", "mAP12", "recall", "pd", "sky_iou")
# Metrics drawn on the 0..1 axis; counts such as fa_per_image would squash it, so they are skipped.
UNIT_METRICS = frozenset(METRIC_ORDER)
LEGEND_HEADROOM = 0.3  # fraction of the data's height kept free above it for the legend row


class _Series:
    """x/y lists of one curve plus its plot item."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.x: list[float] = []
        self.y: list[float] = []


class TrainPlot(QWidget):
    """Two stacked plots sharing nothing but the widget; x is in epochs for both."""

    def __init__(self, parent: QWidget | None = None, redraw_ms: int = 150) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.metric_plot = pg.PlotWidget(title="Validation (per epoch)")
        for plot, ylabel in ((self.loss_plot, "loss"), (self.metric_plot, "score")):
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            plot.showGrid(x=True, y=True, alpha=0.3)
            # One row of entries along the top; the y range leaves headroom for it (redraw), so
            # the legend never covers a curve.
            legend = plot.addLegend(offset=(40, 2), colCount=5, labelTextSize="8pt")
            legend.setBrush(pg.mkBrush(0, 0, 0, 0))
            plot.setMouseEnabled(x=False, y=False)
            plot.disableAutoRange()
            layout.addWidget(plot)
        self._epochs = 1
        self._losses: dict[str, _Series] = {}
        self._metrics: dict[str, _Series] = {}
        self._set_ranges()
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(redraw_ms)
        self._timer.timeout.connect(self.redraw)

    def sizeHint(self) -> QSize:  # noqa: N802
        # pyqtgraph asks 480 px per plot; inside a scrolled dock with word-wrapped labels Qt
        # sizes the content by the hints, so that pushed the second plot below the dock's edge.
        return QSize(360, 2 * PLOT_HINT_HEIGHT)

    # ------------------------------------------------------------------ data in
    def set_epochs(self, epochs: int) -> None:
        """The run's length: the x axes span 0..epochs from the first step on."""
        self._epochs = max(int(epochs), 1)
        self._set_ranges()

    def add_step(self, x: float, losses: dict[str, float]) -> None:
        """One training step at ``x`` epochs (fractional) with its named losses."""
        for name, value in _finite(losses).items():
            self._append(self._losses, self.loss_plot, LOSS_ORDER, name, x, value)
        self._schedule()

    def add_epoch(self, epoch: float, metrics: dict[str, float]) -> None:
        """Validation metrics after ``epoch`` epochs; only the 0..1 metrics are drawn."""
        unit = {k: v for k, v in _finite(metrics).items() if k in UNIT_METRICS}
        for name, value in unit.items():
            self._append(self._metrics, self.metric_plot, METRIC_ORDER, name, epoch, value)
        self._schedule()

    def clear(self) -> None:
        """Forget every point (a new run starts)."""
        for series, plot in ((self._losses, self.loss_plot), (self._metrics, self.metric_plot)):
            for s in series.values():
                plot.removeItem(s.item)
            series.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self._dirty = False

    # ------------------------------------------------------------------ queries (tests, status)
    def loss_points(self, name: str = "total") -> list[tuple[float, float]]:
        s = self._losses.get(name)
        return list(zip(s.x, s.y, strict=True)) if s else []

    def metric_points(self, name: str) -> list[tuple[float, float]]:
        s = self._metrics.get(name)
        return list(zip(s.x, s.y, strict=True)) if s else []

    def series_names(self) -> tuple[list[str], list[str]]:
        return list(self._losses), list(self._metrics)

    # ------------------------------------------------------------------ drawing
    def redraw(self) -> None:
        """Push the buffered points to the curves (normally called by the throttle timer)."""
        self._dirty = False
        for s in (*self._losses.values(), *self._metrics.values()):
            s.item.setData(s.x, s.y)
        for s in self._losses.values():
            # A lone first step drawn as a line is invisible: show it as a dot until there are two.
            s.item.setSymbol("o" if len(s.x) < 2 else None)
            s.item.setSymbolSize(5)
        self._set_ranges()

    def _set_ranges(self) -> None:
        """x: 0..epochs (or the data, if longer); y: 0..max loss, 0..1 for metrics; +headroom.

        Explicit ranges: pyqtgraph's auto-range on one point or an empty plot spans something
        like -10..15 with nothing visible in it.
        """
        xs = [x for s in (*self._losses.values(), *self._metrics.values()) for x in s.x]
        x_max = max([float(self._epochs), *xs])
        ys = [y for s in self._losses.values() for y in s.y]
        y_max = max(ys) if ys else 1.0
        y_min = min(0.0, min(ys)) if ys else 0.0
        span = max(y_max - y_min, abs(y_max), 1e-3)
        self.loss_plot.setXRange(0.0, x_max, padding=0.02)
        self.loss_plot.setYRange(y_min, y_max + span * LEGEND_HEADROOM, padding=0.02)
        self.metric_plot.setXRange(0.0, x_max, padding=0.02)
        self.metric_plot.setYRange(0.0, 1.0 + LEGEND_HEADROOM, padding=0.02)

    def _schedule(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._timer.start()

    def _append(
        self,
        table: dict[str, _Series],
        plot: pg.PlotWidget,
        order: tuple[str, ...],
        name: str,
        x: float,
        y: float,
    ) -> None:
        series = table.get(name)
        if series is None:
            colour = _colour(order, name, len(table))
            width = 2 if name == "total" else 1
            symbol = "o" if plot is self.metric_plot else None
            item = plot.plot(
                [], [], name=name, pen=pg.mkPen(colour, width=width),
                symbol=symbol, symbolSize=6, symbolBrush=colour,
            )  # fmt: skip
            series = table[name] = _Series(item)
        series.x.append(float(x))
        series.y.append(float(y))


def _finite(values: dict) -> dict[str, float]:
    """Numeric, finite entries only: a NaN loss must not blank the whole plot."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


def _colour(order: tuple[str, ...], name: str, n_existing: int) -> str:
    idx = order.index(name) if name in order else len(order) + n_existing
    return _PALETTE[idx % len(_PALETTE)]
