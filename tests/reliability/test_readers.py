"""Readers never block syncs, and syncs never lock readers out (issue 14).

Two reader processes on papra.duckdb while 10 full syncs run one after another, each after
changes on the server: one holds a read-only connection for the whole time (a notebook left
open), one connects, queries and disconnects every 50 ms (a dashboard polling).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import change_things, record
from tests.sync.helpers import assert_matches_server

SYNCS = 10

# What a reader checks on every query: the documents it sees, how many successful runs the
# run log shows, and whether the tables belong to the newest of those runs (each run here
# renames documents, so their newest _synced_at falls within that run).
QUERY = """
    SELECT (SELECT count(*) FROM documents),
           (SELECT count(*) FROM _papra_sync_runs WHERE status = 'succeeded'),
           (SELECT max(_synced_at) FROM documents) BETWEEN r.started_at AND r.finished_at
    FROM (SELECT * FROM _papra_sync_runs WHERE status = 'succeeded'
          ORDER BY finished_at DESC LIMIT 1) r
"""

# Each attempt is one JSON line [started, ended, "ok" or the error, *QUERY's row], written as
# it happens so the test can wait for a read after the last sync.
READER = textwrap.dedent("""
    import duckdb, json, os, sys, time
    path, mode, stop, out, query = sys.argv[1:6]
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None
    print("ready", flush=True)
    with open(out, "w") as log:
        while not os.path.exists(stop):
            started = time.time()
            try:
                con = held or duckdb.connect(path, read_only=True)
                try:
                    row = con.execute(query).fetchall()[0]
                finally:
                    if con is not held:
                        con.close()
                entry = [started, time.time(), "ok", *row]
            except duckdb.Error as exc:
                entry = [started, time.time(), str(exc)[:300], None, None, None]
            log.write(json.dumps(entry) + "\\n")
            log.flush()
            time.sleep(0.05)
""")


def _start_reader(tmp_path, db, mode):
    out = tmp_path / f"{mode}.json"
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), mode, str(tmp_path / "stop"), str(out), QUERY],
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process, out


def _reads(out):
    return [json.loads(line) for line in out.read_text().splitlines()]


def _wait_for_a_read_after(out, moment, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not any(r[0] > moment for r in _reads(out)):
        assert time.monotonic() < deadline, "the reader stopped reading"
        time.sleep(0.05)


def _refusals(reads):
    """Refused attempts and the longest stretch from a refusal to the next success."""
    refused = [r for r in reads if r[2] != "ok"]
    longest, since = 0.0, None
    for started, _ended, outcome, *_ in reads:
        if outcome != "ok" and since is None:
            since = started
        elif outcome == "ok" and since is not None:
            longest, since = max(longest, started - since), None
    return refused, longest


def test_readers_holding_or_polling_the_file_never_block_syncs_nor_get_refused(fake, tmp_path):
    db = tmp_path / "papra.duckdb"
    syncs, publish_seconds = [], []
    with serve(fake) as url, PapraClient(url, fake.api_key) as client:
        # A short lock timeout: had a reader blocked the sync, it would fail in 2 s, not 30.
        warehouse = Warehouse(db, lock_timeout=2)
        sync(client, warehouse, SyncOptions(mode="full"))
        holder, held_out = _start_reader(tmp_path, db, "hold")
        poller, polled_out = _start_reader(tmp_path, db, "poll")
        try:
            time.sleep(0.3)
            for _ in range(SYNCS):
                change_things(fake)
                started = time.time()
                result = sync(client, warehouse, SyncOptions(mode="full"))
                syncs.append((started, time.time()))
                assert result.rows_written > 0
                publish_seconds.append(warehouse.last_publication.seconds)
                time.sleep(0.2)  # a gap, so reads land both during and between syncs
            _wait_for_a_read_after(polled_out, syncs[-1][1])
        finally:
            (tmp_path / "stop").touch()
            for process in (holder, poller):
                process.wait(timeout=120)
                process.stdout.close()
    assert len(syncs) == SYNCS  # every sync succeeded (a failure raised above)
    assert_matches_server(fake, warehouse)

    held = _reads(held_out)
    assert held and all(r[2] == "ok" for r in held), [r for r in held if r[2] != "ok"][:3]
    # The held connection keeps the file it opened: one consistent state throughout.
    assert {tuple(r[3:]) for r in held} == {tuple(held[0][3:])} and held[0][5] is True

    polled = _reads(polled_out)
    refused, longest = _refusals(polled)
    assert not refused, refused[:3]
    assert all(r[5] is True for r in polled), "a read saw tables of another run than the log's"
    runs_seen = [r[4] for r in polled]
    assert runs_seen == sorted(runs_seen) and runs_seen[-1] == SYNCS + 1
    for number, (_, ended) in enumerate(syncs, start=2):
        # A connection opened after a sync finished sees that sync's result (or a later one).
        after = [r for r in polled if r[0] > ended]
        assert after and min(r[4] for r in after) >= number, number

    record(
        "readers",
        syncs=SYNCS,
        syncs_succeeded=len(syncs),
        holder_queries=len(held),
        holder_failures=sum(r[2] != "ok" for r in held),
        poller_attempts=len(polled),
        poller_refused=len(refused),
        poller_longest_refusal_seconds=round(longest, 3),
        distinct_runs_seen_by_poller=len(set(runs_seen)),
        sync_seconds=[round(e - s, 2) for s, e in syncs],
        publish_seconds_max=round(max(publish_seconds), 3),
        readers_file_bytes=db.stat().st_size,
        sync_file_bytes=warehouse.private_path.stat().st_size,
    )
