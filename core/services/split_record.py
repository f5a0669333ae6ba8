"""The record of DenseSIRST split files a project's imports saw (``densesirst_splits.json`` in
the project folder): which project splits each upstream file (``trainval.txt``, ...) covers, so
that an export writes the same files back. Written by the import, read by import and export; kept
apart so that export does not depend on import.
"""

from __future__ import annotations

import json
from pathlib import Path

from core import fileio
from core.domain import Split
from core.errors import ProjectError
from core.fileio import atomic_write_text

SPLIT_RECORD = "densesirst_splits.json"


def record_split_files(
    project_root: Path, members: dict[str, list[str]], of_id: dict[str, Split]
) -> None:
    """Remember which project splits each upstream split file covers (merged with any record
    from earlier imports), so export can write the same files back."""
    path = Path(project_root) / SPLIT_RECORD
    record = load_split_record(project_root)
    for name, ids in members.items():
        covered = sorted({of_id[i].value for i in ids if i in of_id})
        if covered:
            record[name] = sorted(set(record.get(name, [])) | set(covered))
    if record and record != load_split_record(project_root):
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True), fsync=True)


def load_split_record(project_root: Path) -> dict[str, list[str]]:
    """{split file name: [project split values]} recorded by DenseSIRST imports ({} if none)."""
    path = Path(project_root) / SPLIT_RECORD
    try:
        data = json.loads(fileio.read_regular_text(path))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        raise ProjectError(
            f"{path} is unreadable ({exc}); delete it to use default split names"
        ) from None
    if not isinstance(data, dict):
        return {}
    values = {s.value for s in Split}
    return {
        str(k): [v for v in vs if v in values] for k, vs in data.items() if isinstance(vs, list)
    }
