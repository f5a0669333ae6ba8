"""Ship a run's best weights: export them and write the model card next to them.

    python -m model.model_card RUN_DIR [--dest resources/models/bafenet_default.safetensors]
        [--command "python main.py train ..."] [--latency-ms 210]
    python -m model.model_card --refresh WEIGHTS --pred PRED_DIR --data DENSESIRST_ROOT [--split val_v2]

``--refresh`` rewrites the metadata of WEIGHTS in place (tensors untouched, model.card_meta): its
``val`` figures become those ``main.py evaluate`` computes for PRED_DIR (``main.py predict`` of
these weights on the split's images), the config's operating threshold the metadata's, and the
stale ``sky_val`` goes. The file's SHA-256 changes, so its int8 graph must be exported again.

The card (MODEL.md) records the exact train commands (from RUN_DIR/command.txt unless given), the
data, the wall time, the per-epoch validation history, the best epoch's metrics and RUN_DIR/NOTES.md
(if any), all read from the run folder (events.jsonl, best.safetensors metadata), so it always
matches the weights shipped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.formats._io import atomic_write_text
from model.checkpoint import read_metadata

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "resources" / "models" / "bafenet_default.safetensors"
VAL_KEYS = ("mAP07", "mAP12", "recall", "sky_iou", "pd", "fa_per_image", "pd_iou", "fa_per_image_iou", "threshold")
# the figures a refreshed card keeps (core.evaluation.compute's names)
CARD_KEYS = ("mAP07", "mAP12", "recall", "mAP07_plain", "mAP12_plain", "recall_plain", "pd", "fa_per_image",
             "pd_iou", "fa_per_image_iou", "pd_iou_plain", "fa_per_image_iou_plain", "sky_iou", "sky_median",
             "sky_large", "images", "targets")


def _epochs(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill; the rest is still valid
        if ev.get("event") == "epoch":
            out.append(ev)
    return out


def card_text(run_dir: Path, weights: Path, command: str, latency_ms: float | None) -> str:
    """Markdown model card of the weights exported from run_dir."""
    meta = read_metadata(weights)
    val = json.loads(meta.get("val", "{}"))
    cfg = json.loads(meta["config"])
    epochs = _epochs(run_dir)
    wall = epochs[-1]["elapsed_s"] / 60 if epochs else 0.0
    lines = [
        "# bafenet_default.safetensors",
        "",
        f"BAFE-Net, preset `{meta.get('preset')}`, trained from scratch on CPU by this project's own",
        "`main.py train` (no pretrained weights). Metrics are on DenseSIRST **val_v2** (the model never",
        "saw it in training; the operating threshold was chosen on it), never on the held-out test split.",
        "",
        "## Train command",
        "```",
        command,
        "```",
        "",
        "## Data",
        "DenseSIRST trainval release at `../shared/datasets/DenseSIRST/SIRSTdevkit`: trained on `train_v2`",
        "(512 images), best epoch chosen by mAP07 on `val_v2` (256 images). Random 256x256 crops biased",
        "to contain targets, horizontal flips, BAG-CP copy-paste (core.bagcp) with probability 0.5.",
        "",
        "## Result",
        f"- best epoch: {meta.get('epoch')} of {len(epochs)} validated; training wall time {wall:.0f} min"
        " (2 CPU threads, shared machine)",
        f"- val_v2 (legacy +1 widths, IoU >= 0.5): mAP07 **{val.get('mAP07', 0):.3f}**, mAP12 "
        f"**{val.get('mAP12', 0):.3f}**, recall **{val.get('recall', 0):.3f}**, sky IoU **{val.get('sky_iou', 0):.3f}**",
        f"- at the operating threshold {float(meta.get('operating_threshold', 0)):.3f} (best F1 on val_v2): "
        f"Pd {val.get('pd', 0):.3f}, false alarms {val.get('fa_per_image', 0):.2f} per image (a box whose centre "
        f"lies within 3 px of a target's, one to one, as the field counts); Pd@IoU0.5 {val.get('pd_iou', 0):.3f}, "
        f"FA@IoU0.5 {val.get('fa_per_image_iou', 0):.2f} per image",
        f"- sky = probability >= {float(meta.get('sky_threshold', 0.5)):.2f} (best IoU on val_v2, so the sky IoU"
        " above is slightly optimistic); mAP and recall do not depend on any threshold",
        "- paper, BAFE-Net R18 on test_v2 (GPU, 46k training images): mAP07 0.283, mAP12 0.233, recall 0.335",
    ]
    if latency_ms is not None:
        lines.append(f"- latency at 640x512, 2 threads: {latency_ms:.0f} ms ({1000 / latency_ms:.1f} img/s), "
                     "`python benchmarks/bench_model.py --weights resources/models/bafenet_default.safetensors`")
    notes = run_dir / "NOTES.md"
    if notes.is_file():  # what happened during the run (resumes, changed flags), written by hand
        lines += ["", "## Run notes", notes.read_text(encoding="utf-8").strip()]
    lines += ["", "## Validation history", "| epoch | " + " | ".join(VAL_KEYS) + " | loss |",
              "|" + "---|" * (len(VAL_KEYS) + 2)]
    for ev in epochs:
        v = ev.get("val", {})
        cells = " | ".join(f"{v.get(k, 0):.3f}" for k in VAL_KEYS)
        lines.append(f"| {ev['epoch']} | {cells} | {ev['losses'].get('total', 0):.3f} |")
    lines += ["", "## Config", "```json", json.dumps(cfg, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def card_figures(gt_root: Path, split: str, pred_dir: Path) -> dict[str, float]:
    """The card's figures of a prediction folder: ``main.py evaluate``'s and the sky proposals'
    rings / vertices per image (as the sky editor traces them)."""
    from core.evaluation import compute, load_predictions
    from core.geometry import ring_stats

    res = compute(gt_root, split, pred_dir)
    if res["missing_predictions"]:
        raise ValueError(f"{pred_dir}: {res['missing_predictions']} images of {split} have no prediction; "
                         "run `main.py predict` on all of the split's images")
    out = {k: res[k] for k in CARD_KEYS if res.get(k) is not None}
    sky_pred = load_predictions(gt_root, split, pred_dir)[3]
    if sky_pred:
        stats = [ring_stats(m) for m in sky_pred]
        out["rings"] = sum(r for r, _ in stats) / len(stats)
        out["vertices"] = sum(v for _, v in stats) / len(stats)
    return {k: round(float(v), 4) if isinstance(v, float) else v for k, v in out.items()}


def refresh(weights: Path, gt_root: Path, split: str, pred_dir: Path, source: str) -> dict[str, str]:
    """Rewrite the metadata of ``weights`` with the figures of ``pred_dir``; the new metadata."""
    from model.card_meta import refreshed, rewrite_metadata

    meta = read_metadata(weights)
    new = refreshed(meta, card_figures(gt_root, split, pred_dir), source)
    rewrite_metadata(weights, new)
    return new


def main() -> None:
    ap = argparse.ArgumentParser(description="Export a run's best weights and write MODEL.md next to them, "
                                             "or (--refresh) bring a weights file's card figures up to date.")
    ap.add_argument("run_dir", type=Path, nargs="?")
    ap.add_argument("--refresh", type=Path, metavar="WEIGHTS", help="rewrite this file's metadata (tensors untouched)")
    ap.add_argument("--pred", type=Path, help="--refresh: `main.py predict` output of WEIGHTS on the split")
    ap.add_argument("--data", type=Path, help="--refresh: the DenseSIRST root with the labels")
    ap.add_argument("--split", default="val_v2", help="--refresh: the split (default val_v2)")
    ap.add_argument("--source", default="", help="--refresh: how PRED_DIR was made (recorded in val_source)")
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    ap.add_argument("--command", help="train command line (default: RUN_DIR/command.txt)")
    ap.add_argument("--latency-ms", type=float)
    args = ap.parse_args()
    if args.refresh is not None:
        if args.pred is None or args.data is None:
            ap.error("--refresh needs --pred PRED_DIR and --data DENSESIRST_ROOT")
        source = (f"main.py evaluate {args.data.name} {args.split} on `main.py predict` of these weights"
                  f"{' (' + args.source + ')' if args.source else ''}, {time.strftime('%Y-%m-%d', time.gmtime())}")
        new = refresh(args.refresh, args.data, args.split, args.pred, source)
        print(json.dumps(json.loads(new["val"]), indent=2))
        print(f"rewrote the metadata of {args.refresh}; re-export its int8 graph (main.py export-model --int8)")
        return
    if args.run_dir is None:
        ap.error("give RUN_DIR, or --refresh WEIGHTS")
    from model.export import export_weights

    export_weights(args.run_dir, args.dest)
    cmd_file = args.run_dir / "command.txt"
    command = args.command or (cmd_file.read_text(encoding="utf-8").strip() if cmd_file.is_file() else "(unknown)")
    card = args.dest.parent / "MODEL.md"
    atomic_write_text(card, card_text(args.run_dir, args.dest, command, args.latency_ms))
    card.chmod(0o644)  # the atomic writer's temp file is private; the card is for everyone
    print(f"wrote {args.dest} and {args.dest.parent / 'MODEL.md'}")


if __name__ == "__main__":
    main()
