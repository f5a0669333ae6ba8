"""How much an image needs a human: the review queue's attention score and the label-noise finder's
disputes (numpy / OpenCV only; no Qt, no torch, no database).

Both compare what the model proposed (stored proposals with their scores, the proposed sky) with
what is labelled (accepted targets, the accepted sky). The rules, in points (why: docs/adr/0016-attention-and-label-noise.md):

- a proposal within ``NEAR_BAND`` of the operating threshold: 1 point (the annotator must decide);
- sky uncertain: the share of the frame whose sky probability lies near the sky threshold
  (``sky_uncertain_share``), 1 point per 5 % of the frame;
- a label the model disputes: 1 point each. Disputes are only counted on an image that has labels
  (an unlabelled image is not in dispute with anything):
  * DOUBTFUL: an accepted target with no proposal of score >= ``LOW_SCORE`` within ``MATCH_DIST``;
  * UNLABELLED: a proposal at or above the operating threshold (one the model would propose) with
    no accepted target within ``MATCH_DIST``;
  * SKY: a connected region of (accepted sky XOR proposed sky) of at least 0.05 % of the frame and
    16 px (the sky-edit rule of the shared effort tool), when both skies exist; 1 point per region
    plus 1 per 5 % of the frame it covers.

A dispute's ``strength`` in [0, 1] orders the noise finder's queue: the proposal's score for an
unlabelled detection, 1 - the best nearby score for a doubtful label, the region's share of the
frame / 5 % (capped at 1) for a sky region. The queue visits images by their strongest dispute,
ties by the sum of their strengths (``image_priority``; measured in benchmarks/bench_noise_finder.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from core.domain import Box, Target, TargetState

NEAR_BAND = 0.15  # |score - operating threshold| <= this: "near the threshold"
LOW_SCORE = 0.10  # a label whose best nearby proposal scores below this: "scored near zero"
MATCH_DIST = 3.0  # px between centres: the Pd convention of the field (shared effort tool)
SKY_LOGIT_BAND = 1.0  # |logit(p) - logit(sky threshold)| below this: sky uncertain
SHARE_PER_POINT = 0.05  # 5 % of the frame = 1 point (uncertain sky, disputed sky)
MIN_REGION_SHARE = 0.0005  # sky regions smaller than this share of the frame (or 16 px) are ignored
MIN_REGION_PX = 16


class DisputeKind(StrEnum):
    DOUBTFUL = "doubtful"  # an accepted target the model scores near zero
    UNLABELLED = "unlabelled"  # a confident detection with no label
    SKY = "sky"  # a sky region the model contradicts


class Verdict(StrEnum):
    """The annotator's answer to a dispute that leaves the label as it is (remembered)."""

    KEPT = "kept"  # the label is right: never shown again
    SECOND_LOOK = "second-look"  # unsure: the image is flagged for a second look


@dataclass(frozen=True)
class Dispute:
    """One label the model disputes. ``box`` frames it on the image (for the canvas and the key
    that remembers a verdict); ``target_id`` is the accepted target (DOUBTFUL) or the proposal
    (UNLABELLED); ``region`` (SKY) is the bool mask of the contradicted region cropped to ``box``
    (``region[r, c]`` is image pixel (box x0 + c, box y0 + r): a queue of hundreds of regions must
    not hold a full frame each), and ``model_says_sky`` whether the model calls that region sky."""

    kind: DisputeKind
    strength: float
    box: Box
    score: float | None = None
    target_id: int | None = None
    region: np.ndarray | None = field(default=None, compare=False, repr=False)
    model_says_sky: bool = False

    @property
    def key(self) -> str:
        """Stable across re-runs of the model: the kind and the item's rounded centre (a proposal's
        id changes with every pre-annotation; its place does not)."""
        x0, y0, x1, y1 = self.box
        return f"{self.kind.value}:{round((x0 + x1) / 2)}:{round((y0 + y1) / 2)}"

    def describe(self) -> str:
        if self.kind is DisputeKind.DOUBTFUL:
            return f"label the model scores {self.score or 0.0:.2f}"
        if self.kind is DisputeKind.UNLABELLED:
            return f"detection {self.score or 0.0:.2f} with no label"
        where = "sky" if self.model_says_sky else "not sky"
        return f"model calls {self.strength * SHARE_PER_POINT * 100:.1f} % of the frame {where}"


