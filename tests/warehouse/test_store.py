"""The warehouse on real DuckDB files: migrations, merges that write only what changed, locks."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from papra_pipeline.warehouse import (
    PUBLIC_TABLES,
    SCHEMA_VERSION,
    VIEWS,
    Warehouse,
    WarehouseLockedError,
    WarehouseMissingError,
    WarehouseVersionError,
)
from tests.lockholder import duckdb_file_held_by_another_process

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path / "w.duckdb", lock_timeout=0.5)


def tags(*rows):
    return pd.DataFrame(
        [
            {"id": i, "organization_id": "org_a", "name": n, "_hash": h, "_raw": "{}"}
            for i, n, h in rows
        ]
    )


def test_first_write_creates_every_table_and_view_and_records_the_version(warehouse):
    warehouse.ensure_schema()
    with warehouse.read() as con:
        names = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        version = con.execute("SELECT max(version) FROM _papra_schema_version").fetchall()[0][0]
    assert {t.name for t in PUBLIC_TABLES} | set(VIEWS) <= names
    assert version == SCHEMA_VERSION


def test_reading_a_missing_file_says_to_sync_first(tmp_path):
    with pytest.raises(WarehouseMissingError, match="run `papra-pipeline sync` first"):
        with Warehouse(tmp_path / "nope.duckdb").read():
            pass


def test_a_file_from_a_newer_version_is_refused_and_left_alone(warehouse):
    warehouse.ensure_schema()
    con = duckdb.connect(str(warehouse.path))
    con.execute("INSERT INTO _papra_schema_version VALUES (?, now(), '99.0')", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(WarehouseVersionError, match="newer papra-pipeline"):
        with warehouse.write():
            pass
    with pytest.raises(WarehouseVersionError, match="Upgrade papra-pipeline"):
        with warehouse.read():
            pass


def test_upsert_inserts_then_leaves_identical_rows_alone(warehouse):
    with warehouse.write() as session:
        first = session.upsert("tags", tags(("t1", "A", "h1"), ("t2", "B", "h2")), NOW)
    with warehouse.write() as session:
        second = session.upsert("tags", tags(("t1", "A", "h1"), ("t2", "B", "h2")), LATER)
    assert (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    with warehouse.read() as con:
        synced = con.execute("SELECT DISTINCT _synced_at FROM tags").fetchall()
    assert synced == [(NOW,)]


def test_upsert_rewrites_a_changed_row_but_keeps_first_seen(warehouse):
    with warehouse.write() as session:
        session.upsert("tags", tags(("t1", "A", "h1")), NOW)
    with warehouse.write() as session:
        counts = session.upsert("tags", tags(("t1", "Renamed", "h2")), LATER)
    assert counts.updated == 1
    with warehouse.read() as con:
        row = con.execute("SELECT name, _first_seen_at, _last_changed_at FROM tags").fetchall()
    assert row == [("Renamed", NOW, LATER)]


def test_upsert_never_blanks_a_column_the_frame_does_not_carry(warehouse):
    doc = {"id": "d1", "organization_id": "o", "name": "a", "is_deleted": False, "_hash": "h1"}
    with warehouse.write() as session:
        session.upsert("documents", pd.DataFrame([doc]), NOW)
        session.update_columns("documents", pd.DataFrame([{"id": "d1", "content": "text"}]))
    with warehouse.write() as session:
        session.upsert("documents", pd.DataFrame([{**doc, "name": "b", "_hash": "h2"}]), LATER)
    with warehouse.read() as con:
        assert con.execute("SELECT name, content FROM documents").fetchall() == [("b", "text")]


def test_removed_rows_are_flagged_not_deleted_and_come_back(warehouse):
    with warehouse.write() as session:
        session.upsert("tags", tags(("t1", "A", "h1"), ("t2", "B", "h2")), NOW)
        assert session.mark_removed("tags", "organization_id", "org_a", ["t1"], NOW) == 1
        # Another organization's tags are out of scope.
        assert session.mark_removed("tags", "organization_id", "org_b", [], NOW) == 0
    with warehouse.read() as con:
        assert con.execute("SELECT id, is_removed FROM tags ORDER BY id").fetchall() == [
            ("t1", False),
            ("t2", True),
        ]
    with warehouse.write() as session:
        assert session.upsert("tags", tags(("t2", "B", "h2")), LATER).updated == 1
    with warehouse.read() as con:
        assert con.execute("SELECT is_removed FROM tags WHERE id = 't2'").fetchall() == [(False,)]


def test_replace_children_touches_only_what_differs(warehouse):
    def links(*pairs):
        return pd.DataFrame(
            [{"document_id": d, "tag_id": t, "organization_id": "o"} for d, t in pairs]
        )

    with warehouse.write() as session:
        first = session.replace_children(
            "document_tags",
            "document_id",
            ["d1", "d2"],
            links(("d1", "t1"), ("d1", "t2"), ("d2", "t1")),
            NOW,
        )
        again = session.replace_children(
            "document_tags",
            "document_id",
            ["d1", "d2"],
            links(("d1", "t1"), ("d1", "t2"), ("d2", "t1")),
            NOW,
        )
        # d1 loses t2 and gains t3; d2 loses everything; d3 is not in scope and untouched.
        session.replace_children("document_tags", "document_id", ["d3"], links(("d3", "t9")), NOW)
        change = session.replace_children(
            "document_tags", "document_id", ["d1", "d2"], links(("d1", "t1"), ("d1", "t3")), NOW
        )
    assert (first.inserted, again.inserted, again.unchanged) == (3, 0, 3)
    assert (change.inserted, change.removed, change.unchanged) == (1, 2, 1)
    with warehouse.read() as con:
        rows = con.execute("SELECT document_id, tag_id FROM document_tags ORDER BY ALL").fetchall()
    assert rows == [("d1", "t1"), ("d1", "t3"), ("d3", "t9")]


def test_a_failed_transaction_leaves_nothing_behind(warehouse):
    with warehouse.write() as session:
        session.upsert("tags", tags(("t1", "A", "h1")), NOW)
    with pytest.raises(RuntimeError):
        with warehouse.write() as session:
            session.upsert("tags", tags(("t1", "changed", "h9"), ("t2", "B", "h2")), LATER)
            session.write_state("documents", "org_a", {"cursor": 1})
            raise RuntimeError("the sync died half-way")
    with warehouse.read() as con:
        assert con.execute("SELECT id, name FROM tags").fetchall() == [("t1", "A")]
        assert con.execute("SELECT count(*) FROM _papra_sync_state").fetchall() == [(0,)]


def test_a_file_held_by_another_process_gives_a_clear_error(warehouse):
    warehouse.ensure_schema()
    with duckdb_file_held_by_another_process(warehouse.path):
        with pytest.raises(WarehouseLockedError, match="locked by process"):
            with warehouse.write():
                pass
    with warehouse.write() as session:  # released: writing works again
        session.upsert("tags", tags(("t1", "A", "h1")), NOW)
