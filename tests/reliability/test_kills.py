"""SIGKILL a CLI sync 24 times (while fetching, while merging, inside the state and run-log
writes, while publishing the readers' file); after each kill readers still see a complete
state, and one more run ends identical to an uninterrupted sync."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import (
    CLI,
    change_things,
    cli_env,
    duplicate_keys,
    make_fake,
    record,
    reference_fingerprints,
    run_cli,
)
from tests.sync.helpers import assert_matches_server, table_fingerprints

KILLS = 24
SYNC = ["sync", "--full", "--lock-timeout", "5"]

# Kill the process from inside, before or after a function of papra_pipeline.warehouse.store
# (or a method of its WriteSession) runs for the first time.
HOOKED = textwrap.dedent("""
    import os, signal, sys
    from papra_pipeline.warehouse import store

    when, name = sys.argv[1].split(":")
    owner = store.WriteSession if hasattr(store.WriteSession, name) else store
    original = getattr(owner, name)

    def killing(*args, **kwargs):
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, killing)
    from papra_pipeline.cli import main
    sys.exit(main(sys.argv[2:]))
""")
# In the write (first syncs): write_state: the sync cursors; record_run: the run log, the
# last statement before COMMIT; replace_children: half-way through the merge; mark_purged:
# after documents are upserted.
WRITE_POINTS = (
    "after:write_state", "after:record_run", "after:replace_children", "after:mark_purged",
)
# In the publish (incremental syncs, which publish once, after their commit):
# write_publish_state: the publish said owed, before COMMIT; copy_file: committed and
# checkpointed, nothing copied yet / the copy complete, not renamed; replace_readers_file:
# renamed into place, not yet recorded as published.
PUBLISH_POINTS = (
    "after:write_publish_state", "before:copy_file", "after:copy_file",
    "after:replace_readers_file",
)


def readers_view(warehouse: Warehouse) -> dict[str, str] | None:
    """What a reader connecting now sees (``None``: no readers' file yet)."""
    return table_fingerprints(warehouse) if warehouse.path.exists() else None


class Watched:
    """A CLI sync whose stderr progress lines are timestamped as they arrive."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.monotonic() - self.started, line.rstrip()))

    def fetched(self) -> bool:
        """The last progress line (text of the last organization) was printed: merging."""
        return any(line.strip().startswith("document_content") for _, line in self.lines[-1:])

    def wait(self) -> int:
        code = self.process.wait(timeout=300)
        self.reader.join(timeout=10)
        self.process.stderr.close()
        return code


def test_sigkills_leave_readers_a_complete_state_and_the_next_run_converges(
    tmp_path, monkeypatch
):
    fake = make_fake(documents=220)  # 110 per organization: two pages each, cheap runs
    rng = random.Random(20261128)
    db = tmp_path / "papra.duckdb"
    warehouse = Warehouse(db)
    phases: dict[str, int] = {}
    recoveries: list[float] = []
    readers_saw = {"previous": 0, "new": 0}
    empty = Warehouse(tmp_path / "empty.duckdb")
    empty.ensure_schema()
    empty_view = table_fingerprints(empty)
    # Every run's temporary directory, the CLI's and the in-process recovery's: a killed run
    # leaves its staging directory there, and the next run must remove it.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    leftovers = 0
    with serve(fake) as url:
        env = cli_env(fake, url, db, TMPDIR=str(scratch))
        # An uninterrupted first sync, timed: where does fetching end, where does merging end?
        timing = Watched([*CLI, *SYNC], {**env, "PAPRA_DUCKDB_PATH": str(tmp_path / "t.duckdb")})
        assert timing.wait() == 0
        duration = time.monotonic() - timing.started
        fetch_end = [t for t, line in timing.lines if "document_content" in line][-1]
        merge_window = duration - fetch_end
        record("kills", first_sync_seconds=round(duration, 2),
               fetch_ends_at=round(fetch_end, 2), merge_window_seconds=round(merge_window, 2))

        kills, attempt, reference, before = 0, 0, None, None
        while kills < KILLS:
            attempt += 1
            assert attempt <= 40, f"only {kills} kills landed in {attempt - 1} attempts"
            incremental = kills >= KILLS // 2
            if incremental:
                change_things(fake)  # new work for every incremental run
                before = tmp_path / "before.duckdb"
                shutil.copyfile(db, before)
                reference = reference_fingerprints(fake, tmp_path / "ref.duckdb", before)
            else:
                for leftover in [*tmp_path.glob("papra.duckdb*"), *tmp_path.glob(".papra.duckdb*")]:
                    leftover.unlink()
            previous = readers_view(warehouse)
            how = ("hook", "time", "merge")[kills % 3]
            if how == "hook":
                points = PUBLISH_POINTS if incremental else WRITE_POINTS
                point = points[(kills // 3) % len(points)]
                run = Watched([sys.executable, "-c", HOOKED, point, *SYNC], env)
            else:
                run = Watched([*CLI, *SYNC], env)
                if how == "time":  # anywhere from interpreter start to the commit
                    time.sleep(rng.uniform(0.1, 1.0) * duration)
                else:  # once fetching is over: inside the merge and commit
                    while not run.fetched() and run.process.poll() is None:
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, 0.9) * merge_window)
                phase = "merge" if run.fetched() else "fetch"
                run.process.send_signal(signal.SIGKILL)
            code = run.wait()
            if code != -signal.SIGKILL:
                continue  # the run finished before the kill: not counted
            kills += 1
            phase = f"hook:{point}" if how == "hook" else phase
            phases[phase] = phases.get(phase, 0) + 1
            if reference is None:
                reference = reference_fingerprints(fake, tmp_path / "ref.duckdb")
            # Readers see the last good state, or the killed run's complete result if it
            # was killed after the rename: never anything in between.
            seen = readers_view(warehouse)
            assert seen in (previous, reference, None if incremental else empty_view), (
                kills, phase)
            readers_saw["new" if seen == reference != previous else "previous"] += 1

            # One more run (in this process, over loopback, to save an interpreter start):
            # it must neither wait for a lock nor trip over a half-written file.
            leftovers += len(list(scratch.glob("papra-staging-*")))
            started = time.monotonic()
            with PapraClient(url, fake.api_key) as client:
                sync(client, Warehouse(db, lock_timeout=5), SyncOptions(mode="full"))
            recoveries.append(time.monotonic() - started)
            assert not list(scratch.glob("papra-staging-*")), (kills, phase)
            assert table_fingerprints(warehouse) == reference, (kills, phase)
            assert not any(duplicate_keys(warehouse).values())
        assert_matches_server(fake, warehouse)
    assert phases.get("merge", 0) >= 3 and phases.get("fetch", 0) >= 3, phases
    assert leftovers >= 4, leftovers  # at least the hooked kills, all inside the write
    assert readers_saw["new"] >= 1  # the kill after the rename
    record("kills", kills=kills, attempts=attempt, phases=phases,
           slowest_recovery_seconds=round(max(recoveries), 2),
           staging_leftovers_removed=leftovers, readers_saw_after_kill=readers_saw)


def test_a_killed_writer_leaves_no_lock_behind(fake, tmp_path):
    """The DuckDB lock dies with its process: a sync right after a kill does not wait."""
    db = tmp_path / "papra.duckdb"
    with serve(fake) as url:
        env = cli_env(fake, url, db)
        holder = subprocess.Popen(
            [sys.executable, "-c",
             f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('held', flush=True);"
             " time.sleep(60)"],
            stdout=subprocess.PIPE, text=True,
        )
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        holder.stdout.close()
        # Had the lock outlived its holder, the sync would fail after 0.2 s instead of waiting.
        done = run_cli(["sync", "--full", "--lock-timeout", "0.2"], env)
        assert done.returncode == 0, done.stderr
    assert Path(db).exists()