@dataclass(frozen=True)
class Attention:
    """An image's attention score and the parts it is made of (for the reason text)."""

    score: float
    near: int = 0  # proposals near the operating threshold
    sky_uncertain: float | None = None  # share of the frame, None: not measured
    disputes: int = 0  # targets in dispute (DOUBTFUL + UNLABELLED)
    sky_regions: int = 0  # disputed sky regions
    sky_disputed: float = 0.0  # share of the frame they cover

    @property
    def reason(self) -> str:
        """A short human reason, the largest part first; '' when nothing needs a look."""
        parts: list[tuple[float, str]] = []
        if self.near:
            parts.append((self.near, f"{_n(self.near, 'proposal')} near threshold"))
        if self.disputes:
            parts.append((self.disputes, f"model disputes {_n(self.disputes, 'label')}"))
        if self.sky_regions:
            parts.append((self.sky_regions + self.sky_disputed / SHARE_PER_POINT,
                          f"sky disputed {_pct(self.sky_disputed)}"))  # fmt: skip
        if self.sky_uncertain:
            points = self.sky_uncertain / SHARE_PER_POINT
            if points >= 0.2:  # under 1 % of the frame is not worth a word
                parts.append((points, f"sky uncertain {_pct(self.sky_uncertain)}"))
        parts.sort(key=lambda p: -p[0])
        return ", ".join(text for _, text in parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %" if share >= 0.01 else f"{share * 100:.1f} %"


def sky_uncertain_share(sky_prob: np.ndarray, sky_threshold: float) -> float:
    """Share of pixels whose sky probability is within ``SKY_LOGIT_BAND`` (in logit) of the
    threshold: a factor e in the odds either side (threshold 0.5: p in [0.269, 0.731])."""
    t = min(max(float(sky_threshold), 1e-6), 1 - 1e-6)
    centre = math.log(t / (1 - t))
    lo = 1 / (1 + math.exp(-(centre - SKY_LOGIT_BAND)))
    hi = 1 / (1 + math.exp(-(centre + SKY_LOGIT_BAND)))
    p = np.asarray(sky_prob)
    if p.size == 0:
        return 0.0
    return float(np.count_nonzero((p >= lo) & (p <= hi)) / p.size)


def sky_uncertain_share_logit(sky_logit: np.ndarray, sky_threshold: float) -> float:
    """``sky_uncertain_share`` on the logit (no sigmoid): pre-annotation passes the network's own
    low-resolution map, whose area shares are those of the full-size map it is upsampled to."""
    t = min(max(float(sky_threshold), 1e-6), 1 - 1e-6)
    z = np.asarray(sky_logit, np.float32)
    if z.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(z - np.float32(math.log(t / (1 - t)))) <= SKY_LOGIT_BAND)
                 / z.size)  # fmt: skip


def centre(t: Target) -> tuple[float, float]:
    """A target's centre in continuous coordinates (the box centre, else the point's pixel centre)."""
    if t.box is not None:
        x0, y0, x1, y1 = t.box
        return (x0 + x1) / 2, (y0 + y1) / 2
    px, py = t.point
    return px + 0.5, py + 0.5


def _box_of(t: Target) -> Box:
    if t.box is not None:
        return t.box
    cx, cy = centre(t)
    return (cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5)


def support_boxes(targets: Sequence[Target]) -> np.ndarray:
    """float32 [K, 5] (x0, y0, x1, y1, score) of the model's detections (a point: the 3x3 box
    around it): what the store keeps as the model's whole result (``ImageAttentionRow.support``),
    duplicates of labels included, which the stored proposals no longer hold."""
    return np.array([(*_box_of(t), t.score or 0.0) for t in targets], np.float32).reshape(-1, 5)


