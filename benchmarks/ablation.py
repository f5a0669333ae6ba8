"""Short-budget ablation of the paper's claims on the ``default`` preset (issue 12, ADR 0002).

Every row trains from scratch with ``main.py train`` (same seed, train split, crops, batch, 1 thread,
no validation during training), then its final weights are validated once with
``python -m model.validate`` (1 thread) on val_v2 (``--every N``: every N-th image, the same subset
for every row). Rows:

    a  default: seg head on, exchange dynamic, BAG-CP
    b  seg head off                    (--set seg_head=false; no exchange without a seg head)
    c  exchange off                    (--set exchange="off")
    d  exchange fixed                  (--set exchange="fixed")
    e  plain copy-paste, not BAG-CP    (--paste plain)

Budget, one of: ``--epochs E`` (default 1 = 64 steps of 8 crops: the same optimiser steps and the same
crops for every row, whatever else loads the machine) or ``--budget-min B`` (the same wall-clock
budget; fair only while the load stays constant). Each row also records the CPU seconds of its
training process (``resource.getrusage`` of the children), the load-independent cost.

A row is named ``<letter>_s<seed>``; ``--rows a b a:1`` runs a and b at ``--seed`` and a again at
seed 1. Resumable: a row whose ``OUT/<row>.json`` exists is skipped; a row whose training was killed
continues with ``--resume``; a row trained but not validated is only validated. Rows run one after
another.

    nice -n 10 python benchmarks/ablation.py --out runs/ablation --epochs 1 --every 8 --rows a c d b e a:1
    python benchmarks/ablation.py --out runs/ablation --table      # print the table of what is done
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"

ROWS: dict[str, tuple[str, list[str]]] = {
    "a": ("default (seg head, exchange dynamic, BAG-CP)", []),
    "b": ("seg head off", ["--set", "seg_head=false"]),
    "c": ("exchange off", ["--set", 'exchange="off"']),
    "d": ("exchange fixed", ["--set", 'exchange="fixed"']),
    "e": ("plain copy-paste instead of BAG-CP", ["--paste", "plain"]),
}
COLUMNS = ("steps", "mAP07", "mAP12", "recall", "pd", "fa_per_image", "threshold", "sky_iou")


def parse_row(item: str, seed: int) -> tuple[str, int]:
    """'a' -> ('a', seed); 'a:1' -> ('a', 1)."""
    letter, _, s = item.partition(":")
    if letter not in ROWS:
        raise SystemExit(f"error: row {letter!r} unknown; use one of {', '.join(ROWS)}")
    try:
        return letter, int(s) if s else seed
    except ValueError:
        raise SystemExit(f"error: row {item!r}: the seed after ':' must be an integer") from None


def train_command(args: argparse.Namespace, letter: str, seed: int, run: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "main.py"), "train", "--data", str(args.data), "--train-split", "train_v2",
           "--val-split", "none", "--out", str(run), "--preset", "default",
           "--batch", str(args.batch), "--crop", str(args.crop), "--repeats", "1", "--seed", str(seed),
           "--warmup-steps", str(args.warmup_steps), "--bagcp-prob", "0.5", "--threads", "1"]
    if args.budget_min is not None:
        cmd += ["--epochs", "100000", "--time-budget-min", f"{args.budget_min:g}"]
    else:
        cmd += ["--epochs", str(args.epochs)]
    if args.channels_last:
        cmd.append("--channels-last")
    cmd += ROWS[letter][1]
    return cmd + (["--resume"] if resume else [])


def trained(run: Path) -> bool:
    """The run's last event is "done" (its budget is spent and the final weights are saved)."""
    events = run / "events.jsonl"
    if not events.exists():
        return False
    lines = [ln for ln in events.read_text(encoding="utf-8").splitlines() if ln.strip()]
    try:
        return bool(lines) and json.loads(lines[-1]).get("event") == "done"
    except json.JSONDecodeError:
        return False


TAIL = 16  # training losses are averaged over the last TAIL steps (the same crops for every row)


def step_stats(run: Path) -> dict[str, float]:
    """Optimiser steps done (all sessions), training seconds and the mean losses of the last TAIL steps
    (``final_loss`` = total, ``final_sky`` etc. per term)."""
    steps, losses, elapsed = 0, [], 0.0
    for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if ev.get("event") == "step":
            steps += 1
            losses.append(ev["losses"])
        elif ev.get("event") == "done":
            elapsed = float(ev.get("elapsed_s", 0.0))
    tail = losses[-TAIL:]
    out = {"steps": steps, "train_s": elapsed}
    for key in ("total", "cls", "box", "ctr", "sky"):
        vals = [t[key] for t in tail if key in t]
        out["final_loss" if key == "total" else f"final_{key}"] = sum(vals) / len(vals) if vals else None
    return out


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _read_cpu(path: Path) -> float:
    return float(path.read_text(encoding="utf-8")) if path.exists() else 0.0


