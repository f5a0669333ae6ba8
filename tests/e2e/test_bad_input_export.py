"""Issue 11, export side: an export never lies (verified sources, recognisable when interrupted,
never through symlinks) and read-only projects can be shown and exported (real CLI)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.formats import densesirst as ds
from core.store.project import Project
from tests._support.cli import (
    OTHER_USERS_OWN,
    REPO,
    assert_clean,
    cli,
    cli_here,
    skipped,
    tiny_densesirst,
)

NOBODY = 65534


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    tiny_densesirst(root, n=4)
    out = tmp_path / "project"
    assert cli_here("import", root, out).returncode == 0
    return out


def _sql(project: Path, statement: str, *params: object) -> None:
    con = sqlite3.connect(project / "project.sqlite")
    with con:
        con.execute(statement, params)
    con.close()


def _src(project: Path, name: str) -> Path:
    with Project.open(project, read_only=True) as p:
        return p.resolve_path(p.find_image(name))


# ---------------------------------------------------------------- item 2: replaced files
def test_image_replaced_after_import_is_skipped_not_exported(project: Path, tmp_path) -> None:
    cv2.imwrite(str(_src(project, "img-0")), np.zeros((60, 80), np.uint8))  # other size
    img1 = cv2.imread(str(_src(project, "img-1")), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(_src(project, "img-1")), img1 + 1)  # same size, other content
    for fmt in ("densesirst", "coco", "voc", "yolo"):
        out = tmp_path / fmt
        result = cli_here("export", project, out, "--format", fmt)
        assert_clean(result)
        assert result.returncode == 1
        reasons = skipped(result)
        assert "80x60 now, 40x30 when imported" in reasons["img-0"]
        assert "sha256 differs" in reasons["img-1"]
        names = {p.stem.removesuffix("_pixels0") for p in out.rglob("*.png")} - {""}
        assert names == {"img-2", "img-3"}, (fmt, names)


def test_crafted_stored_path_and_name_are_never_exported(project: Path, tmp_path) -> None:
    _sql(project, "UPDATE images SET path = '/etc/passwd' WHERE name = 'img-0'")
    _sql(project, "UPDATE images SET name = 'evil\nname' WHERE name = 'img-1'")
    out = tmp_path / "out"
    result = cli_here("export", project, out, "--format", "voc")
    assert_clean(result)
    assert result.returncode == 1
    reasons = skipped(result)
    assert "/etc/passwd" in reasons["img-0"]
    assert "control" in reasons["'evil\\nname'"]
    assert not any("passwd" in p.name for p in out.rglob("*"))
    assert (out / "ImageSets/Main/train.txt").read_text().splitlines() == ["img-2"]


# ---------------------------------------------------------------- item 3: killed export
_KILL_AT_2 = """
import os, signal, sys
from pathlib import Path
from core.services.exporter import export_project
from core.store.project import Project
def progress(done, total, name):
    if done == 2:
        os.kill(os.getpid(), signal.SIGKILL)
with Project.open(Path(sys.argv[1]), read_only=True) as p:
    export_project(p, Path(sys.argv[2]), sys.argv[3], progress=progress)
"""


@pytest.mark.parametrize(
    "fmt, index",
    [("densesirst", "Splits/train.txt"), ("coco", "annotations/instances_train.json"),
     ("voc", "ImageSets/Main/train.txt"), ("yolo", "data.yaml")],
)  # fmt: skip
def test_killed_export_over_an_old_one_has_no_index(project: Path, tmp_path, fmt, index) -> None:
    out = tmp_path / "out"
    assert cli_here("export", project, out, "--format", fmt).returncode == 0
    assert (out / index).is_file()
    stale = out / f".{Path(index).name}.abcd1234.tmp"
    stale.write_text("half")  # as a kill inside an atomic write leaves
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", _KILL_AT_2, str(project), str(out), fmt],
                         env=env, cwd=REPO, timeout=120)  # fmt: skip
    assert run.returncode == -signal.SIGKILL
    assert not (out / index).exists()  # an interrupted export cannot pass for a complete one
    assert not stale.exists()
    again = cli_here("export", project, out, "--format", fmt)
    assert again.returncode == 0 and (out / index).is_file()


# ---------------------------------------------------------------- item 10: symlinks
def test_export_never_writes_through_a_symlinked_folder(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "JPEGImages").symlink_to(outside, target_is_directory=True)
    result = cli_here("export", project, out, "--format", "voc")
    assert_clean(result)
    assert result.returncode == 2 and "symlink" in result.stderr
    assert list(outside.iterdir()) == [] and sorted(p.name for p in out.iterdir()) == ["JPEGImages"]


# ---------------------------------------------------------------- item 5: unusable OUT
def test_export_under_a_file_or_into_a_read_only_parent(project: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep")
    result = cli_here("export", project, afile / "sub", "--format", "coco")
    assert_clean(result)
    assert result.returncode == 2 and "cannot create the export folder" in result.stderr
    assert afile.read_text() == "keep"
    if os.geteuid() != 0:
        pytest.skip("the read-only parent needs another user (root bypasses permissions)")
    shared = _shared_copy(project)
    try:
        for p in [shared, *shared.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        result = cli("export", shared / "project", shared / "out", "--format", "coco", user=NOBODY)
        assert_clean(result)
        assert result.returncode == 2 and "Permission denied" in result.stderr, result.stderr
    finally:
        shutil.rmtree(shared)


def _shared_copy(project: Path) -> Path:
    """A copy of the project and its images in a fresh folder under /tmp that another user can
    reach (tmp_path is private to root); the copy's image paths point at the copied images."""
    shared = Path(tempfile.mkdtemp(prefix="sirst-ro-", dir="/tmp"))
    shutil.copytree(project, shared / "project")
    shutil.copytree(project.parent / "src", shared / "src")
    _sql(shared / "project", "UPDATE images SET path = replace(path, ?, ?)",
         str(project.parent / "src"), str(shared / "src"))  # fmt: skip
    return shared


