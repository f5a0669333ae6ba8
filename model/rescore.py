"""A second look at each detection's score, with what the detector does not see (ADR 0041).

The detector scores a candidate from a window of the frame. Three things it cannot weigh tell a
target from a false alarm, and a missed target from a background blob: where the candidate lies
against the sky (the sky network's logit, which sees the whole frame), how many confident
detections the frame and the candidate's neighbourhood hold (swarms come in groups), and its
contrast against its own surround and against the frame. ``rescored`` combines them with the
detector's logit in a logistic regression whose coefficients live in the config (``rescore``, one
weight per feature and a bias, fitted on the validation split by ``python -m model.rescore_fit``)
and returns new scores; an empty ``rescore`` leaves the scores as they are. Numpy only: the
Predictor calls it in its finish stage, after the box fit and the one-box-per-target suppression.
"""

from __future__ import annotations

import numpy as np

from model.config import RESCORE_LENGTH

# The features, in the order of the config's weights (the bias comes last).
FEATURES = (
    "logit",  # the detector's score as a logit
    "logit_vs_best",  # minus the frame's best logit
    "frame_confident",  # log(1 + detections >= 0.5 in the frame)
    "frame_uncertain",  # log(1 + detections in [0.15, 0.5))
    "near_confident",  # log(1 + other detections >= 0.5 within NEAR_PX)
    "near_best",  # the best other score within NEAR_PX (0: none)
    "local_contrast",  # log(1 + (peak - surround median) / surround spread)
    "frame_contrast",  # log(1 + (peak - surround median) / the frame's spread)
    "box_area",  # log(1 + w * h)
    "large_frame",  # 1 for frames taller than 700 px (the 1280x1024 cameras)
    "sky_logit",  # the sky logit at the centre, clipped to +-SKY_CLIP
    "sky_logit_min",  # its minimum over the 9x9 px around the centre
    "frame_sky",  # the share of the frame whose sky logit is >= 0
)
assert len(FEATURES) + 1 == RESCORE_LENGTH, "model.config.RESCORE_LENGTH must follow FEATURES"
NEAR_PX = 24.0
SKY_CLIP = 8.0
WINDOW = 6  # the surround: a (2 * WINDOW + 1)^2 window, its border ring
CONFIDENT, UNCERTAIN = 0.5, 0.15
LARGE_FRAME_H = 700


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def features(boxes: np.ndarray, scores: np.ndarray, gray: np.ndarray, sky_logit: np.ndarray | None) -> np.ndarray:
    """float64 [N, len(FEATURES)] of the boxes (x1, y1, x2, y2) with their detector scores, on the
    frame ``gray`` (any affine scaling of the image) and the sky logit [H, W] (None: no sky)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    n = len(b)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    h, w = gray.shape
    c = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    lg = _logit(s)
    dist = np.linalg.norm(c[:, None] - c[None], axis=2)
    near = (dist < NEAR_PX) & ~np.eye(n, dtype=bool)
    spread = float(np.std(gray)) + 1e-6
    xi = np.clip(c[:, 0].astype(int), 0, w - 1)
    yi = np.clip(c[:, 1].astype(int), 0, h - 1)
    local = np.zeros(n)
    frame = np.zeros(n)
    sky_min = np.zeros(n)
    for k in range(n):
        x, y = xi[k], yi[k]
        win = gray[max(y - WINDOW, 0) : y + WINDOW + 1, max(x - WINDOW, 0) : x + WINDOW + 1]
        core = gray[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
        ring = np.concatenate([win[0], win[-1], win[:, 0], win[:, -1]])
        rise = float(core.max()) - float(np.median(ring))
        local[k] = rise / (float(ring.std()) + 1e-3 * spread + 1e-6)
        frame[k] = rise / spread
        if sky_logit is not None:
            sky_min[k] = float(sky_logit[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5].min())
    if sky_logit is not None:
        sky_at = np.asarray(sky_logit[yi, xi], np.float64)
        frame_sky = float(np.mean(sky_logit >= 0))
    else:
        sky_at, frame_sky = np.zeros(n), 0.0
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    ones = np.ones(n)
    return np.stack([
        lg,
        lg - lg.max(),
        np.log1p((s >= CONFIDENT).sum()) * ones,
        np.log1p(((s >= UNCERTAIN) & (s < CONFIDENT)).sum()) * ones,
        np.log1p((near & (s[None] >= CONFIDENT)).sum(1)),
        np.where(near, s[None], 0.0).max(1),
        np.log1p(np.clip(local, 0, None)),
        np.log1p(np.clip(frame, 0, None)),
        np.log(area + 1),
        float(h > LARGE_FRAME_H) * ones,
        np.clip(sky_at, -SKY_CLIP, SKY_CLIP),
        np.clip(sky_min, -SKY_CLIP, SKY_CLIP),
        frame_sky * ones,
    ], 1)


def apply(coefficients: tuple[float, ...] | list[float], feats: np.ndarray) -> np.ndarray:
    """float32 [N] scores in (0, 1): the logistic model (weights then bias) on the features."""
    coef = np.asarray(coefficients, np.float64)
    z = feats @ coef[:-1] + coef[-1]
    return (1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))).astype(np.float32)


def rescored(boxes: np.ndarray, scores: np.ndarray, gray: np.ndarray, sky_logit: np.ndarray | None,
             coefficients: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, new scores), best first; the inputs unchanged when ``coefficients`` is empty."""
    if not len(coefficients) or not len(scores):
        return boxes, scores
    return best_first(boxes, apply(coefficients, features(boxes, scores, gray, sky_logit)))


def best_first(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and their scores sorted by score, best first (ties keep their order)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(boxes)[order], np.asarray(scores)[order]


def fit(feats: np.ndarray, labels: np.ndarray, ridge: float = 1e-3, steps: int = 50,
        prior: tuple[float, ...] | list[float] = ()) -> tuple[float, ...]:
    """Logistic-regression coefficients (weights, bias) by Newton's method on standardised
    features, with an L2 penalty of ``ridge`` per sample on the weights; returned on the raw
    features so ``apply`` needs no scaling. With ``prior`` (another fit's coefficients) the
    penalty pulls the weights towards the prior's instead of towards zero: a fine-tuned network's
    rescorer refitted on a project's few validation frames stays near its parent's."""
    x = np.asarray(feats, np.float64)
    y = np.asarray(labels, np.float64)
    mu, sd = x.mean(0), x.std(0)
    sd[sd < 1e-9] = 1.0
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    centre = np.zeros(z.shape[1])
    if len(prior):
        if len(prior) != z.shape[1]:
            raise ValueError(f"prior has {len(prior)} coefficients, the features need {z.shape[1]}")
        centre[:-1] = np.asarray(prior[:-1], np.float64) * sd  # the prior's weights on standardised features
    beta = centre.copy()
    if len(prior):  # start from the prior's own function (its bias moved to the standardised features);
        beta[-1] = float(prior[-1]) + float(np.dot(prior[:-1], mu))  # from bias 0 Newton can diverge
    penalty = np.full(z.shape[1], ridge * len(x))
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -40, 40)))
        grad = z.T @ (p - y) + penalty * (beta - centre)
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        delta = np.linalg.solve(hess, grad)
        beta -= delta
        if np.abs(delta).max() < 1e-10:
            break
    weights = beta[:-1] / sd
    bias = beta[-1] - float((beta[:-1] * mu / sd).sum())
    return tuple(float(v) for v in (*weights, bias))
