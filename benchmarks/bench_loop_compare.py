"""Two checkouts' training loops side by side (issue 23): a short fine-tune from the shipped weights
and a short from-scratch run on DenseSIRST train_v2, validated on val_v2 (mAP07, sky IoU), with
equal time budgets and two seeds; then steps/s of 1 and 2 processes.

Each configuration runs in both checkouts at the same time (``nice -n 10``, one torch thread per
process), so load from other work on a shared machine hits the two alike; the figures of one run
alone are not results on a loaded machine, the side-by-side ratio is.

    python benchmarks/bench_loop_compare.py --old /tmp/old_checkout --new . --budget-min 3 --seeds 1 2

With ``--val-every N`` the runs train without validation (their last weights are exported) and both
are then validated by the same ``python -m model.validate`` (this checkout's) on every N-th val_v2
image, one after the other: on a loaded machine a whole val_v2 pass per run takes longer than the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"
COMMON = ["--train-split", "train_v2", "--batch", "8", "--crop", "256", "--threads", "1", "--bagcp-prob", "0.5",
          "--channels-last", "--epochs", "1", "--repeats", "8"]
RECIPES = {
    "fine-tune": ["--lr", "5e-4", "--warmup-steps", "10"],  # + --init-weights the shipped weights
    "scratch": ["--lr", "2e-3", "--warmup-steps", "20"],
}


def _cmd(repo: Path, python: str, data: Path, out: Path, extra: list[str]) -> list[str]:
    return ["nice", "-n", "10", python, str(repo / "main.py"), "train", "--data", str(data), "--out", str(out),
            "--events-jsonl", *COMMON, *extra]


def _run_pair(cmds: dict[str, list[str]], cwd: dict[str, Path]) -> dict[str, int]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = {k: subprocess.Popen(c, cwd=cwd[k], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for k, c in cmds.items()}
    codes = {}
    for k, p in procs.items():
        _, err = p.communicate()
        codes[k] = p.returncode
        if p.returncode != 0:
            print(f"{k}: exit {p.returncode}\n{err.decode()[-2000:]}", file=sys.stderr)
    return codes


def _events(out: Path) -> list[dict]:
    path = out / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def _quality(out: Path) -> dict:
    ev = _events(out)
    steps = [e for e in ev if e["event"] == "step"]
    done = [e for e in ev if e["event"] == "done"]
    val = done[-1]["val"] if done else {}
    return {"steps": len(steps), "mAP07": val.get("mAP07"), "sky_iou": val.get("sky_iou"),
            "last_loss": steps[-1]["losses"]["total"] if steps else None}


def _validate(python: str, data: Path, weights: Path, every: int) -> dict:
    """mAP07 / sky IoU of a weights file by model.validate on every N-th val_v2 image."""
    cmd = ["nice", "-n", "10", python, "-m", "model.validate", str(weights), "--data", str(data), "--split", "val_v2",
           "--threads", "1", "--every", str(every)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(res.stdout[res.stdout.index("{"):])


def _rate(out: Path) -> float | None:
    """Steps per second after the first step (allocator and kernel warm-up excluded)."""
    steps = [e for e in _events(out) if e["event"] == "step"]
    if len(steps) < 3:
        return None
    return (len(steps) - 1) / (steps[-1]["elapsed_s"] - steps[0]["elapsed_s"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="checkout of the old loop")
    ap.add_argument("--new", type=Path, default=ROOT, help="checkout of the new loop")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=Path, default=Path("/tmp/bench_loop_compare"))
    ap.add_argument("--budget-min", type=float, default=3.0, help="training minutes per run (validation after)")
    ap.add_argument("--speed-min", type=float, default=1.5, help="training minutes per steps/s run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", choices=["quality", "speed"], help="run one half")
    ap.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    ap.add_argument("--val-every", type=int, default=0, metavar="N",
                    help="train without validation, then validate both on every N-th val_v2 image (0: val_v2 in the run)")
    args = ap.parse_args()
    repos = {"old": args.old.resolve(), "new": args.new.resolve()}
    weights = ROOT / "resources/models/bafenet_default.safetensors"
    results: dict = {"quality": [], "speed": []}
    if args.only != "speed":
        for recipe in args.recipes:
            flags = RECIPES[recipe]
            for seed in args.seeds:
                val = ["--val-split", "none"] if args.val_every else ["--val-split", "val_v2"]
                extra = [*flags, *val, "--seed", str(seed), "--time-budget-min", str(args.budget_min)]
                if recipe == "fine-tune":
                    extra += ["--init-weights", str(weights)]
                outs = {k: args.runs / f"{recipe}_s{seed}_{k}" for k in repos}
                _run_pair({k: _cmd(repos[k], args.python, args.data, outs[k], extra) for k in repos}, repos)
                row = {"recipe": recipe, "seed": seed, **{k: _quality(outs[k]) for k in repos}}
                if args.val_every:
                    for k in repos:
                        v = _validate(args.python, args.data, outs[k] / "best.safetensors", args.val_every)
                        row[k].update(mAP07=v.get("mAP07"), sky_iou=v.get("sky_iou"))
                results["quality"].append(row)
                print(json.dumps(row), flush=True)
    if args.only != "quality":
        for nproc in (1, 2):
            extra = [*RECIPES["scratch"], "--val-split", "none", "--seed", "1", "--nproc", str(nproc),
                     "--time-budget-min", str(args.speed_min)]
            outs = {k: args.runs / f"speed_n{nproc}_{k}" for k in repos}
            _run_pair({k: _cmd(repos[k], args.python, args.data, outs[k], extra) for k in repos}, repos)
            row = {"nproc": nproc, **{k: _rate(outs[k]) for k in repos}}
            results["speed"].append(row)
            print(json.dumps(row), flush=True)
    print("| recipe | seed | old mAP07 | new mAP07 | old sky IoU | new sky IoU | old steps | new steps |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["quality"]:
        o, n = r["old"], r["new"]
        print(f"| {r['recipe']} | {r['seed']} | {o['mAP07']} | {n['mAP07']} | {o['sky_iou']} | {n['sky_iou']} "
              f"| {o['steps']} | {n['steps']} |")
    print("| processes | old steps/s | new steps/s |")
    print("|---|---|---|")
    for r in results["speed"]:
        print(f"| {r['nproc']} | {r['old']} | {r['new']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
