"""Does the loop pay? Fine-tune the shipped model on ~40 frames of one camera family, then compare
it with the shipped model on the family's other frames and on the other families.

What is held out, honestly: the shipped model was trained on train_v2 only and chosen on val_v2
(checkpoint, thresholds; resources/models/MODEL.md). Its training therefore saw the family's
train_v2 frames, but never its val_v2 frames. This benchmark splits the family's val_v2 frames
(seeded): ``--n-train`` of them play the annotator's newly corrected frames (the fine-tune's
training set), the rest are the family's evaluation frames; the other families' val_v2 frames
measure what the fine-tune costs elsewhere. The fine-tune runs `main.py train` with the Training
dock's fine-tune recipe (app.train_process.FINE_TUNE: lr, warm-up, one thread) but a longer
budget, and without validation (`--val-split none`), so the parent's operating and sky thresholds
are kept and no evaluation frame is used to choose anything.

With ``--sky-share F`` the fine-tune is the one the GUI's Train runs by default (ADR 0031): the
detector for (1 - F) of the budget, then the sky network on the same frames for the rest, one
weights file; ``--minutes 0 --steps N --sky-steps M`` is the same run by step count (for a loaded
machine: the meta's median step times give a quiet machine's steps in the budget).

Both models are evaluated by model.compare (ONNX Runtime fp32, each at its stored thresholds):
mAP07, Pd / FA per image, sky IoU of the cleaned proposal and corrections per image (core.effort).

    nohup nice -n 10 python benchmarks/bench_family_finetune.py --data ../shared/datasets/DenseSIRST/SIRSTdevkit \\
        --out runs/family_ft > runs/family_ft.log 2>&1 &

Resumable: each stage leaves its result in OUT (ds/, ft/ with last.pt, eval_*.json); rerunning
the same command continues where it stopped. ``--table`` prints the result table only.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.model_versions import SHIPPED_WEIGHTS  # noqa: E402
from app.train_process import FINE_TUNE  # noqa: E402


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def family_of(image_id: str) -> str:
    """The camera family of a DenseSIRST id: its leading name (iraytek-96 -> iraytek)."""
    head = image_id.replace("_", "-").split("-")[0]
    return "".join(c for c in head if c.isalpha()) or head


def make_splits(data: Path, out: Path, family: str, n_train: int, seed: int) -> dict[str, list[str]]:
    """OUT/ds: links to the dataset's folders, three splits of val_v2 and "replay" = family_ft +
    all of train_v2 (written once)."""
    import numpy as np

    from core.formats.densesirst import read_split

    ds = out / "ds"
    splits_dir = ds / "Splits"
    if (splits_dir / "family_eval.txt").is_file():
        return {n: read_split(ds, n) for n in ("family_ft", "family_eval", "others", "replay")}
    splits_dir.mkdir(parents=True, exist_ok=True)
    for name in ("PNGImages", "SIRST", "SkySeg"):
        link = ds / name
        if not link.exists():
            link.symlink_to((data / name).resolve())
    val = read_split(data, "val_v2")
    fam = [i for i in val if family_of(i) == family]
    if len(fam) <= n_train:
        raise SystemExit(f"family {family!r} has {len(fam)} val_v2 frames; need more than --n-train {n_train}")
    rng = np.random.default_rng(seed)
    pick = set(rng.choice(len(fam), size=n_train, replace=False).tolist())
    splits = {"family_ft": [i for k, i in enumerate(fam) if k in pick],
              "family_eval": [i for k, i in enumerate(fam) if k not in pick],
              "others": [i for i in val if family_of(i) != family]}
    splits["replay"] = splits["family_ft"] + read_split(data, "train_v2")
    for name, ids in splits.items():
        (splits_dir / f"{name}.txt").write_text("\n".join(ids), encoding="utf-8")
    return splits


def fine_tune(out: Path, split: str, n_train: int, minutes: float, steps: int, threads: int, seed: int,
              sky_share: float = 0.0, sky_steps: int = 0, recipe: list[str] | None = None) -> Path:
    """`main.py train` from the shipped weights on ``split`` (resumed when a last.pt is there); with
    ``sky_share`` / ``sky_steps`` the sky network is fine-tuned too (ADR 0031), as the GUI's Train does.
    ``minutes`` 0: no time budget (a run by step count: ``steps`` detector steps, ``sky_steps``).
    ``recipe``: more `train` arguments (the replay recipe of ADR 0034: --new-split, --new-share, ...)."""
    run = out / "ft"
    best = run / "best.safetensors"
    events = run / "events.jsonl"
    if best.is_file() and events.is_file() and '"event": "done"' in events.read_text(encoding="utf-8"):
        return best
    repeats = max(1, -(-steps * FINE_TUNE.batch // n_train))
    cmd = [sys.executable, str(ROOT / "main.py"), "train", "--data", str(out / "ds"), "--train-split", split,
           "--val-split", "none", "--out", str(run), "--init-weights", str(SHIPPED_WEIGHTS), "--epochs", "1",
           "--repeats", str(repeats), "--batch", str(FINE_TUNE.batch), "--lr", f"{FINE_TUNE.lr:g}",
           "--warmup-steps", str(FINE_TUNE.warmup_steps), "--threads", str(threads), "--seed", str(seed)]  # fmt: skip
    if minutes > 0:
        cmd += ["--time-budget-min", f"{minutes:g}"]
    if sky_share > 0:
        cmd += ["--sky-share", f"{sky_share:g}"]
    if sky_steps > 0:
        cmd += ["--sky-steps", str(sky_steps)]
    cmd += recipe or []
    if (run / "last.pt").is_file():
        cmd.append("--resume")
    print("$ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0 or not best.is_file():
        raise SystemExit(f"the fine-tune exited with code {code}; rerun to resume")
    return best


def sky_fine_tune(out: Path, detector: Path, minutes: float, threads: int, seed: int) -> Path:
    """`main.py train-sky` on family_ft: the sky network of ``detector`` for ``minutes`` more
    (the detector is copied unchanged; no validation: the sky threshold is kept)."""
    run = out / "sky"
    best = run / "best.safetensors"
    if best.is_file():
        return best
    cmd = [sys.executable, str(ROOT / "main.py"), "train-sky", "--data", str(out / "ds"), "--train-split",
           "family_ft", "--val-split", "none", "--weights", str(detector), "--sky-from", str(detector),
           "--out", str(run), "--epochs", "100", "--lr", "3e-4", "--threads", str(threads), "--seed", str(seed),
           "--time-budget-min", f"{minutes:g}"]  # fmt: skip
    if (run / "last.pt").is_file():
        cmd.append("--resume")
    print("$ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0 or not best.is_file():
        raise SystemExit(f"the sky fine-tune exited with code {code}; rerun to resume")
    return best


def evaluate(out: Path, split: str, weights: dict[str, Path], threads: int, every: int = 1) -> dict:
    """Both models on every ``every``-th frame of a split (cached in OUT/eval_<split>.json)."""
    from core.formats.densesirst import read_split
    from model.compare import densesirst_items, evaluate_models

    tag = "" if set(weights) == {"base", "fine-tuned"} else "_" + "_".join(sorted(weights))
    path = out / f"eval_{split}{tag}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    ids = read_split(out / "ds", split)[::every]
    t0 = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            print(f"  {split}: {done}/{total} images, {time.monotonic() - t0:.0f} s", flush=True)

    res = evaluate_models(weights, densesirst_items(out / "ds", ids), len(ids), threads=threads, progress=progress)
    res = {"split": split, "images": len(ids), "every": every, "seconds": round(time.monotonic() - t0, 1),
           "load": os.getloadavg(), **res}  # fmt: skip
    path.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return res


def stage_steps(run: Path, stage: str | None) -> list[dict]:
    """The step events of one stage of a run (None: the detector's; "sky": the sky network's)."""
    events = (json.loads(line) for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines())
    return [ev for ev in events if ev.get("event") == "step" and ev.get("stage") == stage]


def first_losses(run: Path, stage: str | None = None) -> dict:
    steps = stage_steps(run, stage)
    return steps[0]["losses"] if steps else {}


def step_seconds(steps: list[dict]) -> float | None:
    """Median seconds per step after the first (which also loads and builds)."""
    import statistics

    t = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(steps[1:], steps[2:], strict=False)]
    return round(statistics.median(t), 2) if t else None


# per_image rows of model.compare: name, deletes, adds, box fixes, sky edits, sky IoU
PER_IMAGE = (("corrections", None), ("deletes", 1), ("adds", 2), ("sky strokes", 4), ("sky IoU", 5))


def _column(rows: list[list], col: int | None):
    import numpy as np

    if col is None:  # all corrections of the image
        return np.array([r[1] + r[2] + r[3] + r[4] for r in rows], np.float64)
    return np.array([np.nan if r[col] is None else r[col] for r in rows], np.float64)


def paired(res: dict, model: str = "fine-tuned", draws: int = 10_000, seed: int = 0) -> list[dict]:
    """The fine-tuned model against the base on the same frames, per frame: the mean difference
    (fine-tuned - base) of each per-image figure, its 95 % paired-bootstrap interval (frames drawn
    with replacement, ``draws`` times, seeded) and the sign counts (frames worse / better / equal,
    "worse" meaning more corrections or a lower sky IoU) with a two-sided sign test's p."""
    import math

    import numpy as np

    base = {r[0]: r for r in res["base"]["per_image"]}
    rows = [(base[r[0]], r) for r in res[model]["per_image"] if r[0] in base]
    rng = np.random.default_rng(seed)
    out = []
    for name, col in PER_IMAGE:
        d = _column([r for _, r in rows], col) - _column([b for b, _ in rows], col)
        d = d[~np.isnan(d)]
        if not len(d):
            continue
        boot = d[rng.integers(0, len(d), size=(draws, len(d)))].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        worse = int((d < 0).sum() if name == "sky IoU" else (d > 0).sum())
        better = int((d > 0).sum() if name == "sky IoU" else (d < 0).sum())
        n, k = worse + better, min(worse, better)
        p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
        out.append({"figure": name, "frames": int(len(d)), "mean_diff": float(d.mean()), "ci95": [float(lo), float(hi)],
                    "worse": worse, "better": better, "equal": int(len(d)) - n, "sign_p": p})  # fmt: skip
    return out


