"""Readers and syncs on separate files: the sync writes its own, then publishes a complete copy
by an atomic rename; recovery of the sync's file from the readers' file (older versions, a
killed publish, a damaged file). Real DuckDB files, other processes where a lock matters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from papra_pipeline.warehouse import (
    SCHEMA_VERSION,
    Warehouse,
    WarehousePublishError,
    WarehouseUnreadableError,
    publish,
    store,
)
from tests.lockholder import duckdb_file_held_by_another_process

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path / "papra.duckdb", lock_timeout=0.5, sleep=lambda seconds: None)


def tags(*names):
    return pd.DataFrame(
        [
            {"id": f"t_{n}", "organization_id": "org", "name": n, "_hash": n, "_raw": "{}"}
            for n in names
        ]
    )


def write_tags(warehouse, *names, publish_it=True):
    with warehouse.write() as session:
        session.upsert("tags", tags(*names), NOW)
        session.publish = publish_it


def tag_names(con):
    return [row[0] for row in con.execute("SELECT name FROM tags ORDER BY name").fetchall()]


def readers_tags(warehouse):
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        return tag_names(con)
    finally:
        con.close()


def identity(path):
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def test_the_sync_writes_its_own_file_and_publishes_a_copy(warehouse):
    write_tags(warehouse, "a")
    assert warehouse.private_path.name == ".papra.duckdb.sync"
    assert warehouse.private_path.parent == warehouse.path.parent
    assert readers_tags(warehouse) == ["a"]
    assert warehouse.last_publication.size_bytes == warehouse.path.stat().st_size
    assert warehouse.last_publication.method in ("reflink", "copy_file_range", "copy")
    assert not warehouse.files.copy.exists()
    assert not warehouse.files.state.with_name(warehouse.files.state.name + ".tmp").exists()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_a_process_holding_the_readers_file_blocks_no_write(warehouse, read_only):
    """The notebook left open: writes go on; the holder keeps its view, a new connection
    sees the new state. (A read-write holder is a misuse, and gets the old file too.)"""
    write_tags(warehouse, "a")
    with duckdb_file_held_by_another_process(warehouse.path, read_only=read_only):
        for name in ("b", "c"):
            write_tags(warehouse, name)
        assert readers_tags(warehouse) == ["a", "b", "c"]


def test_a_reader_keeps_a_consistent_view_until_it_reconnects(warehouse):
    write_tags(warehouse, "a")
    held = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        write_tags(warehouse, "b")
        assert tag_names(held) == ["a"]
    finally:
        held.close()
    assert readers_tags(warehouse) == ["a", "b"]


def test_a_write_that_changed_nothing_publishes_nothing(warehouse):
    write_tags(warehouse, "a")
    before = identity(warehouse.path)
    write_tags(warehouse, "b", publish_it=False)
    assert identity(warehouse.path) == before
    assert readers_tags(warehouse) == ["a"]
    with warehouse.read_private() as con:
        assert tag_names(con) == ["a", "b"]
    write_tags(warehouse, "c")  # the next publish carries both
    assert readers_tags(warehouse) == ["a", "b", "c"]


def test_an_older_versions_file_is_adopted_without_losing_anything(tmp_path):
    """Before this version syncs wrote the readers' file itself, and one killed after its
    commit left committed rows in a WAL beside it. The first write adopts both."""
    path = tmp_path / "papra.duckdb"
    Warehouse(path).ensure_schema()
    for leftover in tmp_path.glob(".papra.duckdb*"):
        leftover.unlink()  # as an older version left it: the readers' file alone
    killed_after_commit = textwrap.dedent("""
        import duckdb, os, signal, sys
        con = duckdb.connect(sys.argv[1])
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute("INSERT INTO tags (id, organization_id, name, _hash, _raw, _synced_at) "
                    "VALUES ('t_old', 'org', 'old', 'h', '{}', now())")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", killed_after_commit, str(path)], timeout=60)
    assert os.path.getsize(f"{path}.wal") > 0
    warehouse = Warehouse(path)
    write_tags(warehouse, "new")
    assert readers_tags(warehouse) == ["new", "old"]
    assert not os.path.exists(f"{path}.wal")


