"""The files are written in the storage format of PAPRA_READER_STORAGE_VERSION (issue 20): a
sync's file in another one (the release before wrote DuckDB 2.0's) is rewritten once, then
published. What the DuckDB 1.x readers make of it is tests/readers'; here the writer's DuckDB
checks the format and that nothing is lost or published twice."""

from __future__ import annotations

import os

import duckdb
import pytest

from papra_pipeline.warehouse import Warehouse, WarehouseError, store
from papra_pipeline.warehouse.formats import format_for, storage_version_of
from tests.warehouse.test_publish import identity, prepare_and_read, readers_tags, write_tags


def at(path, version, **options):
    return Warehouse(
        path, lock_timeout=0.5, sleep=lambda seconds: None, reader_storage_version=version,
        **options,
    )


def formats(warehouse):
    return storage_version_of(warehouse.path), storage_version_of(warehouse.private_path)


@pytest.fixture
def old(tmp_path):
    """A warehouse as the release before left it: both files in DuckDB 2.0's format."""
    warehouse = at(tmp_path / "papra.duckdb", "v2.0.0")
    write_tags(warehouse, "a", "b")
    assert formats(warehouse) == ("v2.0.0", "v2.0.0")
    return warehouse


def test_a_new_warehouse_is_written_in_duckdb_1_2s_format(tmp_path):
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    write_tags(warehouse, "a")
    assert formats(warehouse) == ("v1.2.0", "v1.2.0")
    write_tags(warehouse, "b")  # later writes keep the format the file was created in
    assert formats(warehouse) == ("v1.2.0", "v1.2.0")


@pytest.mark.parametrize(
    "first_step", [Warehouse.ensure_schema, prepare_and_read], ids=["ensure", "prepared"]
)
def test_an_upgrade_rewrites_the_sync_file_and_publishes_it_once(old, first_step):
    """Nothing is owed to readers, so a sync would open its file once and publish nothing:
    the format alone makes it rewrite and publish, then the next run is a no-op again."""
    upgraded = at(old.path, "v1.2.0")
    first_step(upgraded)
    assert formats(upgraded) == ("v1.2.0", "v1.2.0")
    assert readers_tags(upgraded) == ["a", "b"]
    assert upgraded.last_publication is not None
    assert not upgraded.files.rewriting.exists()

    published, private = identity(upgraded.path), identity(upgraded.private_path)
    again = at(old.path, "v1.2.0")
    first_step(again)
    assert again.last_publication is None
    assert (identity(again.path), identity(again.private_path)) == (published, private)


def test_an_older_versions_readers_file_in_duckdb_2s_format_is_adopted_and_rewritten(old):
    for leftover in old.path.parent.glob(".papra.duckdb*"):
        leftover.unlink()  # the readers' file alone, as versions before the sync's own file
    upgraded = at(old.path, "v1.2.0")
    write_tags(upgraded, "c")
    assert formats(upgraded) == ("v1.2.0", "v1.2.0")
    assert readers_tags(upgraded) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("version", "rewritten_to"),
    [
        ("v1.2.2", None),  # the same format as v1.2.0: nothing to rewrite
        ("v1.4.0", "v1.4.0"),
        ("latest", format_for("latest")),  # readers all on DuckDB 2
    ],
)
def test_changing_the_setting_rewrites_only_for_another_format(tmp_path, version, rewritten_to):
    path = tmp_path / "papra.duckdb"
    write_tags(at(path, "v1.2.0"), "a")
    private = identity(path.with_name(".papra.duckdb.sync"))
    changed = at(path, version)
    write_tags(changed, "b", publish_it=False)
    if rewritten_to is None:
        assert identity(changed.private_path)[0] == private[0]  # the same file, written
        assert formats(changed) == ("v1.2.0", "v1.2.0")
        assert readers_tags(changed) == ["a"]  # nothing owed: not published
    else:
        assert formats(changed) == (rewritten_to, rewritten_to)
        assert readers_tags(changed) == ["a", "b"]  # the rewrite published it


def test_a_failed_rewrite_leaves_both_files_as_they_were(old, monkeypatch):
    def full_disk(con, target, version):
        target.write_bytes(b"half a file")
        target.with_name(target.name + ".wal").write_bytes(b"and its log")
        raise duckdb.IOException("IO Error: No space left on device")

    monkeypatch.setattr(store, "rewrite", full_disk)
    upgraded = at(old.path, "v1.2.0")
    before = identity(old.path), identity(old.private_path)
    with pytest.raises(WarehouseError, match="No space left on device") as raised:
        write_tags(upgraded, "c")
    assert "left as it was" in str(raised.value)
    assert (identity(old.path), identity(old.private_path)) == before
    assert not upgraded.files.rewriting.exists()
    assert not os.path.exists(f"{upgraded.files.rewriting}.wal")
    assert readers_tags(upgraded) == ["a", "b"]

    monkeypatch.undo()  # space again: the next run rewrites, writes and publishes
    write_tags(upgraded, "c")
    assert formats(upgraded) == ("v1.2.0", "v1.2.0")
    assert readers_tags(upgraded) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("1.4", "not a DuckDB release such as v1.2.0"),
        ("v1.2.0'; DROP TABLE documents; --", "not a DuckDB release such as v1.2.0"),
        ("v9.9.9", "not a release DuckDB .* writes files for"),
    ],
)
def test_a_storage_version_duckdb_cannot_write_is_refused_with_one_line(tmp_path, version, says):
    path = tmp_path / "papra.duckdb"
    write_tags(at(path, "v1.2.0"), "a")
    with pytest.raises(WarehouseError, match=says) as raised:
        write_tags(at(path, version), "b")
    assert "\n" not in str(raised.value)
    assert readers_tags(Warehouse(path)) == ["a"]
    assert not os.path.exists(path.with_name(".papra.duckdb.rewriting"))