# ---------------------------------------------------------------- item 7: read-only projects
def test_read_only_project_can_be_shown_and_exported(project: Path, tmp_path: Path) -> None:
    _sql(project, "UPDATE images SET split = 'holdout', status = 'audited' WHERE name = 'img-3'")
    shared = _shared_copy(project)
    try:
        out = shared / "out"
        out.mkdir()
        for p in [shared, *shared.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        out.chmod(0o777)
        (shared / "project").chmod(0o555)
        before = sorted((p.name, p.stat().st_mtime_ns) for p in (shared / "project").rglob("*"))
        user = NOBODY if os.geteuid() == 0 else None
        info = cli("info", shared / "project", user=user)
        assert_clean(info)
        assert info.returncode == 0, info.stderr
        assert "holdout" in info.stdout  # a split from a newer version is shown, not fatal
        export = cli("export", shared / "project", out / "d", user=user)
        assert_clean(export)
        assert export.returncode == 0, export.stderr
        assert len(ds.list_ids(out / "d")) == 4
        after = sorted((p.name, p.stat().st_mtime_ns) for p in (shared / "project").rglob("*"))
        assert after == before  # nothing in the project was written
        # editing through the library is refused with a message
        code = (
            "import sys; from core.store.project import Project; from core.errors import ProjectError\n"
            "from core.edits import AnnotationEdit, FieldChange, ImageField\n"
            "p = Project.open(sys.argv[1]); print('ro', p.read_only)\n"
            "edit = AnnotationEdit(1, 'Set note', fields=(FieldChange(ImageField.NOTE, '', 'x'),))\n"
            "try:\n    p.apply_edit(edit, verify=False)\nexcept ProjectError as e:\n    print('refused', e)\n"
        )
        cmd = [sys.executable, "-c", code, str(shared / "project")]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        env = {k: v for k, v in os.environ.items() if k not in OTHER_USERS_OWN}
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=60,
                             env={**env, "PYTHONPATH": str(REPO), "HOME": "/tmp"})  # fmt: skip
        assert "ro True" in run.stdout and "refused" in run.stdout and "read-only" in run.stdout
    finally:
        (shared / "project").chmod(0o755)
        shutil.rmtree(shared)


# ---------------------------------------------------------------- item 12: exit codes
def test_internal_error_exits_4_with_a_short_message_and_a_log(project, monkeypatch, capsys,
                                                                tmp_path) -> None:  # fmt: skip
    from app.cli import EXIT_INTERNAL, info, main

    def broken(_args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("SIRST_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(info, "run", broken)
    code = main(["info", str(project)])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL == 4
    assert "internal error in 'info'" in err and "Traceback" not in err
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log) in err and "ZeroDivisionError: a bug" in log.read_text()


def test_exit_codes_of_every_command_on_bad_input(project: Path, tmp_path: Path) -> None:
    """2 = bad input, nothing changed, for each command (and never a traceback)."""
    bad_csv = tmp_path / "preds"
    bad_csv.mkdir()
    (bad_csv / "detections.csv").write_bytes(b"image_id,x\n\xff\xfe\n")
    cases = [
        ("info", tmp_path / "nowhere"),
        ("export", tmp_path / "nowhere", tmp_path / "o"),
        ("import", tmp_path / "nowhere", tmp_path / "p2"),
        ("evaluate", project.parent / "src", "val", bad_csv),
        ("synth", tmp_path / "nowhere", tmp_path / "s", "--count", "1"),
        ("demo", project / "project.sqlite"),
    ]
    for args in cases:
        result = cli(*args)
        assert_clean(result)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().splitlines()[-1].startswith("error:"), (args, result.stderr)
    evaluate = cli("evaluate", project.parent / "src", "val", bad_csv)
    assert "not UTF-8" in evaluate.stderr


def test_stored_boxes_outside_the_image_never_reach_an_export(project: Path, tmp_path) -> None:
    """A project written before import validation (or by hand) may hold such boxes."""
    _sql(project, "UPDATE targets SET x0 = 5001, x1 = 5640 WHERE image_id = "
         "(SELECT id FROM images WHERE name = 'img-0')")  # fmt: skip
    _sql(project, "UPDATE targets SET x1 = 1e308 WHERE image_id = "
         "(SELECT id FROM images WHERE name = 'img-1')")  # fmt: skip
    out = tmp_path / "yolo"
    result = cli_here("export", project, out, "--format", "yolo")
    assert_clean(result)
    assert result.returncode == 1 and "outside the 40x30 image" in skipped(result)["img-0"]
    (line,) = (out / "labels" / "train" / "img-1.txt").read_text().splitlines()
    values = [float(v) for v in line.split()[1:]]
    assert all(0.0 <= v <= 1.0 for v in values) and len(line) < 60, line


def test_export_into_the_source_dataset_is_refused(project: Path) -> None:
    src = project.parent / "src"
    before = sorted((p.relative_to(src), p.read_bytes()) for p in src.rglob("*") if p.is_file())
    result = cli_here("export", project, src)
    assert_clean(result)
    assert result.returncode == 2 and "project's own images" in result.stderr
    after = sorted((p.relative_to(src), p.read_bytes()) for p in src.rglob("*") if p.is_file())
    assert after == before
