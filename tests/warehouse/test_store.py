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
    Staging,
    Warehouse,
    WarehouseError,
    WarehouseLockedError,
    WarehouseMemoryError,
    WarehouseMissingError,
    WarehouseVersionError,
    writes,
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


def test_the_sync_file_held_by_another_sync_gives_an_error_naming_it(warehouse):
    warehouse.ensure_schema()
    with duckdb_file_held_by_another_process(warehouse.private_path) as holder:
        with pytest.raises(WarehouseLockedError) as raised:
            with warehouse.write():
                pass
    message = str(raised.value)
    assert f"locked by process {holder.pid} (" in message
    assert "most likely another sync" in message and "papra_duckdb pool" in message
    with warehouse.write() as session:  # released: writing works again
        session.upsert("tags", tags(("t1", "A", "h1")), NOW)


def test_a_program_reading_the_sync_file_is_named_as_a_reader(warehouse):
    warehouse.ensure_schema()
    with duckdb_file_held_by_another_process(warehouse.private_path, read_only=True) as holder:
        with pytest.raises(WarehouseLockedError) as raised:
            with warehouse.write():
                pass
    message = str(raised.value)
    assert f"locked by process {holder.pid} (" in message
    assert "open read-only" in message and "readers should open w.duckdb" in message


def documents(n, *, version="h1", name="doc"):
    return pd.DataFrame(
        [
            {"id": f"d{i:04d}", "organization_id": "o", "name": f"{name} {i}",
             "is_deleted": False, "_hash": f"{version}-{i}", "_raw": "{}"}
            for i in range(n)
        ]
    )


def texts(ids, text="text"):
    rows = [{"id": i, "content": f"{text} {i}", "_content_synced_at": NOW} for i in ids]
    return pd.DataFrame(rows)


def stage(tmp_path, **sets):
    """A closed staging file holding ``sets`` (name -> (table, frame)), as the sync leaves it."""
    staging = Staging(tmp_path)
    for name, (table, frame) in sets.items():
        staging.add(name, table, frame.to_dict("records"))
    staging.close()
    return staging


@pytest.mark.parametrize(("source", "bound"),
                         [("frame", "rows"), ("staged", "rows"), ("staged", "text")])
def test_large_sets_are_merged_in_parts_with_the_same_result(warehouse, tmp_path, monkeypatch,
                                                             source, bound):
    """Parts split a set by key (see WriteSession._parts), at most so many rows or, staged,
    so many characters of text; counts, text, first-seen and last-changed times come out as
    from one statement, in one transaction."""
    if bound == "rows":
        monkeypatch.setattr(writes, "ROWS_PER_STATEMENT", 7)
    else:  # ~3 KB of documents and ~0.5 KB of texts: several parts of 400 characters
        monkeypatch.setattr(writes, "TEXT_PER_STATEMENT", 400)
    parts = []
    split = writes.WriteSession._parts
    monkeypatch.setattr(writes.WriteSession, "_parts",
                        lambda self, *args: parts.append(split(self, *args)) or parts[-1])
    ids = [f"d{i:04d}" for i in range(50)]

    def write(docs, content, when):
        staging = None
        if source == "staged":
            staging = stage(tmp_path, documents=("documents", docs),
                            document_content=("documents", content))
            docs, content = staging.staged("documents"), staging.staged("document_content")
        try:
            with warehouse.write(staging) as session:
                return session.upsert_documents(docs, content, when)
        finally:
            if staging is not None:
                staging.remove()

    # First sync (empty table): 50 new documents, 40 with text, and a text of no document.
    first, written = write(documents(50), texts([*ids[:40], "d9999"]), NOW)
    assert (first.inserted, first.updated, written) == (50, 0, 40)
    # Next run (as the sync stages them: changed documents only): 10 renamed, one with new
    # text, plus a late text for d0045, which did not change otherwise.
    changed = documents(10, version="h2", name="renamed")
    second, written = write(changed, texts(["d0000", "d0045"], "new"), LATER)
    assert (second.inserted, second.updated, second.unchanged, written) == (0, 10, 0, 2)
    with warehouse.read() as con:
        rows = con.execute(
            """SELECT id, name, content, _first_seen_at, _last_changed_at
               FROM documents ORDER BY id"""
        ).fetchall()
    assert len(rows) == 50
    assert rows[0] == ("d0000", "renamed 0", "new d0000", NOW, LATER)
    assert rows[1] == ("d0001", "renamed 1", "text d0001", NOW, LATER)  # text kept, not blanked
    assert rows[10] == ("d0010", "doc 10", "text d0010", NOW, NOW)
    assert rows[45] == ("d0045", "doc 45", "new d0045", NOW, NOW)
    assert rows[49] == ("d0049", "doc 49", None, NOW, NOW)
    assert max(len(p) for p in parts) > 1


