"""Model versions of a project, without Qt: where a fine-tune starts and how a finished run is
registered. The Training dock and `main.py train --project` both register through
``register_run``, so a version looks the same whichever started the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.domain import ModelVersion
from core.errors import SirstError

SHIPPED_DEFAULT_NAME = "shipped default"
# = model.inference.default_weights_path(), without importing torch into the GUI (tested equal)
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "models" / "bafenet_default.safetensors"


@dataclass(frozen=True)
class ParentModel:
    """The weights a fine-tune starts from: the project's active version or the shipped default."""

    weights: Path
    name: str
    preset: str
    version_id: int | None
    created: str | None = None  # when the version was made (ISO): what was reviewed after it is new (ADR 0034)


def active_parent(project) -> ParentModel:
    """The project's active model version (its weights file must exist), else the shipped default."""
    active = project.active_model() if project is not None else None
    if active is None:
        return ParentModel(SHIPPED_WEIGHTS, SHIPPED_DEFAULT_NAME, "default", None)
    path = Path(project.resolve_path(active))
    if not path.is_file():
        raise SirstError(f"the active model {active.name!r} has no weights file at {path}; "
                         "pick another model or train from scratch")
    return ParentModel(path, active.name, active.preset, active.id, active.created)


def register_run(project, weights: Path | str, val: dict, *, name: str, epochs: int, preset: str,
                 elapsed_s: float | None = None, parent: str | None = None) -> ModelVersion:
    """Add a finished run's best weights to ``project`` as a new, inactive model version."""
    weights = Path(str(weights or ""))
    if not str(weights) or not weights.is_file():
        raise SirstError(f"the training run reported weights {weights} but the file is not there; "
                         "retrain if the run folder is empty")
    metrics = {k: v for k, v in (val or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
    metrics |= {"elapsed_s": elapsed_s, "epochs": int(epochs)}
    if parent is not None:
        metrics["fine_tuned_from"] = parent
    mv = ModelVersion(id=None, name=name, path=str(weights),
                      created=datetime.now(UTC).isoformat(timespec="seconds"), metrics=metrics, preset=preset)
    return project.add_model_version(mv)


def second_look(project, version: ModelVersion) -> str:
    """What the version's weights do with the second look at scores (ADR 0042), one sentence; ""
    when the file says nothing about it or cannot be read."""
    from model.card_meta import header_metadata, rescorer_note  # json only, no torch

    if project is None:
        return ""
    try:
        return rescorer_note(header_metadata(Path(project.resolve_path(version))))
    except (OSError, ValueError):
        return ""
