"""The readers' file opens in the DuckDB releases people read it with, not only the writer's.

Python duckdb 1.2, 1.4 and 1.5, the DuckDB CLI 1.5 and ``@duckdb/node-api`` 1.5 (installed by
:mod:`tests.readers.tools`) each open ``papra.duckdb`` read-only and hold it while a sync
writes and publishes, run every SQL query of the README (the views' and the run log's among
them) on that connection, and again on a connection opened after the sync. Their answers have
the columns and row counts the writer's DuckDB gives on the same file, and the same counts of
every table and view.

A reader that cannot be installed fails its test: CI must not pass without them. Set
``SKIP_READER_TESTS=1`` to skip them instead (no network, no Node.js).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.warehouse import PUBLIC_TABLES, VIEWS, Warehouse
from papra_pipeline.warehouse.formats import storage_version_of
from papra_pipeline.warehouse.reports import REPORT_TABLES
from tests.readers.tools import READERS, Reader, ReaderUnavailable
from tests.reliability.conftest import change_things
from tests.sync.helpers import logged_in_client
from tests.test_readme import EXAMPLES, readme_warehouse

pytestmark = pytest.mark.slow

# "Which sync you are looking at" and the run log, as the README shows them.
NEWEST_RUN = next(sql for sql in EXAMPLES if "FROM _papra_sync_runs" in sql and "LIMIT 1" in sql)
RUN_LOG = next(sql for sql in EXAMPLES if "_papra_sync_run_streams" in sql)
COUNTS = [
    f"SELECT count(*) FROM {name}"
    for name in [t.name for t in PUBLIC_TABLES] + list(VIEWS) + list(REPORT_TABLES)
]
QUERIES = [*EXAMPLES, *COUNTS]


def installed(reader: Reader) -> Reader:
    try:
        reader.install()
    except ReaderUnavailable as exc:
        if os.environ.get("SKIP_READER_TESTS"):
            pytest.skip(f"SKIP_READER_TESTS is set: {exc}")
        pytest.fail(f"{reader.name}: {exc} (SKIP_READER_TESTS=1 skips the reader tests)")
    return reader


def answers_of_the_writer(path: Path) -> list[dict]:
    """What the writer's DuckDB answers on ``path``: the reference."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        results = []
        for sql in QUERIES:
            cursor = con.execute(sql)
            columns = [column[0] for column in cursor.description]
            results.append({"columns": columns, "rows": cursor.fetchall()})
        return results
    finally:
        con.close()


def assert_same_answers(reader: Reader, got: list[dict], want: list[dict]) -> None:
    failed = {sql.split("\n")[0]: r["error"] for sql, r in zip(QUERIES, got, strict=True)
              if "error" in r}
    assert not failed, f"{reader.name}: {failed}"
    for sql, mine, theirs in zip(QUERIES, got, want, strict=True):
        assert theirs["rows"], f"the README query has no rows to compare: {sql}"
        assert mine["columns"] == theirs["columns"], (reader.name, sql)
        assert len(mine["rows"]) == len(theirs["rows"]), (reader.name, sql)
        if sql in COUNTS:
            assert str(mine["rows"][0][0]) == str(theirs["rows"][0][0]), (reader.name, sql)
        if sql == NEWEST_RUN:
            assert mine["rows"][0][0] == theirs["rows"][0][0], (reader.name, "newest run")


def newest_run(answers: list[dict]) -> str:
    return answers[QUERIES.index(NEWEST_RUN)]["rows"][0][0]