def _add_cpu(path: Path, seconds: float) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{_read_cpu(path) + seconds:.1f}", encoding="utf-8")
    tmp.replace(path)


def run_row(args: argparse.Namespace, letter: str, seed: int) -> None:
    name = f"{letter}_s{seed}"
    result = args.out / f"{name}.json"
    if result.exists():
        print(f"{name}: done before, skipped", flush=True)
        return
    run = args.out / name
    if not trained(run):
        resume = (run / "last.pt").exists()
        cmd = train_command(args, letter, seed, run, resume)
        print(f"{name}: {'resuming' if resume else 'training'}: {' '.join(cmd)}", flush=True)
        cpu0 = _children_cpu()
        with open(args.out / f"{name}.train.log", "a", encoding="utf-8") as log:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _add_cpu(args.out / f"{name}.cpu", _children_cpu() - cpu0)  # summed over resumed sessions
        if rc != 0 or not trained(run):
            print(f"error: training of row {name} failed (exit {rc}); see {name}.train.log", flush=True)
            return
    cmd = [sys.executable, "-m", "model.validate", str(run / "best.safetensors"), "--data", str(args.data),
           "--split", "val_v2", "--every", str(args.every), "--threads", "1"]
    print(f"{name}: validating: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"error: validation of row {name} failed:\n{proc.stderr[-2000:]}", flush=True)
        return
    val = json.loads(proc.stdout.strip().splitlines()[-1])
    out = {"row": name, "letter": letter, "seed": seed, "what": ROWS[letter][0], "budget_min": args.budget_min,
           "train_command": " ".join(train_command(args, letter, seed, run, False)[1:]),
           "validate_s": time.monotonic() - t0, "train_cpu_s": _read_cpu(args.out / f"{name}.cpu"),
           **step_stats(run), **val}
    if letter == "b":  # no seg head: the sky map is all zeros, its IoU means nothing
        out["sky_iou"] = None
    tmp = result.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1), encoding="utf-8")
    tmp.replace(result)
    print(f"{name}: {json.dumps({k: out.get(k) for k in COLUMNS})}", flush=True)


def table(out_dir: Path) -> str:
    """Markdown table of every finished row in out_dir (losses re-read from the run's events)."""
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in out_dir.glob("*_s*.json")]
    head = ("| row | what | steps | train wall s | train CPU s | loss total / cls / sky (last 16 steps) | mAP07 "
            "| mAP12 | recall | Pd | FA/img | op. thr | sky IoU | val images |")
    lines = [head, "|" + "---|" * 14]

    def f(v: float | None, nd: int = 3) -> str:
        return "-" if v is None else f"{v:.{nd}f}"

    for r in sorted(rows, key=lambda r: (r["seed"], r["letter"])):
        if (out_dir / r["row"] / "events.jsonl").exists():
            r.update(step_stats(out_dir / r["row"]))
        losses = f"{f(r['final_loss'])} / {f(r.get('final_cls'))} / {f(r.get('final_sky'))}"
        lines.append(f"| {r['row']} | {r['what']} | {r['steps']} | {r['train_s']:.0f} | {r.get('train_cpu_s', 0):.0f} | "
                     f"{losses} | {f(r['mAP07'])} | {f(r['mAP12'])} | "
                     f"{f(r['recall'])} | {f(r['pd'])} | {f(r['fa_per_image'], 2)} | {f(r['threshold'])} | "
                     f"{f(r['sky_iou'])} | {r.get('images', '?')} |")
    done = {r["row"] for r in rows}
    for run in sorted(d for d in out_dir.glob("*_s*") if d.is_dir() and d.name not in done):
        if (run / "events.jsonl").exists():  # still training, or trained but not validated
            st = step_stats(run)
            losses = f"{f(st['final_loss'])} / {f(st.get('final_cls'))} / {f(st.get('final_sky'))}"
            what = ROWS.get(run.name.split("_")[0], ("?", []))[0]
            lines.append(f"| {run.name} | {what} | {st['steps']} | - | - | {losses} | not validated |" + " |" * 7)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="DenseSIRST root")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/ablation", help="run folders and result JSONs")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), help="rows to run: letter or letter:seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1, help="epochs of 512 / batch steps per row (the default budget)")
    ap.add_argument("--budget-min", type=float, help="instead: training wall-clock minutes per row")
    ap.add_argument("--every", type=int, default=1, help="validate on every N-th val_v2 image")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--warmup-steps", type=int, default=10,
                    help="a short budget does few steps: the usual 100-step warm-up would never end")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format (same arithmetic)")
    ap.add_argument("--table", action="store_true", help="only print the table of the finished rows")
    args = ap.parse_args(argv)
    if not args.table:
        if not (args.data / "Splits").is_dir():
            raise SystemExit(f"error: {args.data} is not a DenseSIRST root (no Splits folder)")
        args.out.mkdir(parents=True, exist_ok=True)
        for item in args.rows:
            run_row(args, *parse_row(item, args.seed))
    print(table(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
