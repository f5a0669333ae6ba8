"""ADR 0020: what the ranks compare before a run (model/run_folder.py): the run folder's token,
the resume state's digest and the data's digest; the message names the rank that differs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.data import Sample
from model.run_folder import TOKEN_NAME, _disagreement, _file_digest, data_key


def _sample(name: str, boxes: list[list[float]]) -> Sample:
    return Sample(name, np.zeros((8, 10), np.float32), np.array(boxes, np.float32).reshape(-1, 4),
                  np.zeros((8, 10), np.uint8))  # fmt: skip


def _rank(r: int, seen: str | None = "t", resume: str | None = None, data: str | None = "d") -> dict:
    return {"rank": r, "where": f"rank {r} (node {r}, host h{r})", "dir": f"/runs/{r}", "seen": seen,
            "resume": resume, "data": data}  # fmt: skip


def test_ranks_that_agree_pass() -> None:
    assert _disagreement([_rank(0), _rank(1), _rank(2)], "t", "run") is None


def test_the_first_rank_that_differs_is_named() -> None:
    msg = _disagreement([_rank(0), _rank(1), _rank(2, seen=None), _rank(3, seen="old")], "t", "run")
    assert msg.startswith("rank 2 (node 2, host h2) does not see the run folder of rank 0")
    assert f"/runs/2 holds no token file where rank 0 (node 0, host h0) just wrote /runs/0/{TOKEN_NAME}" in msg
    msg = _disagreement([_rank(0), _rank(1, seen="old")], "t", "run")
    assert "holds another run's token" in msg


def test_a_different_resume_state_or_data_is_refused() -> None:
    msg = _disagreement([_rank(0, resume="aaa"), _rank(1, resume="bbb")], "t", "r1")
    assert "rank 1 (node 1, host h1) reads another r1/last.pt than rank 0 (digest bbb vs aaa)" in msg
    msg = _disagreement([_rank(0), _rank(1, data="other")], "t", "r1")
    assert "loaded other images or labels than rank 0" in msg


def test_digests_follow_the_bytes(tmp_path: Path) -> None:
    a, b = [_sample("x", [[1, 2, 4, 5]])], [_sample("x", [[1, 2, 4, 6]])]
    assert data_key(a) == data_key([_sample("x", [[1, 2, 4, 5]])]) != data_key(b)  # one box edge moved
    assert data_key(a) != data_key([_sample("y", [[1, 2, 4, 5]])])
    (tmp_path / "p").write_bytes(b"abc")
    assert _file_digest(tmp_path / "p") == "ba7816bf8f01cfea"  # sha256("abc"), the published test vector
    assert _file_digest(tmp_path / "missing") is None