def copy_of(warehouse: Warehouse, directory: Path) -> Warehouse:
    """The readers' file, the sync's and the publish record, as a user's next run finds them
    (modification times kept: the record recognizes the readers' file by them)."""
    for path in (warehouse.path, warehouse.private_path, warehouse.files.state):
        shutil.copy2(path, directory / path.name)
    return Warehouse(directory / warehouse.path.name)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A warehouse on which every README query has rows, and its fake Papra."""
    warehouse = Warehouse(tmp_path_factory.mktemp("readers") / "papra.duckdb")
    return readme_warehouse(warehouse), warehouse


def test_the_readme_queries_include_the_run_log():
    assert "FROM _papra_sync_runs r JOIN _papra_sync_run_streams s" in RUN_LOG
    assert {"v_documents", "v_tag_usage", "v_storage_daily", "v_activity_daily"} <= {
        view for view in VIEWS if any(view in sql for sql in EXAMPLES)
    }


@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.name)
def test_the_reader_holds_the_published_file_while_a_sync_writes_and_reads_every_query(
    reader, synced, tmp_path
):
    installed(reader)
    fake, source = synced
    warehouse = copy_of(source, tmp_path)
    before = tmp_path / "before.duckdb"
    shutil.copy(warehouse.path, before)  # what the reader opens, for the reference
    assert storage_version_of(warehouse.path) == "v1.2.0"

    with reader.open(warehouse.path) as held:
        change_things(fake)
        outcome: dict = {}

        def run_sync() -> None:
            try:
                with logged_in_client(fake) as client:
                    outcome["result"] = sync(client, warehouse, SyncOptions(mode="full"))
            except BaseException as exc:  # re-raised below, in the test's thread
                outcome["error"] = exc

        syncing = threading.Thread(target=run_sync)
        syncing.start()
        during = held.run(QUERIES)  # most likely while the sync runs
        syncing.join(timeout=300)
        assert not syncing.is_alive(), "the sync did not finish"
        if "error" in outcome:
            raise outcome["error"]
        # The sync wrote and published while the reader held the file open.
        assert warehouse.last_publication is not None
        assert held.process.poll() is None
        after_the_publish = held.run(QUERIES)

    # The held connection kept the state it opened, consistent across every table.
    old_state = answers_of_the_writer(before)
    assert_same_answers(reader, during, old_state)
    assert_same_answers(reader, after_the_publish, old_state)
    with reader.open(warehouse.path) as fresh:
        after = fresh.run(QUERIES)
    assert_same_answers(reader, after, answers_of_the_writer(warehouse.path))
    assert newest_run(after) == outcome["result"].run_id
    assert newest_run(after_the_publish) != newest_run(after)


def test_a_warehouse_of_the_release_before_is_republished_for_every_reader(tmp_path):
    """The release before wrote both files in DuckDB 2.0's format, which no 1.x opens. The
    first sync of this one, even one that changes nothing, rewrites the sync's file in the
    readers' format and publishes it."""
    readers = [installed(reader) for reader in READERS]
    path = tmp_path / "papra.duckdb"
    old = Warehouse(path, reader_storage_version="v2.0.0")  # how the release before wrote it
    fake = readme_warehouse(old)
    with logged_in_client(fake) as client:
        sync(client, old)  # catches up with the tagging rule's additions
    assert storage_version_of(path) == storage_version_of(old.private_path) == "v2.0.0"
    refused = next(r for r in readers if r.name == "python-duckdb-1.5")
    with pytest.raises(AssertionError, match="version number"):
        refused.open(path).close()  # as issue 20 found it
    before = answers_of_the_writer(path)

    upgraded = Warehouse(path)
    with logged_in_client(fake) as client:
        result = sync(client, upgraded, SyncOptions(mode="full"))
    assert result.rows_written == 0  # nothing changed in Papra: published for the format alone
    assert upgraded.last_publication is not None
    assert storage_version_of(path) == storage_version_of(upgraded.private_path) == "v1.2.0"

    now = answers_of_the_writer(path)
    for sql, was, is_ in zip(QUERIES, before, now, strict=True):
        if sql in COUNTS:
            assert was["rows"] == is_["rows"], sql  # nothing lost in the rewrite
    for reader in readers:
        with reader.open(path) as opened:
            assert_same_answers(reader, opened.run(QUERIES), now)
