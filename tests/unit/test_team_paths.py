"""Shared image folders: stored paths mapped per machine, unmapped images reported (ADR 0008)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import machine
from core.errors import ProjectError
from core.machine import MachineSettings, PathMap
from core.store.project import Project
from tests.unit.test_project import new


def test_path_map_longest_prefix_both_ways() -> None:
    m = PathMap.of([("/mnt/share", "/home/a/share"), ("/mnt/share/ir/raw", "D:\\raw")])
    assert m.to_local("/mnt/share/x/1.png") == "/home/a/share/x/1.png"
    assert m.to_local("/mnt/share/ir/raw/2.png") == "D:/raw/2.png"  # the longer prefix wins
    assert m.to_local("/mnt/sharer/1.png") is None  # a prefix is a whole folder, not characters
    assert m.to_local("/elsewhere/1.png") is None
    assert m.to_stored("/home/a/share/x/1.png") == "/mnt/share/x/1.png"
    with pytest.raises(ProjectError, match="stored and a local prefix"):
        PathMap.of([("/mnt/share", "")])


def test_machine_settings_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "machine.json"
    assert machine.load(path).user_name == machine.os_user()  # no file: the OS user
    machine.save(MachineSettings("alice", PathMap.of([("/srv/ir", str(tmp_path))])), path)
    back = machine.load(path)
    assert back.user_name == "alice" and back.path_map.to_local("/srv/ir/a.png") == f"{tmp_path}/a.png"
    path.write_text("{broken")
    with pytest.raises(ProjectError, match="cannot be read"):
        machine.load(path)


def test_two_machines_see_one_server_project_through_their_maps(project_target, tmp_path: Path) -> None:
    """Machine A has the share at /a/share, machine B at /b/mnt: B finds A's images, and an
    image outside every mapping is reported as unmapped, grouped by folder."""
    a_share, b_share = tmp_path / "a" / "share", tmp_path / "b" / "mnt"
    for d in (a_share, b_share):
        (d / "ir").mkdir(parents=True)
        (d / "ir" / "f1.png").write_bytes(b"x")
    stray = tmp_path / "stray"
    stray.mkdir()
    a = MachineSettings("ann", PathMap.of([("/team/share", str(a_share))]))
    b = MachineSettings("bob", PathMap.of([("/team/share", str(b_share))]))
    with Project.create(project_target, machine=a) as pa:
        pa.add_images([new("f1", a_share / "ir" / "f1.png"), new("s", stray / "s.png")])
        stored = {i.name: i.path for i in pa.list_images()}
        assert stored["f1"] == "/team/share/ir/f1.png"
        root = pa.location
    with Project.open(root, machine=b) as pb:
        f1 = pb.find_image("f1")
        assert pb.resolve_path(f1) == b_share / "ir" / "f1.png"
        unmapped = pb.unmapped_images()
        assert {k: [i.name for i in v] for k, v in unmapped.items()} == {stray.as_posix(): ["s"]}
