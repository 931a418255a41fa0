"""The run reads what the warehouse holds per document in a background thread while its first
requests are in flight; what that thread reads, or fails with, reaches the run."""

from __future__ import annotations

import duckdb
import pytest

from papra_pipeline.sync.snapshot import StoredDocumentReader
from papra_pipeline.warehouse import Warehouse


def _warehouse_with_documents(path, rows):
    """Documents in the sync's own file, which the run reads."""
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    con = duckdb.connect(str(warehouse.private_path))
    for row in rows:
        con.execute(
            "INSERT INTO documents (id, organization_id, name, created_at, is_deleted, _hash, "
            "content, _first_seen_at, _last_changed_at, _synced_at) "
            "VALUES (?, ?, 'n', to_timestamp(?), false, ?, ?, now(), now(), now())",
            row,
        )
    con.close()
    return warehouse


def test_each_organization_gets_its_own_documents(tmp_path):
    warehouse = _warehouse_with_documents(
        tmp_path / "w.duckdb",
        [("doc_a", "org_1", 10, "h1", "text"), ("doc_b", "org_2", 20, "h2", None)],
    )
    reader = StoredDocumentReader(warehouse.open_for_sync(), ["org_1", "org_2"])
    try:
        org_2, org_1 = reader.result("org_2"), reader.result("org_1")
    finally:
        reader.close()
    assert list(org_1) == ["doc_a"] and list(org_2) == ["doc_b"]
    assert (org_1["doc_a"].hash, org_1["doc_a"].content_missing) == ("h1", False)
    assert (org_2["doc_b"].created_us, org_2["doc_b"].content_missing) == (20_000_000, True)
    assert reader.result("org_never_stored") == {}


def test_a_failed_read_is_raised_to_the_run(tmp_path):
    warehouse = _warehouse_with_documents(tmp_path / "w.duckdb", [])
    con = duckdb.connect(str(warehouse.private_path))
    con.execute("ALTER TABLE documents RENAME COLUMN _hash TO renamed")  # the query now fails
    con.close()
    reader = StoredDocumentReader(warehouse.open_for_sync(), ["org_1", "org_2"])
    reader.close()
    for org in ("org_1", "org_2"):
        with pytest.raises(duckdb.BinderException):
            reader.result(org)


def test_the_reader_closes_the_connection_it_was_given(tmp_path):
    """The run's one read connection goes to the reader, and the run's write then opens the
    same file for writing, which DuckDB refuses while a read-only connection of the same
    process is open."""
    warehouse = _warehouse_with_documents(tmp_path / "w.duckdb", [("doc_a", "org_1", 10, "h", "t")])
    reader = StoredDocumentReader(warehouse.open_for_sync(), ["org_1"])
    reader.close()
    with warehouse.write() as session:
        session.write_state("documents", "org_1", {"read": True})
