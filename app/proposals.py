"""One image's model result as the project stores it: the single Prediction -> propose-edit
conversion of the GUI (the pre-annotation worker calls it; so should any other path that turns
a ``model.inference.Prediction`` into proposals).

Storing a result also scores the image for the review queue (core.attention, issue 20): how many
proposals sit near the model's operating threshold, how much of the sky is uncertain, what the
model disputes among the labels.

Besides the proposals and the sky it carries the sensor pixels the Predictor's bad-pixel filter
repaired (core.badpixels), so that they are stored with the image in the same undoable edit and
the canvas can show the annotator where they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.attention import sky_uncertain_share_logit
from core.domain import Target
from core.edits import AnnotationEdit

# Operating threshold of a model that does not state one (the window's default proposal threshold).
DEFAULT_OPERATING = 0.5


@dataclass(frozen=True)
class Proposal:
    targets: list[Target]
    sky: np.ndarray | None
    # int32 [K, 2] (x, y) repaired before the network; None: no filter ran, nothing is recorded.
    bad_pixels: np.ndarray | None = None
    # The review queue's inputs (core.attention): the model's operating threshold and the share of
    # the frame whose sky probability is near the sky threshold (None: not known, e.g. a stand-in).
    operating: float | None = None
    sky_uncertain: float | None = None


def proposal_from_prediction(predictor: Any, prediction: Any, score_thr: float) -> Proposal:
    """Proposals scoring >= ``score_thr``, the cleaned sky and the repaired pixels of a
    ``Prediction`` made by ``predictor`` (a ``model.inference.Predictor``)."""
    targets, sky = predictor.targets(prediction, score_thr)
    filtered = bool(getattr(predictor, "bad_pixel_filter", True))
    bad = np.asarray(prediction.bad_pixels, np.int32).reshape(-1, 2) if filtered else None
    return Proposal(targets, sky, bad, float(prediction.operating_threshold), _sky_uncertain(prediction))


def _sky_uncertain(prediction: Any) -> float | None:
    """Share of uncertain sky on the network's own small logit map (the whole-frame pass when
    there is one, else the stride-4 map): a full-size sigmoid would cost 20-40 ms per frame."""
    whole = getattr(prediction, "sky_whole_logit", None)
    logit = whole if whole is not None else getattr(prediction, "sky_logit", None)
    if logit is None:
        return None
    return sky_uncertain_share_logit(logit, prediction.sky_threshold)


def predict_proposal(predictor: Any, image: np.ndarray, score_thr: float) -> Proposal:
    """``image`` through ``predictor``. A real Predictor predicts once and the repaired pixels
    come with the result; a stand-in offering only ``predict_targets`` (tests, scripted models)
    has no bad-pixel filter, so it records none."""
    predict = getattr(predictor, "predict", None)
    if predict is None or not hasattr(predictor, "targets"):
        targets, sky = predictor.predict_targets(image, score_thr)
        return Proposal(targets, sky, None)
    # As Predictor.predict_targets: detect down to the config's floor, then keep >= score_thr.
    floor = getattr(getattr(predictor, "cfg", None), "score_thr", score_thr)
    return proposal_from_prediction(predictor, predict(image, score_thr=min(score_thr, floor)),
                                    score_thr)  # fmt: skip


def store_proposal(
    project: Any, image_id: int, proposal: Proposal, model_version_id: int | None
) -> AnnotationEdit:
    """Commit ``proposal`` as the image's pre-annotation edit (one undo step), then score the
    image for the review queue (derived data: a separate short write)."""
    edit = project.propose(image_id, proposal.targets, proposal.sky, model_version_id,
                           bad_pixels=proposal.bad_pixels)  # fmt: skip
    record = getattr(project, "record_attention", None)  # stand-in projects of tests lack it
    if record is not None:
        operating = proposal.operating if proposal.operating is not None else DEFAULT_OPERATING
        record(image_id, operating, proposal.sky_uncertain, model_version_id, proposal.sky)
    return edit
