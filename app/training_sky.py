"""The Training dock's sky-network part of a fine-tune (ADR 0031): the "Sky network" row (on/off
and its share of the time budget, the split stated in minutes) and the sky stage's place in the
progress bar, the loss plot and the ETA. The stage itself is `main.py train --sky-share`
(app/cli/train_sky_stage.py); its events carry ``"stage": "sky"``."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSpinBox, QWidget

STAGE = "sky"  # app/cli/train_sky_stage.STAGE (not imported: the CLI side may import torch)
DEFAULT_PERCENT = 30  # of the time budget: the detector keeps most (it has the most steps to make)
DEFAULT_STEPS = 32  # without a time budget: train --sky-steps (the CLI's own default)
LOSS_NAME = "sky network"  # its series in the loss plot


def stage_of(ev: dict) -> str | None:
    return ev.get("stage")


class SkyStageRow(QWidget):
    """[x] Sky network [30 % (1.5 min)]: on the Time budget row, so the dock is no taller; the split
    in words ("Detector 3.5 + sky 1.5 min") is its tooltip and ``text()``."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox("Sky network")
        self.enabled.setChecked(True)
        self.enabled.setToolTip("After the detector, the sky network learns from the same reviewed images' skies "
                                "(crop training never changes it); one new model holds both")
        self.percent = QSpinBox()
        self.percent.setRange(10, 90)
        self.percent.setSingleStep(10)
        self.percent.setValue(DEFAULT_PERCENT)
        self.percent.setSuffix(" %")
        self.percent.setToolTip("The part of the time budget the sky network gets; the detector gets the rest")
        self._text = ""  # the split in words (tooltip, the dock's status line); the box's suffix shows the minutes
        self._minutes: float | None = None
        self._fine_tune = True
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.enabled)
        layout.addWidget(self.percent)
        layout.addStretch(1)
        self.enabled.toggled.connect(self._refresh)
        self.percent.valueChanged.connect(self._refresh)
        self._refresh()

    def set_budget(self, minutes: float | None) -> None:
        """The dock's time budget (None: no limit), to state the split in minutes."""
        self._minutes = minutes or None
        self._refresh()

    def set_fine_tune(self, fine_tune: bool) -> None:
        """Only a fine-tune has a trained sky network to continue (from scratch: off)."""
        self._fine_tune = fine_tune
        self.enabled.setEnabled(fine_tune)
        self._refresh()

    def active(self) -> bool:
        return self._fine_tune and self.enabled.isChecked()

    def share(self) -> float:
        """train --sky-share: 0 when off."""
        return self.percent.value() / 100.0 if self.active() else 0.0

    def text(self) -> str:
        return self._text

    def _refresh(self, *_args) -> None:
        self.percent.setEnabled(self.active() and self._minutes is not None)
        sky_min = self._minutes * self.share() if self._minutes is not None and self.active() else None
        self.percent.setSuffix(f" % ({sky_min:.1f} min)" if sky_min is not None else " %")
        if not self._fine_tune:
            text = "Detector only (from scratch)."
        elif not self.enabled.isChecked():
            text = "Detector only; the sky network is kept."
        elif self._minutes is None:
            text = f"No limit: epochs, then {DEFAULT_STEPS} sky steps."
        else:
            sky = self._minutes * self.share()
            text = f"Detector {self._minutes - sky:.1f} + sky {sky:.1f} min"
        self._text = text
        self.setToolTip(text)
        self.changed.emit()


class SkyProgress:
    """Where the sky stage is: the progress bar's value (after ``detector_total`` steps), the loss
    plot's x (after the detector's epochs) and the ETA of the whole run."""

    def __init__(self) -> None:
        self.detector_total = 1
        self.detector_epochs = 1
        self.sky_seconds = 0.0  # the sky stage's budget, added to the detector's ETA
        self.units = DEFAULT_STEPS  # the sky stage's part of the progress bar, after the detector's steps

    def plan(self, detector_total: int, detector_epochs: int, share: float, minutes: float | None) -> None:
        """The bar gives the sky stage its share of the budget (by step count: its steps)."""
        self.detector_total, self.detector_epochs = max(detector_total, 1), max(detector_epochs, 1)
        self.sky_seconds = 60.0 * minutes * share if minutes and share else 0.0
        share = share if minutes else 0.0
        self.units = max(1, round(self.detector_total * share / (1.0 - share))) if share else DEFAULT_STEPS

    def maximum(self) -> int:
        return self.detector_total + self.units

    def fraction(self, ev: dict) -> float:
        """The stage's done part from its own clock: elapsed / (elapsed + ETA)."""
        done, left = float(ev.get("elapsed_s") or 0.0), float(ev.get("eta_s") or 0.0)
        return min(max(done / (done + left), 0.0), 1.0) if done + left > 0 else 0.0

    def value(self, ev: dict) -> int:
        return self.detector_total + round(self.units * self.fraction(ev))

    def x(self, ev: dict) -> float:
        """The sky stage spans one epoch's width after the detector's in the loss plot."""
        return self.detector_epochs + self.fraction(ev)

    def status(self, ev: dict) -> str:
        loss = (ev.get("losses") or {}).get("total", ev.get("loss"))
        shown = f", loss {loss:.3f}" if isinstance(loss, int | float) else ""
        return f"Fine-tuning the sky network: step {int(ev.get('step', 0))} of epoch {int(ev.get('epoch', 1))}{shown}."