def test_a_large_upsert_in_parts_counts_exactly_and_keeps_first_seen(warehouse, monkeypatch):
    monkeypatch.setattr(writes, "ROWS_PER_STATEMENT", 4)
    with warehouse.write() as session:
        assert session.upsert("documents", documents(10), NOW).inserted == 10
    with warehouse.write() as session:
        counts = session.upsert("documents", pd.concat([documents(10, version="h2")[:6],
                                                        documents(13)[6:]]), LATER)
    assert (counts.inserted, counts.updated, counts.unchanged) == (3, 6, 4)
    with warehouse.read() as con:
        assert con.execute(
            """SELECT count(*), count(*) FILTER (WHERE _last_changed_at = ?),
                      count(*) FILTER (WHERE _first_seen_at = ?) FROM documents""",
            [LATER, NOW],
        ).fetchall() == [(13, 9, 10)]


def test_the_text_of_every_document_is_compared_in_parts(tmp_path, monkeypatch):
    """`sync --verify` re-reads every document's text, mostly unchanged. Compared with the
    table in one statement, 100,000 texts ran out of the default 96 MB; here 12,000 texts of
    2 KB against a 24 MB limit, in parts of 500."""
    monkeypatch.setattr(writes, "ROWS_PER_STATEMENT", 500)
    warehouse = Warehouse(tmp_path / "papra.duckdb", write_memory_limit="24MB")
    frame = documents(12_000)
    ids = list(frame["id"])
    with warehouse.write() as session:
        session.upsert_documents(frame, texts(ids, "x" * 2_000), NOW)
    read_again = texts(ids, "x" * 2_000)
    read_again.loc[7, "content"] = "edited in Papra"
    with warehouse.write() as session:
        counts, written = session.upsert_documents(frame.iloc[:0], read_again, LATER)
    assert (counts.written, written) == (0, 1)
    with warehouse.read() as con:
        assert con.execute(
            "SELECT id FROM documents WHERE content = 'edited in Papra'"
        ).fetchall() == [(ids[7],)]


def test_the_write_runs_under_the_memory_limit_it_was_given(warehouse):
    with warehouse.write() as session:
        default = session.con.execute("SELECT current_setting('memory_limit')").fetchall()
    raised = Warehouse(warehouse.path, write_memory_limit="1GB")
    with raised.write() as session:
        assert session.con.execute("SELECT current_setting('memory_limit')").fetchall() == [
            ("953.6 MiB",)
        ]
    assert default == [("91.5 MiB",)]  # 96 MB
    with pytest.raises(WarehouseError, match="is not a size such as 96MB"):
        Warehouse(warehouse.path, write_memory_limit="lots'; DROP TABLE documents; --")



def test_a_write_whose_long_texts_pass_the_memory_ceiling_stops_and_writes_nothing(warehouse):
    """The write raises its limit by twice the long texts it brings in; past the ceiling (by
    default DuckDB's own for the machine) it stops in one line instead of being killed."""
    with warehouse.write() as session:
        session.upsert("tags", tags(("t1", "A", "h1")), NOW)
    small = Warehouse(warehouse.path, memory_ceiling="100MB")
    with pytest.raises(WarehouseMemoryError, match=r"fetched 3 MB .* about 102 MB.* the 100 MB"):
        with small.write() as session:
            session.upsert("tags", tags(("t2", "B", "h2")), NOW)
            session.make_room_for_long_texts(3_000_000)  # 96 MB + 2 x 3 MB
    with warehouse.read() as con:
        assert con.execute("SELECT id FROM tags").fetchall() == [("t1",)]
    with small.write() as session:  # within the ceiling, the limit is raised
        session.make_room_for_long_texts(1_000_000)
        limit = session.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "94.0 MiB"  # (96 MB + 2 x 1 MB) in whole MiB, rounded up
    with pytest.raises(WarehouseError, match="memory_ceiling 'lots' is not a size"):
        Warehouse(warehouse.path, memory_ceiling="lots")


def test_long_text_columns_are_stored_with_zstd(warehouse, tmp_path):
    """Checked on disk, after the write's checkpoint: DuckDB before 2.0 accepts the column
    setting but stores such strings uncompressed."""
    rows = documents(300).assign(_raw=lambda f: '{"name": "' + f["name"] + '"}')
    staging = stage(tmp_path, documents=("documents", rows),
                    document_content=("documents", texts(rows["id"], "a longer text")))
    with warehouse.write(staging) as session:
        session.upsert_documents(staging.staged("documents"),
                                 staging.staged("document_content"), NOW)
    staging.remove()
    with warehouse.read() as con:
        methods = dict(con.execute(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('documents') "
            "WHERE column_name IN ('_raw', 'content', 'name') GROUP BY ALL"
        ).fetchall())
    assert "ZSTD" in methods["_raw"] and "ZSTD" in methods["content"]
    assert "ZSTD" not in methods["name"]  # short strings keep DuckDB's own choice
