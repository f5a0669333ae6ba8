"""A plain onnxruntime client that loads a model the way X-AnyLabeling's YOLOv8-style custom models
are loaded (written here from its documented conventions, not from its code): the YAML model config,
the graph's static input size, an RGB frame letterboxed to it (aspect kept, grey 114 borders split
evenly), float32 NCHW in [0, 1]; the output [1, 4 + classes, N] transposed to one row per candidate
(cx, cy, w, h, class scores), candidates below confidence_threshold dropped, OpenCV NMS at
nms_threshold, boxes mapped back through the letterbox and clipped to the frame."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def read_config(path: Path) -> dict:
    """The YAML mapping; every value of these files is a JSON scalar or list (a subset of YAML)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition(":")
            out[key.strip()] = json.loads(value)
    return out


def letterbox(rgb: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    h, w = rgb.shape[:2]
    gain = min(height / h, width / w)
    nw, nh = int(round(w * gain)), int(round(h * gain))
    if (nw, nh) != (w, h):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    dw, dh = (width - nw) / 2, (height - nh) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, gain, (left, top)


class AnyLabelingYolo:
    def __init__(self, config_path: Path) -> None:
        import onnxruntime as ort

        self.cfg = read_config(config_path)
        model = (config_path.parent / self.cfg["model_path"]).resolve()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.input_shape = shape
        self.height, self.width = shape[2], shape[3]
        self.classes = self.cfg["classes"]

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        boxed, gain, pad = letterbox(rgb, self.height, self.width)
        blob = np.ascontiguousarray(boxed.transpose(2, 0, 1)[None].astype(np.float32)) / 255.0
        (out,) = self.session.run(None, {self.session.get_inputs()[0].name: blob})
        return out, gain, pad

    def predict(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes [K, 4] x1 y1 x2 y2 in frame pixels, scores [K], class ids [K]), best first."""
        out, gain, (left, top) = self.raw(rgb)
        rows = out[0].T  # [N, 4 + classes]
        cls_scores = rows[:, 4:]
        scores, ids = cls_scores.max(axis=1), cls_scores.argmax(axis=1)
        keep = scores >= self.cfg["confidence_threshold"]
        rows, scores, ids = rows[keep], scores[keep], ids[keep]
        tl = np.stack([rows[:, 0] - rows[:, 2] / 2, rows[:, 1] - rows[:, 3] / 2, rows[:, 2], rows[:, 3]], 1)
        idx = cv2.dnn.NMSBoxes(tl.tolist(), scores.tolist(), float(self.cfg["confidence_threshold"]),
                               float(self.cfg["nms_threshold"]))
        idx = np.asarray(idx, int).reshape(-1)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        b = tl[idx]
        xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], 1)
        xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - left) / gain
        xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - top) / gain
        h, w = rgb.shape[:2]
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        return xyxy, scores[idx], ids[idx]