def target_disputes(
    labels: Sequence[Target], proposals: Sequence[Target], operating: float,
    support: np.ndarray | None = None,
) -> list[Dispute]:  # fmt: skip
    """DOUBTFUL labels and UNLABELLED detections (see the module docstring); none without labels.
    ``support``: the model's detections at pre-annotation ([K, 5] box, score), counted with the
    stored proposals as evidence for a label (proposals that duplicate a label are not stored)."""
    labels = [t for t in labels if t.state == TargetState.ACCEPTED]
    proposals = [t for t in proposals if t.state == TargetState.PROPOSAL]
    if not labels:
        return []
    lc = np.array([centre(t) for t in labels], float).reshape(-1, 2)
    pc = np.array([centre(t) for t in proposals], float).reshape(-1, 2)
    ps = np.array([t.score or 0.0 for t in proposals], float)
    dist = np.linalg.norm(lc[:, None] - pc[None], axis=2) if len(pc) else np.zeros((len(lc), 0))
    near = dist <= MATCH_DIST
    ev_c, ev_s = pc, ps  # the evidence for labels: stored proposals and the support points
    if support is not None and len(support):
        sp = np.asarray(support, float).reshape(-1, 5)
        sc = np.stack([(sp[:, 0] + sp[:, 2]) / 2, (sp[:, 1] + sp[:, 3]) / 2], axis=1)
        ev_c, ev_s = np.vstack([pc, sc]), np.concatenate([ps, sp[:, 4]])
    ev_near = (np.linalg.norm(lc[:, None] - ev_c[None], axis=2) <= MATCH_DIST if len(ev_c)
               else np.zeros((len(lc), 0), bool))  # fmt: skip
    out: list[Dispute] = []
    for i, t in enumerate(labels):
        best = float(ev_s[ev_near[i]].max()) if ev_near[i].any() else 0.0
        if best < LOW_SCORE:
            out.append(Dispute(DisputeKind.DOUBTFUL, 1.0 - best, _box_of(t), best, t.id))
    for j, p in enumerate(proposals):
        if ps[j] >= operating and not near[:, j].any():
            out.append(Dispute(DisputeKind.UNLABELLED, float(ps[j]), _box_of(p), float(ps[j]), p.id))
    return out


def sky_disputes(accepted: np.ndarray | None, proposed: np.ndarray | None) -> list[Dispute]:
    """Connected regions (8-connected) of accepted XOR proposed sky of at least
    max(16 px, 0.05 % of the frame); none unless both skies exist."""
    if accepted is None or proposed is None or accepted.shape != proposed.shape:
        return []
    import cv2

    diff = np.asarray(accepted, bool) ^ np.asarray(proposed, bool)
    if not diff.any():
        return []
    n, lab, stats, _ = cv2.connectedComponentsWithStats(diff.astype(np.uint8), connectivity=8)
    min_area = max(MIN_REGION_PX, int(MIN_REGION_SHARE * diff.size))
    out = []
    for k in range(1, n):
        area = int(stats[k, cv2.CC_STAT_AREA])
        if area < min_area:
            continue
        x, y, w, h = (int(stats[k, c]) for c in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                 cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))  # fmt: skip
        region = lab[y : y + h, x : x + w] == k
        says_sky = bool(np.asarray(proposed, bool)[y : y + h, x : x + w][region].mean() >= 0.5)
        share = area / diff.size
        out.append(Dispute(DisputeKind.SKY, min(1.0, share / SHARE_PER_POINT),
                           (float(x), float(y), float(x + w), float(y + h)), None, None, region,
                           says_sky))  # fmt: skip
    return out


def attention(
    proposal_scores: Sequence[float],
    operating: float,
    disputes: Sequence[Dispute] = (),
    sky_uncertain: float | None = None,
    frame_px: int = 0,
) -> Attention:
    """The attention score of one image (see the module docstring for the points);
    ``frame_px`` (H * W) turns disputed sky regions into a share of the frame."""
    near = sum(abs(float(s) - operating) <= NEAR_BAND for s in proposal_scores)
    n_targets = sum(d.kind is not DisputeKind.SKY for d in disputes)
    sky = [d for d in disputes if d.kind is DisputeKind.SKY]
    sky_px = sum(int(d.region.sum()) for d in sky if d.region is not None)
    sky_share = sky_px / frame_px if frame_px else 0.0
    score = float(near + n_targets + len(sky) + sky_share / SHARE_PER_POINT)
    if sky_uncertain is not None:
        score += float(sky_uncertain) / SHARE_PER_POINT
    return Attention(round(score, 4), int(near), sky_uncertain, int(n_targets), len(sky), sky_share)


def image_priority(disputes: Sequence[Dispute]) -> tuple[float, float]:
    """Sort key of an image in the noise finder's queue (ascending = first): its strongest
    dispute, then the sum of its disputes' strengths."""
    strengths = [d.strength for d in disputes]
    return (-max(strengths, default=0.0), -sum(strengths))
