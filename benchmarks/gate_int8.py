"""The int8 gate over quantisation candidates: accuracy on val_v2 against ORT fp32, and speed.

Every candidate is a model.quantize.Recipe (calibration method, number of train_v2 calibration
frames, per-channel or per-tensor weights, U8S8 / S8S8, reduce_range, node groups kept in fp32).
Each is quantised from the same fp32 export, run through the Predictor's own stages on every
val_v2 frame (bad-pixel filter, whole-frame sky pass, NMS, cleaned sky mask: model/int8_gate.py),
and compared with ORT fp32: mAP07, sky IoU, false alarms per image at the operating threshold;
gate ok when neither mAP07 nor sky IoU drops by more than 0.005. Speed: the network alone at
640x512, all candidates and fp32 timed in interleaved rounds (median), so machine load hits all
alike; ``speed`` = fp32 ms / candidate ms.

    nice -n 10 python benchmarks/gate_int8.py --weights resources/models/bafenet_default.safetensors

Candidate specs (``--candidates``): ``method:frames:pc|pt:u8s8|u8u8|s8s8[:rr][:pPCT][:group+group]``, e.g.
``minmax:16:pc:u8s8`` or ``percentile:16:pc:u8s8:p99.99:heads+exchange``; groups are model.quantize.KEEP_GROUPS.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit"
DEFAULT_CANDIDATES = [  # most informative first: rows print as they finish
    "minmax:16:pc:u8s8:heads+exchange",
    "minmax:16:pc:u8s8",
    "minmax:16:pc:u8s8:heads",
    "minmax:16:pc:u8s8:exchange",
    "entropy:16:pc:u8s8:heads+exchange",
    "percentile:16:pc:u8s8:p99.999:heads+exchange",
    "minmax:16:pt:u8s8:heads+exchange",
    "minmax:16:pc:s8s8:heads+exchange",
    "minmax:16:pc:u8u8:heads+exchange",
    "minmax:16:pc:u8s8:rr:heads+exchange",
    "minmax:32:pc:u8s8:heads+exchange",
]


def parse_candidate(spec: str):
    from model.quantize import Calibration, QTypes, Recipe

    parts = spec.split(":")
    if len(parts) < 4:
        raise SystemExit(f"candidate {spec!r}: expected method:frames:pc|pt:u8s8|u8u8|s8s8[...]")
    kw = {"method": Calibration(parts[0]), "frames": int(parts[1]), "per_channel": parts[2] == "pc",
          "types": QTypes(parts[3])}
    for extra in parts[4:]:
        if extra == "rr":
            kw["reduce_range"] = True
        elif extra.startswith("p") and extra[1:2].isdigit():
            kw["percentile"] = float(extra[1:])
        else:
            kw["keep_fp32"] = tuple(extra.split("+"))
    return Recipe(**kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, help="safetensors weights (default: the shipped model)")
    ap.add_argument("--data", type=Path, default=ROOT, help="DenseSIRST root (train_v2 calibrates, val_v2 gates)")
    ap.add_argument("--candidates", nargs="*", default=DEFAULT_CANDIDATES)
    ap.add_argument("--threads", type=int, default=1, help="threads for the val_v2 evaluations")
    ap.add_argument("--speed-threads", type=int, default=2, help="threads for the speed rounds")
    ap.add_argument("--reps", type=int, default=5, help="interleaved speed rounds")
    ap.add_argument("--limit", type=int, help="only the first N val_v2 frames (a quick look, not the gate)")
    ap.add_argument("--save-best", type=Path, help="write the best passing candidate's int8 file here")
    ap.add_argument("--keep-dir", type=Path, help="write every candidate's int8 file (gate figures inside) here")
    args = ap.parse_args()


    from model.backends import make_session
    from model.int8_gate import GATE, evaluate, gate_result, load_split, swap_network
    from model.quantize import calibration_inputs, int8_metadata, quantize_onnx, with_metadata

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from model.inference import Predictor, default_weights_path
    from model.onnx_export import cached_onnx

    weights = args.weights or default_weights_path()
    recipes = [parse_candidate(c) for c in args.candidates]
    tmp = Path(tempfile.mkdtemp(prefix="gate-int8-"))
    fp32 = Predictor(weights, threads=args.threads, backend="onnx")
    fp32_bytes = cached_onnx(fp32.net, fp32.cfg, fp32.metadata, fp32.weights)
    samples = load_split(args.data, "val_v2", args.limit)
    t = time.perf_counter()
    ref = evaluate(fp32, samples)
    print(f"ORT fp32 on {len(samples)} val_v2 frames ({time.perf_counter() - t:.0f} s): mAP07 {ref.map07:.4f}, "
          f"sky IoU {ref.sky_iou:.4f}, FA/img {ref.fa_per_image:.3f}", flush=True)
    x = next(fp32.prepare(s.image).x for s in samples if s.image.shape[:2] == (512, 640))
    fp32_session = make_session(fp32_bytes, args.speed_threads)
    calibs: dict[int, object] = {}
    models: dict[str, bytes] = {}
    rows = []
    for recipe in recipes:
        calib = calibs.get(recipe.frames) or calibration_inputs(fp32.cfg, args.data, recipe.frames)
        calibs[recipe.frames] = calib
        cache = tmp / f"ranges-{recipe.method.value}-{recipe.frames}-{recipe.percentile}.json"
        t = time.perf_counter()
        data = quantize_onnx(fp32_bytes, calib.inputs, recipe, calibration_cache=cache)
        tq = time.perf_counter() - t
        t = time.perf_counter()
        fig = evaluate(swap_network(fp32, data, args.threads), samples)
        gate = gate_result(ref, fig)
        models[recipe.label()] = with_metadata(data, int8_metadata(recipe, calib.ids, {**gate, "split": "val_v2"}))
        te = time.perf_counter() - t
        if args.keep_dir:
            args.keep_dir.mkdir(parents=True, exist_ok=True)
            name = recipe.label().replace(" ", "_").replace(":", "-").replace("+", "-")
            (args.keep_dir / f"{name}.int8.onnx").write_bytes(models[recipe.label()])
        # Speed: the network alone on a 640x512 val_v2 frame, fp32 and this candidate alternately.
        cand = make_session(data, args.speed_threads)
        pair: dict[str, list[float]] = {"fp32": [], "int8": []}
        for session in (fp32_session, cand):
            session.run(None, {"image": x})
        for _ in range(args.reps):
            for name, session in (("fp32", fp32_session), ("int8", cand)):
                t = time.perf_counter()
                session.run(None, {"image": x})
                pair[name].append(time.perf_counter() - t)
        ms32, ms8 = (statistics.median(pair[k]) for k in ("fp32", "int8"))
        rows.append((recipe, fig, gate, ms32, ms8))
        print(f"  {recipe.label():<44} quantised {tq:.0f} s, evaluated {te:.0f} s: "
              f"mAP07 {fig.map07:.4f} ({gate['d_map07']:+.4f}), sky {fig.sky_iou:.4f} ({gate['d_sky_iou']:+.4f}), "
              f"FA {fig.fa_per_image:.3f}, {ms8 * 1000:.0f} ms vs fp32 {ms32 * 1000:.0f} ms "
              f"{'ok' if gate['passed'] else 'FAIL'}", flush=True)

    print(f"\nval_v2 {len(samples)} frames, evaluations on {args.threads} thread(s); ms: network at 640x512, "
          f"{args.speed_threads} threads, median of {args.reps} rounds alternating with fp32 (speed = fp32 ms / ms "
          f"of the same rounds); gate: d >= -{GATE}")
    head = f"{'candidate':<48}{'ms':>8}{'speed':>8}{'mAP07':>8}{'d mAP07':>9}{'sky IoU':>9}{'d sky':>8}{'FA':>7}{'gate':>6}"
    print(head)
    base = statistics.median(r[3] for r in rows) if rows else float("nan")
    print(f"{'ORT fp32':<48}{base * 1000:>8.1f}{1.0:>7.2f}x{ref.map07:>8.4f}{'':>9}{ref.sky_iou:>9.4f}{'':>8}"
          f"{ref.fa_per_image:>7.2f}{'':>6}")
    best = None
    for recipe, fig, gate, ms32, m in rows:
        print(f"{recipe.label():<48}{m * 1000:>8.1f}{ms32 / m:>7.2f}x{fig.map07:>8.4f}{gate['d_map07']:>+9.4f}"
              f"{fig.sky_iou:>9.4f}{gate['d_sky_iou']:>+8.4f}{fig.fa_per_image:>7.2f}{'ok' if gate['passed'] else 'FAIL':>6}")
        score = min(gate["d_map07"], gate["d_sky_iou"])
        # Among passing candidates, prefer accuracy first (the smaller loss), then speed.
        if gate["passed"] and (best is None or (score, ms32 / m) > best[0]):
            best = ((round(score, 3), ms32 / m), recipe)
    if best is not None:
        print(f"best passing candidate: {best[1].label()}")
        if args.save_best:
            from core.formats._io import atomic_write_bytes

            atomic_write_bytes(args.save_best, models[best[1].label()])
            print(f"wrote {args.save_best}")
    else:
        print("no candidate passes the gate")


if __name__ == "__main__":
    main()
