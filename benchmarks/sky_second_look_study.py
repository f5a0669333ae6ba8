"""Which second look of the sky network is worth its CPU? Looks at several scales, mirrored or not, combined.

The first run caches, per frame of the split, the sky network's logit (int8 sky graph, one thread,
model.sky_look's one-look graph) of the frame shrunk as ``predict`` shrinks it for each long side of
--sides (the large frames' floor scaled alike), plain and mirrored (the mirrored one turned back).
Every run then rebuilds the full-resolution logit of each look as the Predictor does (stride-4
upsample, crop, resize to the frame), averages the looks a variant names
("448p+448m" = the shipped two looks; "448p+320m" = the plain look and a mirrored one at 320;
"448p+448m@1.5,0.01": the looks after the first only where MirrorRule(1.5, 0.01) asks for them;
"448p~0.35:5:0.005:0.03:2": sky threshold, smoothing, smallest island, hole area and pull-back
instead of the file's), thresholds and cleans it up and counts sky edits as
``../shared/tools/effort.py`` does. The CPU column is the variant's looks' share of two 448 looks.
Halves by the sha1 of the id (A: even, B: odd): choose on A, confirm on B.

    python benchmarks/sky_second_look_study.py --sides 448,320,384 --variants 448p 448p+448m 448p+320m
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sky_post_study import DATA, TOOL, half, load_tool  # noqa: E402


def float_logit_graph(data: bytes) -> bytes:
    """The int8 one-look graph with its last conv's output kept in float (its Q / DQ pair removed)."""
    import onnx

    from model.sky_look import LOGIT

    m = onnx.load_from_string(data)
    q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == LOGIT)
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])
    conv = next(n for n in m.graph.node if LOGIT in n.output)
    conv.output[0] = dq.output[0]
    m.graph.node.remove(q)
    m.graph.node.remove(dq)
    return m.SerializeToString()


def build_cache(ids: list[str], data: Path, cache: Path, sides: list[int], float_logit: bool = False) -> None:
    from core.imageio import read_image
    from model.frames import prepare_image
    from model.inference import Predictor

    cache.mkdir(parents=True, exist_ok=True)
    p = None
    for i in ids:
        dst = cache / f"{i}.npz"
        have = dict(np.load(dst)) if dst.exists() else {}
        if all(f"{s}p" in have for s in sides):
            continue
        if p is None:
            p = Predictor(None, threads=1)
            if float_logit:
                import onnx

                from model.backends import make_session
                from model.quantize import sky_int8_path
                from model.sky_look import split_graph

                whole = onnx.load(str(sky_int8_path(p.weights))).SerializeToString()
                p._sky_runner.looks.single = make_session(float_logit_graph(split_graph(whole)[0]), 1)
        cfg = p.cfg
        looks = p._sky_runner.looks
        image = read_image(next((data / "PNGImages").glob(f"{i}.*")))
        for s in sides:
            if f"{s}p" in have:
                continue
            floor = cfg.sky_pass_min_scale * s / cfg.sky_pass_long_side
            prep = prepare_image(image, sky_long_side=s, sky_always=True, sky_min_scale=floor)
            t = time.thread_time()
            have[f"{s}p"] = looks.look(prep.sky_x)[0, 0]
            have[f"{s}cpu"] = np.float32(time.thread_time() - t)
            have[f"{s}m"] = looks.look(np.ascontiguousarray(prep.sky_x[..., ::-1]))[0, 0][:, ::-1]
            have[f"{s}size"] = np.array(prep.sky_size)
            have["size"] = np.array(prep.size)
        np.savez_compressed(dst, **have)


def full_logit(z: dict, look: str) -> np.ndarray:
    """The look's logit at the frame's size, as Prediction builds it from the whole-frame pass."""
    from model.postprocess import upsample_logit

    side = look[:-1]
    sh, sw = (int(v) for v in z[f"{side}size"])
    h, w = (int(v) for v in z["size"])
    grid = np.ascontiguousarray(z[look], np.float32)
    small = upsample_logit(grid, 4, (sh, sw))
    return small if (sh, sw) == (h, w) else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def main() -> int:
    from model.sky import clean_proposal
    from model.sky_look import MirrorRule, needs_mirror, valid_cells
    from model.skynet import SKY_NET_STRIDE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--tool", type=Path, default=TOOL)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/sky_second_look_cache"))
    ap.add_argument("--sides", default="448,320")
    ap.add_argument("--variants", nargs="+", default=["448p", "448p+448m", "448p+320m"])
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--float-logit", action="store_true", help="the int8 graph's last conv output kept in float")
    args = ap.parse_args()
    from model.inference import Predictor

    cfg = Predictor(None, threads=1).cfg
    tool = load_tool(args.tool)
    ids = tool.read_ids(args.data, args.split)
    sides = [int(s) for s in args.sides.split(",")]
    build_cache(ids, args.data, args.cache, sides, args.float_logit)
    zs = {i: dict(np.load(args.cache / f"{i}.npz")) for i in ids}
    truth = {i: cv2.imread(str(args.data / "SkySeg" / "BinaryMask" / f"{i}_pixels0.png"), cv2.IMREAD_GRAYSCALE) > 127
             for i in ids}
    base_cpu = sum(2 * float(z["448cpu"]) for z in zs.values()) if all("448cpu" in z for z in zs.values()) else None
    for variant in args.variants:
        variant_looks, _, cleanup = variant.partition("~")
        thr, *clean = (float(v) for v in cleanup.split(":")) if cleanup else (args.threshold,)
        if not clean:
            clean = [cfg.sky_smooth, cfg.sky_min_area, cfg.sky_hole_area, cfg.sky_erode]
        t = np.float32(math.log(thr / (1.0 - thr)))
        spec, _, rule = variant_looks.partition("@")
        parts = spec.split("+")
        rule = MirrorRule(*(float(v) for v in rule.split(","))) if rule else None
        acc = {k: [0, 0, 0, 0, 0] for k in ("all", "A", "B", "large")}
        cpu = 0.0
        for i in ids:
            z = zs[i]
            used = parts
            if rule is not None:
                first = np.asarray(z[parts[0]], np.float32)
                valid = valid_cells(tuple(int(v) for v in z[f"{parts[0][:-1]}size"]), SKY_NET_STRIDE)
                used = parts if needs_mirror(first, valid, thr, rule) else parts[:1]
            logit = sum(full_logit(z, look) for look in used) / len(used)
            cpu += sum(float(z[f"{look[:-1]}cpu"]) for look in used)
            m = clean_proposal(logit >= t, *clean)
            gt = truth[i]
            e = tool.regions(gt ^ m, max(16, int(0.0005 * gt.size)))
            for key in ("all", half(i)) + (("large",) if gt.shape[0] > 700 else ()):
                a = acc[key]
                a[0] += int((m & gt).sum())
                a[1] += int((m | gt).sum())
                a[2] += e
                a[3] += 1
                a[4] += int(e == 0)
        row = {"variant": variant, "cpu_vs_two_448": round(cpu / base_cpu, 3) if base_cpu else None}
        for key, (inter, union, edits, n, right) in acc.items():
            row[key] = [round(edits / max(n, 1), 3), round(inter / max(union, 1), 4), right]
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
