"""Staging writes full batches from a thread of its own: every row lands, in order of staging,
and a batch that fails to write fails the run that staged it."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from papra_pipeline.warehouse import EpochMicroseconds, Warehouse, read_state
from papra_pipeline.warehouse.staging import Staging


def tag_link(i: int) -> dict:
    return {"document_id": f"doc_{i:05d}", "tag_id": f"tag_{i % 7}", "organization_id": "org_1"}


def test_every_batch_lands_with_its_sequence(tmp_path):
    staging = Staging(tmp_path, batch_rows=10, batch_rows_by_table={"document_tags": 25})
    try:
        for start in range(0, 1000, 40):  # many full batches, and a partial one at close
            staging.add("links", "document_tags", (tag_link(i) for i in range(start, start + 40)))
        staging.add("links", "document_tags", [tag_link(1000)])
        staging.close()
        staged = staging.staged("links")
        assert staged.columns == ("document_id", "tag_id", "organization_id")
        con = duckdb.connect(str(staging.path), read_only=True)
        rows = con.execute('SELECT document_id, "_seq" FROM links ORDER BY "_seq"').fetchall()
        con.close()
    finally:
        staging.remove()
    assert [doc for doc, _ in rows] == [f"doc_{i:05d}" for i in range(1001)]
    assert [seq for _, seq in rows] == list(range(1001))


def test_a_batch_that_cannot_be_written_fails_the_caller(tmp_path):
    staging = Staging(tmp_path, batch_rows=5)
    bad = {"id": "doc_1", "organization_id": "org_1", "created_at": "not a timestamp"}
    with pytest.raises(duckdb.ConversionException):
        staging.add("documents", "documents", [bad] * 5)  # a full batch: written in the thread
        staging.close()
    staging.remove()  # cleans up without raising the same failure again
    assert not staging.directory.exists()


def test_nothing_staged_makes_no_file_and_a_write_still_commits(tmp_path):
    staging = Staging(tmp_path)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    try:
        with warehouse.write(staging) as session:
            session.write_state("documents", "org_1", {"cursor": 1})
        assert staging.empty
        assert not staging.path.exists()
    finally:
        staging.remove()
    with warehouse.read() as con:
        assert read_state(con, "documents", "org_1") == {"cursor": 1}


FAR_FUTURE = 10**18  # +033658-09-27T01:46:40Z, in microseconds since 1970
FAR_PAST = -77_931_417_600_000_000  # -000500-06-15T00:00:00Z


@pytest.mark.parametrize(
    "dates",
    [
        [EpochMicroseconds(FAR_FUTURE)],  # alone in its batch
        [EpochMicroseconds(FAR_FUTURE), None],  # with None: pandas would make floats of ints
        [datetime(2024, 2, 29, tzinfo=UTC), EpochMicroseconds(FAR_PAST), None],
    ],
    ids=["alone", "with-null", "mixed"],
)
def test_instants_python_cannot_hold_are_staged_exactly(tmp_path, dates):
    rows = [
        {"id": f"doc_{i}", "organization_id": "org_1", "document_date": date}
        for i, date in enumerate(dates)
    ]
    expected = [
        None
        if d is None
        else d.value
        if isinstance(d, EpochMicroseconds)
        else int(d.timestamp()) * 1_000_000
        for d in dates
    ]
    staging = Staging(tmp_path)
    try:
        staging.add("documents", "documents", rows)
        staging.close()
        con = duckdb.connect(str(staging.path), read_only=True)
        stored = con.execute(
            'SELECT epoch_us(document_date) FROM documents ORDER BY "_seq"'
        ).fetchall()
        con.close()
    finally:
        staging.remove()
    assert [us for (us,) in stored] == expected


def test_lone_surrogates_are_replaced_only_when_duckdb_refuses_a_batch(tmp_path, caplog):
    rows = [
        {"id": "doc_1", "organization_id": "org_1", "name": "half \ud800 pair"},
        {"id": "doc_2", "organization_id": "org_1", "name": "whole \U0001f600 pair"},
    ]
    staging = Staging(tmp_path)
    try:
        staging.add("documents", "documents", rows)
        staging.close()
        con = duckdb.connect(str(staging.path), read_only=True)
        names = con.execute('SELECT name FROM documents ORDER BY "_seq"').fetchall()
        con.close()
    finally:
        staging.remove()
    assert names == [("half \ufffd pair",), ("whole \U0001f600 pair",)]
    assert "doc_1" in caplog.text and "doc_2" not in caplog.text


def document(i: int, name: str) -> dict:
    return {"id": f"doc_{i}", "organization_id": "org_1", "name": name, "_hash": name}


def test_sets_that_never_filled_a_batch_are_merged_without_a_file(tmp_path, caplog):
    """A small run (a drain of a few webhook deliveries) never writes its rows to a file:
    they reach the write straight from memory, the last row per key winning as from a file,
    lone surrogates replaced as from a file."""
    staging = Staging(tmp_path, batch_rows=10)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        staging.add("documents", "documents", [document(1, "first"), document(2, "half \ud800")])
        staging.add("documents", "documents", [document(1, "second")])
        with warehouse.write(staging) as session:
            counts = session.upsert("documents", staging.staged("documents"), now)
        assert not staging.path.exists()
    finally:
        staging.remove()
    assert counts.inserted == 2
    with warehouse.read() as con:
        names = con.execute("SELECT id, name FROM documents ORDER BY id").fetchall()
    assert names == [("doc_1", "second"), ("doc_2", "half \ufffd")]
    assert "doc_2" in caplog.text


def test_a_run_that_filled_a_batch_merges_every_set_from_the_file(tmp_path):
    staging = Staging(tmp_path, batch_rows=2)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        staging.add("documents", "documents", [document(i, f"name {i}") for i in range(3)])
        staging.add("links", "document_tags", [tag_link(1)])  # never a full batch of its own
        with warehouse.write(staging) as session:
            counts = session.upsert("documents", staging.staged("documents"), now)
            links = session.insert_new("document_tags", staging.staged("links"))
        assert staging.path.exists()
    finally:
        staging.remove()
    assert (counts.inserted, links.inserted) == (3, 1)


def test_long_texts_are_staged_in_batches_bounded_by_bytes(tmp_path):
    """2,000 texts of 16 KB in one statement broke the scratch file's 32MB limit (issue 25):
    batches end at a number of characters, and each batch of long texts is a table of its
    own, read together through the set."""
    staging = Staging(tmp_path, batch_bytes=1_000_000)
    texts = [("x" * 16_000, 70), ("y" * 3_000_000, 2), ("z" * 100, 10)]
    rows = [
        {"id": f"doc_{kind}_{i}", "content": text}
        for kind, (text, count) in enumerate(texts)
        for i in range(count)
    ]
    try:
        staging.add("document_content", "documents", rows)
        staging.close()
        staged = staging.staged("document_content")
        con = duckdb.connect()
        con.execute(f"ATTACH '{staging.path}' AS papra_staging (READ_ONLY)")
        stored = con.execute(f"SELECT id, strlen(content), _seq FROM {staged.qualified}").fetchall()
        con.close()
    finally:
        staging.remove()
    assert sorted(stored, key=lambda r: r[2]) == [
        (row["id"], len(row["content"]), seq) for seq, row in enumerate(rows)
    ]
    # A batch ends with the row that brings it to 1,000,000 characters: 63 texts of 16 KB,
    # then the other 7 with the first 3 MB text, then the second alone; the short texts that
    # end the run go to the set's own table.
    assert [(last - first + 1) for _, first, last in staged.long_parts] == [63, 8, 1]
    assert staged.main
    assert staging.largest_text == ("doc_1_0", 3_000_000)
    assert staging.long_text_bytes == 6_000_000


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block"), True),
        # A commit or a checkpoint that cannot pin a block says so in other exception types.
        (duckdb.TransactionException("Failed to commit: failed to pin block of size 256"), True),
        (duckdb.IOException("Could not write file: No space left on device"), False),
        (ValueError("Out of Memory"), False),  # not DuckDB's
    ],
)
def test_out_of_memory_is_recognized_whatever_its_type(error, expected):
    from papra_pipeline.warehouse import is_out_of_memory

    assert is_out_of_memory(error) is expected
    wrapped = RuntimeError("the write failed")
    wrapped.__cause__ = error
    assert is_out_of_memory(wrapped) is expected