def paired_table(out: Path) -> str:
    rows = ["| frames | figure | fine-tuned - base (mean per frame) | 95 % paired bootstrap | frames worse / better / "
            "equal | sign test p |", "|---|---|---|---|---|---|"]
    for split, label in (("family_eval", "family"), ("others", "other families")):
        path = out / f"eval_{split}.json"
        if not path.is_file():
            continue
        for r in paired(json.loads(path.read_text(encoding="utf-8"))):
            rows.append(f"| {label} ({r['frames']}) | {r['figure']} | {r['mean_diff']:+.3f} | "
                        f"{r['ci95'][0]:+.3f} .. {r['ci95'][1]:+.3f} | {r['worse']} / {r['better']} / {r['equal']} | "
                        f"{r['sign_p']:.2f} |")
    return "\n".join(rows)


def table(out: Path) -> str:
    rows = ["| frames | images | model | mAP07 | Pd | FA/img | sky IoU | corrections/img (del / add / fix / sky) |",
            "|---|---|---|---|---|---|---|---|"]
    for split, label in (("family_eval", "family, not fine-tuned on"), ("others", "other families")):
        path = out / f"eval_{split}.json"
        if not path.is_file():
            continue
        res = json.loads(path.read_text(encoding="utf-8"))
        extra = out / f"eval_{split}_sky.json"
        if extra.is_file():
            res |= json.loads(extra.read_text(encoding="utf-8"))
        for model in ("base", "fine-tuned", "sky"):
            if model not in res:
                continue
            f = res[model]
            e = f["effort"]
            rows.append(f"| {label} | {res['images']} | {model} | {f['mAP07']:.3f} | {f['pd']:.3f} | "
                        f"{f['fa_per_image']:.2f} | {f['sky_iou']:.3f} | {e['actions_per_img_assisted']:.2f} "
                        f"({e['of_which_deletes']:.2f} / {e['adds']:.2f} / {e['box_fixes']:.2f} / "
                        f"{e['sky_edits']:.2f}) |")
    rows += ["", paired_table(out)]
    meta = out / "meta.json"
    if meta.is_file():
        rows.append("")
        rows.append("```\n" + meta.read_text(encoding="utf-8").strip() + "\n```")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/datasets/DenseSIRST/SIRSTdevkit")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "family_ft")
    ap.add_argument("--family", default="iraytek", help="camera family (the leading name of the ids)")
    ap.add_argument("--n-train", type=int, default=40, help="family frames the fine-tune trains on")
    ap.add_argument("--minutes", type=float, default=12.0,
                    help="the fine-tune's time budget (<= 15; 0: none, a run by --steps / --sky-steps)")
    ap.add_argument("--steps", type=int, default=128, help="optimiser steps of 8 crops aimed at")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--others-every", type=int, default=1, metavar="N",
                    help="evaluate every N-th frame of the other families (1: all 197; for a loaded machine)")
    ap.add_argument("--replay", action="store_true",
                    help="fine-tune on the family frames plus all of train_v2 (as a project trains on every "
                         "reviewed image) instead of the family frames alone; use another --out")
    ap.add_argument("--sky-share", type=float, default=0.0,
                    help="part of --minutes given to the sky-network fine-tune on the same frames (train --sky-share, "
                         "as the GUI's Train does; 0: the detector alone)")
    ap.add_argument("--sky-steps", type=int, default=0, help="sky-network fine-tune steps (train --sky-steps)")
    ap.add_argument("--new-share", type=float, default=None, metavar="F",
                    help="with --replay: the family frames (train --new-split family_ft) get this share of every "
                         "batch, detector and sky stage (train --new-share; ADR 0034); default: their natural share")
    ap.add_argument("--l2sp", type=float, default=None, help="train --l2sp (the detector's pull toward the parent)")
    ap.add_argument("--sky-l2sp", type=float, default=None, help="train --sky-l2sp (the sky network's pull)")
    ap.add_argument("--sky-lr", type=float, default=None, help="train --sky-lr (the sky stage's learning rate)")
    ap.add_argument("--keep-bn-stats", action="store_true", help="train --keep-bn-stats (BatchNorm statistics kept)")
    ap.add_argument("--sky-bn-free", action="store_true",
                    help="train --no-sky-keep-bn-stats (the sky network's statistics update, the detector's are kept)")
    ap.add_argument("--sky-minutes", type=float, default=0.0,
                    help="> 0: afterwards also fine-tune the sky network (train-sky) this long on the same frames "
                         "and evaluate that model (row 'sky'); a separate invocation once the main one is done")
    ap.add_argument("--table", action="store_true", help="only print the table of a finished run")
    args = ap.parse_args()
    if args.table:
        print(table(args.out))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sky_minutes > 0:
        detector = args.out / "ft" / "best.safetensors"
        if not detector.is_file():
            raise SystemExit("run the detector fine-tune first (without --sky-minutes)")
        t0, load0 = time.monotonic(), os.getloadavg()
        sky = sky_fine_tune(args.out, detector, args.sky_minutes, args.threads, args.seed)
        (args.out / "meta_sky.json").write_text(json.dumps({
            "command": " ".join(sys.argv), "sky_wall_s_this_invocation": round(time.monotonic() - t0),
            "load_before": load0, "load_after": os.getloadavg()}, indent=1), encoding="utf-8")
        evaluate(args.out, "family_eval", {"sky": sky}, args.threads)
        evaluate(args.out, "others", {"sky": sky}, args.threads, args.others_every)
        print(table(args.out), flush=True)
        return 0
    splits = make_splits(args.data, args.out, args.family, args.n_train, args.seed)
    sizes = {png_size(args.out / "ds" / "PNGImages" / f"{i}.png") for i in splits["family_ft"]}
    print(f"family {args.family}: {len(splits['family_ft'])} frames to fine-tune on, {len(splits['family_eval'])} "
          f"to evaluate, sizes {sorted(sizes)}; {len(splits['others'])} other val_v2 frames", flush=True)
    t0 = time.monotonic()
    load0 = os.getloadavg()
    split = "replay" if args.replay else "family_ft"
    recipe = []
    if args.new_share is not None:
        if not args.replay:
            raise SystemExit("--new-share oversamples the family frames among the replayed ones: add --replay")
        recipe += ["--new-split", "family_ft", "--new-share", f"{args.new_share:g}"]
    if args.keep_bn_stats:
        recipe.append("--keep-bn-stats")
    if args.sky_bn_free:
        recipe.append("--no-sky-keep-bn-stats")
    for flag, value in (("--l2sp", args.l2sp), ("--sky-l2sp", args.sky_l2sp), ("--sky-lr", args.sky_lr)):
        if value is not None:
            recipe += [flag, f"{value:g}"]
    best = fine_tune(args.out, split, len(splits[split]), args.minutes, args.steps, args.threads, args.seed,
                     args.sky_share, args.sky_steps, recipe)
    ft_s = time.monotonic() - t0
    meta = {"command": " ".join(sys.argv), "fine_tune_first_losses": first_losses(args.out / "ft"),
            "fine_tune_wall_s_this_invocation": round(ft_s), "load_before_fine_tune": load0,
            "load_after_fine_tune": os.getloadavg(),
            "fine_tune_events": sum(1 for _ in (args.out / "ft" / "events.jsonl").open())}  # fmt: skip
    for stage, key in ((None, "fine_tune"), ("sky", "sky_stage")):
        steps = stage_steps(args.out / "ft", stage)
        if steps:
            meta |= {f"{key}_steps": len(steps), f"{key}_elapsed_s": round(steps[-1]["elapsed_s"]),
                     f"{key}_first_losses": steps[0]["losses"], f"{key}_last_losses": steps[-1]["losses"],
                     f"{key}_median_step_s": step_seconds(steps)}  # fmt: skip
    weights = {"base": SHIPPED_WEIGHTS, "fine-tuned": best}
    evaluate(args.out, "family_eval", weights, args.threads)
    evaluate(args.out, "others", weights, args.threads, args.others_every)
    meta["load_at_end"] = os.getloadavg()
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(table(args.out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
