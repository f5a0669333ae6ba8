"""BAFE-Net configuration and the named presets.

``paper-r18`` is the paper's configuration (ResNet-18, FPN C3-C5 at strides 8/16/32, 256 channels,
4 convs per tower). ``default`` is what fits our 2-core CPUs: a stride-4 level for 3 px targets,
narrow 32-channel FPN/heads, no stride-32 stage, trained on crops (see docs/adr/0002).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

EXCHANGE_MODES = ("off", "fixed", "random", "dynamic")
BACKBONES = ("resnet18", "resnet34", "resnet50")
RESCORE_LENGTH = 14  # len(model.rescore.FEATURES) + a bias (that module checks it; numpy stays out of here)


@dataclass
class BafeConfig:
    """Every switch of the network, the target assignment and the post-processing."""

    backbone: str = "resnet18"
    stages: tuple[int, ...] = (2, 3, 4)  # ResNet stages fed to the FPN (C2 = stride 4 ... C5 = 32)
    # Residual blocks the detector keeps in each ResNet layer it runs (layer1 first; empty: all of
    # them). A lighter detector drops the last block of a layer and keeps the others' names, so a
    # fine-tune starts from the full network's tensors (MODEL.md "A lighter detector").
    detector_blocks: tuple[int, ...] = ()
    fpn_channels: int = 32
    tower_convs: int = 2
    gn_groups: int = 8
    seg_head: bool = True
    exchange: str = "dynamic"  # off | fixed | random | dynamic
    adapter: bool = True
    adapter_hidden: int = 64
    p: float = 0.5  # fraction of channels exchanged
    trainable_selection: bool = True  # straight-through gate lets the selection scores learn
    # Target assignment: a target goes to the level whose range holds max(box w, box h).
    size_ranges: tuple[tuple[float, float], ...] = ((0.0, 16.0), (16.0, 32.0), (32.0, 1e8))
    center_radius: float = 1.0  # positives lie within max(box half-size, radius * stride) of the centre
    # Post-processing.
    score_thr: float = 0.05
    nms_iou: float = 0.5
    max_per_image: int = 100
    pre_nms_top_k: int = 1000
    operating_threshold: float = 0.3  # replaced by the value chosen on val at export
    # Input normalisation of the [0, 1] gray image.
    mean: float = 0.4
    std: float = 0.25
    # Whole-frame sky (model.sky): long side of the downscaled sky pass (0: full-resolution map only)
    # and the weight of its logit against the full-resolution one. Defaults keep older weights as trained.
    sky_pass_long_side: int = 0
    sky_pass_weight: float = 1.0
    # A dedicated whole-frame sky network (model.skynet) gives the sky instead of the detector's sky
    # head; it runs on the frame shrunk to sky_pass_long_side (docs/adr/0010).
    sky_net: bool = False
    # The sky network also looks at the mirrored frame and averages the two logits (inference only)
    sky_flip: bool = False
    # Sky proposal clean-up (core.geometry.clean_sky_mask): smoothing sigma in pixels of the long side
    # 1000 (scaled with the image) and the smallest island / hole kept, as a fraction of the image area.
    sky_smooth: float = 0.0
    sky_min_area: float = 0.0
    # Refinement after that clean-up, when it is on (model.sky_post, ADR 0035): ground holes under
    # this share of the frame filled, and the sky pulled back from the ground by sky_erode px per
    # 1000 px of long side (the labels draw ground a little generously). 0 turns either off.
    sky_hole_area: float = 0.03
    sky_erode: float = 2.0
    # Large frames: the sky pass sees at least this fraction of the frame's long side (1280x1024 at
    # 0.5: 640 px instead of sky_pass_long_side), which halves the sky edits they need (MODEL.md).
    sky_pass_min_scale: float = 0.0
    # Boxes fitted to the target's pixels (model.box_fit; contrast fraction, 0: the network's boxes)
    # and one box per target (boxes whose centres are closer than this many px; 0: NMS only).
    box_fit: float = 0.0
    centre_nms_px: float = 0.0
    # A fitted box side shorter than this grows by 1 px at both ends (model.box_fit.widen_thin; the
    # labels' boxes are 3-5 px wide, 2 px in 3.5 % of them, never 1); 0: off.
    box_min_side: float = 0.0
    # A second look at each score (model.rescore, ADR 0041): one weight per model.rescore.FEATURES
    # and a bias, fitted for these tensors on the validation split (python -m model.rescore_fit);
    # empty: the detector's scores. save_weights drops it: a new network needs its own fit.
    rescore: tuple[float, ...] = ()
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} unknown; use one of {BACKBONES}")
        if self.exchange not in EXCHANGE_MODES:
            raise ValueError(f"exchange {self.exchange!r} unknown; use one of {EXCHANGE_MODES}")
        self.stages = tuple(int(s) for s in self.stages)
        if not self.stages or any(s not in (2, 3, 4, 5) for s in self.stages):
            raise ValueError(f"stages {self.stages} must be a non-empty subset of 2..5")
        self.detector_blocks = tuple(int(n) for n in self.detector_blocks)
        if self.detector_blocks and (len(self.detector_blocks) != max(self.stages) - 1
                                     or any(n < 1 for n in self.detector_blocks)):
            raise ValueError(f"detector_blocks {self.detector_blocks}: one count >= 1 per ResNet layer "
                             f"the detector runs ({max(self.stages) - 1} for stages {self.stages})")
        self.size_ranges = tuple((float(a), float(b)) for a, b in self.size_ranges)
        if len(self.size_ranges) != len(self.stages):
            raise ValueError("size_ranges needs one (low, high) pair per FPN level")
        if self.sky_pass_long_side < 0 or not 0.0 <= self.sky_pass_weight <= 1.0:
            raise ValueError("sky_pass_long_side must be >= 0 and sky_pass_weight in [0, 1]")
        if self.sky_net and self.sky_pass_long_side <= 0:
            raise ValueError("sky_net needs sky_pass_long_side > 0 (the long side of the frame it sees)")
        if self.sky_smooth < 0 or not 0.0 <= self.sky_min_area < 1.0:
            raise ValueError("sky_smooth must be >= 0 and sky_min_area in [0, 1)")
        if self.sky_erode < 0 or not 0.0 <= self.sky_hole_area < 1.0:
            raise ValueError("sky_erode must be >= 0 and sky_hole_area in [0, 1)")
        if not 0.0 <= self.sky_pass_min_scale <= 1.0 or not 0.0 <= self.box_fit < 1.0 or self.centre_nms_px < 0:
            raise ValueError("sky_pass_min_scale must be in [0, 1], box_fit in [0, 1) and centre_nms_px >= 0")
        self.rescore = tuple(float(v) for v in self.rescore)
        if self.rescore and (len(self.rescore) != RESCORE_LENGTH or not all(math.isfinite(v) for v in self.rescore)):
            raise ValueError(f"rescore needs {RESCORE_LENGTH} finite numbers (a weight per feature and a bias), "
                             f"not {len(self.rescore)}")
        if self.box_min_side < 0:
            raise ValueError(f"box_min_side = {self.box_min_side} must be >= 0")
        if not 0.0 < self.p <= 1.0:
            raise ValueError(f"p = {self.p} must be in (0, 1]")

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(2**s for s in self.stages)

    @property
    def k_exchange(self) -> int:
        return max(1, int(round(self.p * self.fpn_channels)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BafeConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def preset(name: str, **overrides: object) -> BafeConfig:
    """The named configuration with optional field overrides."""
    if name == "paper-r18":
        base = dict(
            stages=(3, 4, 5),
            fpn_channels=256,
            tower_convs=4,
            gn_groups=32,
            size_ranges=((0.0, 128.0), (128.0, 256.0), (256.0, 1e8)),
            center_radius=1.5,
        )
    elif name == "default":
        base = {}
    else:
        raise ValueError(f"preset {name!r} unknown; use 'default' or 'paper-r18'")
    base.update(overrides)
    return BafeConfig(**base)


PRESETS = ("default", "paper-r18")


def sky_pass_enabled(cfg: BafeConfig) -> bool:
    return bool((cfg.sky_net or cfg.seg_head) and cfg.sky_pass_long_side > 0)
