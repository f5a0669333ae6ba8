"""The image list in SQL (issue 22): natural order, filters / sorts / counts against plain
sqlite3 queries, the v5 -> v6 migration, the one-stat missing check."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

from core.domain import ReviewStatus, Split
from core.image_query import ImageQuery, ImageSort
from core.natural_order import natural_key
from core.store import db
from core.store.new_image import NewImage
from core.store.project import Project

HEADER = SimpleNamespace(width=8, height=6, bit_depth=8, channels=1)
# Import order on purpose not the natural order.
NAMES = ["Enhance-11", "Enhance-2", "enhance-1", "Enhance-10", "Misc_007", "Misc_7b", "Misc_10",
         "a", "B", "Enhance-1-3", "Enhance-1-20", "x100y2", "x99y30", "Enhance-0"]  # fmt: skip
NATURAL = ["a", "B", "Enhance-0", "enhance-1", "Enhance-1-3", "Enhance-1-20", "Enhance-2",
           "Enhance-10", "Enhance-11", "Misc_007", "Misc_7b", "Misc_10", "x99y30", "x100y2"]  # fmt: skip
STATUSES = [ReviewStatus.NEW, ReviewStatus.REVIEWED, ReviewStatus.PRE_ANNOTATED]
SPLITS = [Split.TRAIN, Split.VAL, Split.UNASSIGNED, Split.TEST]


def _build(target, folder: Path = Path("/nonexistent/img")) -> Project:
    project = Project.open_or_create(target)
    project.add_images(
        NewImage(folder / f"{n}.png", n, SPLITS[k % 4], status=STATUSES[k % 3], header=HEADER,
                 sha256=str(k))
        for k, n in enumerate(NAMES)
    )  # fmt: skip
    return project


def _names(project: Project, ids) -> list[str]:
    return [i.name for i in project.images_by_id(ids)]


def test_natural_key_orders_numbers_by_value_and_ignores_case() -> None:
    assert sorted(NAMES, key=lambda n: (natural_key(n), n)) == NATURAL
    assert natural_key("Enhance-007") == natural_key("enhance-7")
    assert natural_key("f" + "9" * 30) < natural_key("f1" + "0" * 30)  # long digit runs too


def test_ids_in_natural_order_and_every_sort(project_target) -> None:
    with _build(project_target) as p:
        assert _names(p, p.image_ids()) == NATURAL
        assert _names(p, p.image_ids(ImageQuery(sort=ImageSort.NAME_DESC))) == NATURAL[::-1]
        assert _names(p, p.image_ids(ImageQuery(sort=ImageSort.IMPORTED))) == NAMES
        by_status = _names(p, p.image_ids(ImageQuery(sort=ImageSort.STATUS)))
        status_of = {n: STATUSES[k % 3].value for k, n in enumerate(NAMES)}
        assert by_status == sorted(NATURAL, key=lambda n: status_of[n])  # stable: name order kept
        # a filter keeps the natural order; the search is a case-insensitive substring
        query = ImageQuery(search="HANCE-1", status=ReviewStatus.NEW)
        expected = [n for n in NATURAL if "hance-1" in n.lower()
                    and status_of[n] == ReviewStatus.NEW.value]  # fmt: skip
        assert _names(p, p.image_ids(query)) == expected and expected
        assert p.count_images(query) == len(expected) and p.count_images() == len(NAMES)


def test_filters_equal_a_plain_sqlite_query(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with _build(root) as p:
        queries = {
            ImageQuery(status=ReviewStatus.REVIEWED):
                ("status = 'reviewed'", ()),
            ImageQuery(split=Split.VAL, sort=ImageSort.IMPORTED):
                ("split = 'val'", ()),
            ImageQuery(search="misc_"):
                ("lower(name) LIKE '%misc\\_%' ESCAPE '\\'", ()),
            ImageQuery(search="%"):  # a literal percent sign matches nothing here
                ("instr(name, '%') > 0", ()),
            ImageQuery(split=Split.TRAIN, status=ReviewStatus.NEW, sort=ImageSort.NAME_DESC):
                ("split = 'train' AND status = 'new'", ()),
        }  # fmt: skip
        con = sqlite3.connect(root / "project.sqlite")
        for query, (where, args) in queries.items():
            rows = con.execute(f"SELECT id, name FROM images WHERE {where}", args).fetchall()
            key = {ImageSort.IMPORTED: lambda r: r[0],
                   ImageSort.NAME: lambda r: (natural_key(r[1]), r[0]),
                   ImageSort.NAME_DESC: lambda r: (natural_key(r[1]), r[0])}[query.sort]  # fmt: skip
            expected = [r[0] for r in sorted(rows, key=key, reverse=query.sort == ImageSort.NAME_DESC)]
            assert p.image_ids(query).tolist() == expected, query
            assert p.count_images(query) == len(expected)
        con.close()


def test_a_v5_project_opens_upgraded_with_its_rows_intact(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with _build(root):
        pass
    con = sqlite3.connect(root / "project.sqlite")
    before = con.execute("SELECT id, name, path, status, split FROM images ORDER BY id").fetchall()
    for name in ("ix_images_sort", "ix_images_status_sort", "ix_images_split_sort"):
        con.execute(f"DROP INDEX {name}")
    con.execute("ALTER TABLE images DROP COLUMN sort_key")  # the v5 table, as v5 wrote it
    con.execute("DROP TABLE image_attention")  # and nothing of v7 (the review queue)
    con.execute("DROP TABLE label_verdicts")
    con.execute("PRAGMA user_version=5")
    con.commit()
    con.close()
    with Project.open(root) as p:
        assert _names(p, p.image_ids()) == NATURAL
    con = sqlite3.connect(root / "project.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION == 7
    after = con.execute("SELECT id, name, path, status, split FROM images ORDER BY id").fetchall()
    keys = dict(con.execute("SELECT name, sort_key FROM images").fetchall())
    indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    con.close()
    assert after == before
    assert keys == {n: natural_key(n) for n in NAMES}
    assert {"ix_images_sort", "ix_images_status_sort", "ix_images_split_sort"} <= indexes


def test_missing_files_are_found_with_one_stat_each(tmp_path: Path, monkeypatch) -> None:
    import os.path

    root = tmp_path / "p"
    (root / "img").mkdir(parents=True)
    with _build(root, root / "img") as p:
        for n in NAMES[:5]:
            (root / "img" / f"{n}.png").write_bytes(b"x")
        calls: list[str] = []
        real = os.path.exists
        monkeypatch.setattr(os.path, "exists", lambda path: calls.append(path) or real(path))
        missing = p.check_missing()
        assert sorted(i.name for i in missing) == sorted(NAMES[5:])
        assert all(i.missing for i in missing)
        assert sorted(calls) == sorted(str(root / "img" / f"{n}.png") for n in NAMES)
