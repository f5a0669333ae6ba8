"""`main.py train`: where a fine-tune starts (``--from-active``) and what follows a finished run on
a project: the model version is registered (unless ``--no-register``: the Training dock registers
it itself) and, with ``--compare``, the new weights are compared with the project's active model
on the val images (events "compare_progress" and "comparison", and RUN_DIR/comparison.json)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

COMPARISON_FILE = "comparison.json"
NEW, ACTIVE = "new", "active"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-active", action="store_true",
                   help="with --project: fine-tune the project's active model (the shipped default when none is "
                        "active); same as --init-weights of its weights file")
    p.add_argument("--no-register", action="store_true",
                   help="with --project: do not add the finished run to the project's model versions")
    p.add_argument("--compare", action="store_true",
                   help="after training, evaluate the new weights next to the active model (--project) or the "
                        "shipped default (--data) on the val images: mAP07, Pd/FA, sky IoU, corrections per image")


def fine_tune_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with --from-active, or None (resolves it into args.init_weights)."""
    if not getattr(args, "from_active", False):
        return None
    if args.project is None:
        return "--from-active needs --project (the project whose active model to continue)"
    if args.init_weights is not None:
        return "use either --from-active or --init-weights, not both"
    from app.model_versions import active_parent
    from core.errors import SirstError
    from core.store.project import Project

    try:
        with Project.open(args.project) as project:
            parent = active_parent(project)
    except SirstError as exc:
        return str(exc)
    args.init_weights, args.preset, args.parent_name = parent.weights, parent.preset, parent.name
    return None


def finish_run(args: argparse.Namespace, best_weights: Path | None, val: dict, elapsed_s: float,
               emit: Callable[[dict], None], stop: Callable[[], bool]) -> None:
    """After a completed run: register the version, then compare (each when asked for)."""
    from model.distributed import world

    if world()[0] != 0 or best_weights is None:
        return  # rank 0 alone speaks for a data-parallel run
    if args.project is not None and not args.no_register:
        _register(args, best_weights, val, elapsed_s, emit)
    if args.compare:
        compare_run(args, best_weights, emit, stop)


def _parent_name(args: argparse.Namespace) -> str | None:
    name = getattr(args, "parent_name", None)
    if name is None and args.init_weights is not None:
        name = Path(args.init_weights).name
    return name


def _register(args, best_weights: Path, val: dict, elapsed_s: float, emit) -> None:
    from app.model_versions import register_run
    from core.store.project import Project

    with Project.open(args.project) as project:
        mv = register_run(project, best_weights, val, name=Path(args.out).name, epochs=args.epochs,
                          preset=args.preset, elapsed_s=elapsed_s, parent=_parent_name(args))
    emit({"event": "registered", "version_id": mv.id, "name": mv.name, "path": str(best_weights)})
    print(f"registered model version {mv.name!r} (id {mv.id}) in {args.project}", file=sys.stderr)


def _reference(args: argparse.Namespace) -> tuple[Path, str]:
    """The model the new one is compared with: the project's active one, or the shipped default."""
    from app.model_versions import SHIPPED_DEFAULT_NAME, SHIPPED_WEIGHTS, active_parent
    from core.store.project import Project

    if args.project is None:
        return SHIPPED_WEIGHTS, SHIPPED_DEFAULT_NAME
    with Project.open(args.project) as project:
        parent = active_parent(project)
    return parent.weights, parent.name


def _items(args: argparse.Namespace):
    from model.compare import densesirst_items, project_items

    if args.project is not None:
        split = args.val_split if args.val_split and args.val_split.lower() != "none" else "val"
        return project_items(args.project, split, reviewed_only=args.reviewed_only)
    from core.formats.densesirst import read_split

    split = args.val_split if args.val_split and args.val_split.lower() != "none" else "val_v2"
    ids = read_split(args.data, split)
    return len(ids), densesirst_items(args.data, ids)


def compare_run(args, best_weights: Path, emit, stop) -> dict | None:
    """Evaluate the new and the reference weights on the val images; the "comparison" event (also
    written to RUN_DIR/comparison.json) carries both columns, or an "error" key."""
    from core.errors import SirstError
    from core.formats._io import atomic_write_text
    from model.compare import evaluate_models

    ref_weights, ref_name = _reference(args)
    result: dict = {"event": "comparison", "new_name": Path(args.out).name, "active_name": ref_name,
                    "new_weights": str(best_weights), "active_weights": str(ref_weights)}
    try:
        total, items = _items(args)
        result["images"] = total
        if total == 0:
            result["error"] = "no val images to compare on (reviewed images in the val split)"
        else:
            emit({"event": "compare_progress", "done": 0, "total": total})
            figures = evaluate_models(
                {NEW: best_weights, ACTIVE: ref_weights}, items, total, threads=args.threads,
                progress=lambda d, t: emit({"event": "compare_progress", "done": d, "total": t}), stop=stop)
            if figures is None:
                result["error"] = "the comparison was stopped"
            else:
                result[NEW], result[ACTIVE] = figures[NEW], figures[ACTIVE]
    except (SirstError, OSError, ValueError) as exc:
        result["error"] = f"the comparison failed: {exc}"
    atomic_write_text(Path(args.out) / COMPARISON_FILE, json.dumps(result, indent=1) + "\n")
    emit(result)
    if not getattr(emit, "jsonl", True):  # the readable log: a table after the event's JSON
        print(format_comparison(result), file=sys.stderr)
    return result


def format_comparison(result: dict) -> str:
    """The comparison as a small text table (what the Training dock shows)."""
    from model.compare import ROWS

    if result.get("error"):
        return f"no comparison: {result['error']}"
    lines = [f"{str(result['images']) + ' val images':<35}{'active':>10}{'new':>10}"]
    for key, label, _higher in ROWS:
        old, new = result[ACTIVE].get(key), result[NEW].get(key)
        cells = "".join(f"{v:>10.3f}" if isinstance(v, int | float) else f"{'-':>10}" for v in (old, new))
        lines.append(f"  {label:<33}{cells}")
    lines.append(f"  active: {result['active_name']}; new: {result['new_name']}")
    return "\n".join(lines)


def read_comparison(run_dir: Path) -> dict | None:
    """RUN_DIR/comparison.json, or None when absent or unreadable."""
    try:
        data = json.loads((Path(run_dir) / COMPARISON_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