def prepare_and_read(warehouse):
    """What a sync does first, through the one open that also gives its snapshot."""
    with warehouse.open_for_sync() as con:
        return tag_names(con)


@pytest.mark.parametrize(
    "first_step", [Warehouse.ensure_schema, prepare_and_read], ids=["ensure", "prepared"]
)
def test_a_publish_killed_after_the_commit_is_published_by_the_next_run(
    warehouse, monkeypatch, first_step
):
    write_tags(warehouse, "a")

    def interrupted(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("papra_pipeline.warehouse.store.copy_file", interrupted)
    with pytest.raises(WarehousePublishError, match="saved in .*still see the previous sync"):
        write_tags(warehouse, "b")
    assert readers_tags(warehouse) == ["a"]
    assert publish.read_publish_state(warehouse.files).pending
    monkeypatch.undo()
    first_step(warehouse)  # what every sync does first
    assert readers_tags(warehouse) == ["a", "b"]
    assert not publish.read_publish_state(warehouse.files).pending


def test_a_sync_opens_its_file_once_before_fetching_when_nothing_is_owed(
    warehouse, monkeypatch
):
    write_tags(warehouse, "a")
    write_tags(warehouse, "b", publish_it=False)
    opened = []
    real_open = store.open_duckdb
    monkeypatch.setattr(
        store, "open_duckdb", lambda path, **kw: opened.append(path) or real_open(path, **kw)
    )
    assert prepare_and_read(warehouse) == ["a", "b"]  # the sync's file, not the readers'
    assert opened == [warehouse.private_path]


def test_a_sync_first_adopts_the_file_of_an_older_version(warehouse):
    write_tags(warehouse, "a")
    for leftover in warehouse.path.parent.glob(".papra.duckdb*"):
        leftover.unlink()  # as an older version left it: the readers' file alone
    assert prepare_and_read(warehouse) == ["a"]
    assert warehouse.private_path.exists()
    assert not publish.read_publish_state(warehouse.files).pending


def test_a_readers_file_written_since_the_last_publish_is_noticed_before_fetching(warehouse):
    """An older papra-pipeline wrote the readers' file after our last publish: the sync
    continues from it, as its write would."""
    write_tags(warehouse, "a")
    older = duckdb.connect(str(warehouse.path))
    older.execute(
        "INSERT INTO _papra_sync_runs (run_id, mode, started_at, finished_at, status) "
        "VALUES ('older', 'full', now(), now(), 'succeeded')"
    )
    older.execute("UPDATE tags SET name = 'from the older version'")
    older.close()
    assert prepare_and_read(warehouse) == ["from the older version"]


def test_windows_refusing_to_replace_an_open_file_is_retried_then_reported(
    warehouse, monkeypatch
):
    """Windows does not rename over a file a reader holds: retry for the lock timeout, then
    say what to do; the next sync publishes once readers let go."""
    write_tags(warehouse, "a")
    real_replace = os.replace
    attempts = []

    def windows_replace(source, target):
        if os.fspath(target) == os.fspath(warehouse.path):
            attempts.append(target)
            refused = PermissionError(13, "The process cannot access the file")
            refused.winerror = 32  # ERROR_SHARING_VIOLATION (set by Windows alone)
            raise refused
        real_replace(source, target)

    monkeypatch.setattr(publish.os, "replace", windows_replace)
    with pytest.raises(WarehousePublishError, match="Close the notebooks"):
        write_tags(warehouse, "b")
    assert len(attempts) > 1
    assert readers_tags(warehouse) == ["a"]
    monkeypatch.undo()
    write_tags(warehouse, "c")
    assert readers_tags(warehouse) == ["a", "b", "c"]


def test_a_missing_sync_file_is_rebuilt_from_the_readers_file(warehouse):
    write_tags(warehouse, "a")
    warehouse.private_path.unlink()
    write_tags(warehouse, "b")
    assert readers_tags(warehouse) == ["a", "b"]


def test_a_deleted_readers_file_is_published_again(warehouse):
    write_tags(warehouse, "a")
    write_tags(warehouse, "b", publish_it=False)
    warehouse.path.unlink()
    warehouse.ensure_schema()  # what every sync does first
    assert readers_tags(warehouse) == ["a", "b"]


@pytest.mark.parametrize("damage", ["garbage", "empty", "zeroed header"])
def test_a_damaged_sync_file_is_set_aside_and_rebuilt(warehouse, damage, caplog):
    write_tags(warehouse, "a")
    data = bytearray(warehouse.private_path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a database" * 100)
    elif damage == "empty":
        data = bytearray()
    else:
        data[4096:12288] = bytes(8192)
    warehouse.private_path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="papra_pipeline.warehouse"):
        write_tags(warehouse, "b")
    assert readers_tags(warehouse) == ["a", "b"]
    assert any("set aside" in r.getMessage() for r in caplog.records)
    assert warehouse.private_path.with_name(".papra.duckdb.sync.unreadable").exists()


def test_without_a_readers_file_a_damaged_sync_file_is_an_error(warehouse):
    warehouse.path.parent.mkdir(exist_ok=True)
    warehouse.private_path.write_bytes(b"not a database" * 100)
    with pytest.raises(WarehouseUnreadableError, match="not a valid DuckDB"):
        write_tags(warehouse, "a")


def test_a_readers_file_an_older_version_wrote_since_is_adopted(warehouse, caplog):
    """An older papra-pipeline run after this one wrote the readers' file directly: its run
    is not in the sync's file, so the readers' file becomes the sync's file again."""
    write_tags(warehouse, "a")
    con = duckdb.connect(str(warehouse.path))
    con.execute("INSERT INTO tags (id, organization_id, name, _hash, _raw, _synced_at) "
                "VALUES ('t_old', 'org', 'by an older version', 'h', '{}', now())")
    con.execute("INSERT INTO _papra_sync_runs (run_id, mode, started_at, finished_at, status) "
                "VALUES ('older', 'full', now(), now(), 'succeeded')")
    con.close()
    with caplog.at_level("WARNING", logger="papra_pipeline.warehouse"):
        write_tags(warehouse, "b")
    assert readers_tags(warehouse) == ["a", "b", "by an older version"]
    assert any("older papra-pipeline" in r.getMessage() for r in caplog.records)


def test_a_copied_readers_file_is_not_mistaken_for_a_newer_one(warehouse, tmp_path):
    write_tags(warehouse, "a")
    write_tags(warehouse, "b", publish_it=False)  # only in the sync's file
    copy = tmp_path / "copy"
    publish.copy_file(warehouse.path, copy)
    os.replace(copy, warehouse.path)  # same content, new file
    write_tags(warehouse, "c")
    assert readers_tags(warehouse) == ["a", "b", "c"]


def test_ensure_schema_on_a_current_warehouse_publishes_nothing(warehouse):
    """What every sync does first costs no copy when nothing is owed."""
    write_tags(warehouse, "a")
    with warehouse.read() as con:
        assert con.execute("SELECT max(version) FROM _papra_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
    before = identity(warehouse.path)
    warehouse.ensure_schema()  # current: nothing to publish
    assert identity(warehouse.path) == before


def test_copy_file_copies_every_byte(tmp_path):
    source = tmp_path / "source"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    method = publish.copy_file(source, tmp_path / "target")
    assert (tmp_path / "target").read_bytes() == source.read_bytes()
    assert method in ("reflink", "copy_file_range", "copy")
