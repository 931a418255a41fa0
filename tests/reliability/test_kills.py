"""SIGKILL a CLI sync 20 times (while fetching, while merging, inside the state and run-log
writes); after each kill one more run ends identical to an uninterrupted sync."""

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

KILLS = 20
SYNC = ["sync", "--full", "--lock-timeout", "5"]

# Kill the process from inside, at an exact point of the final transaction.
HOOKED = textwrap.dedent("""
    import os, signal, sys
    from papra_pipeline.warehouse import store

    point = sys.argv[1]
    original = getattr(store.WriteSession, point)

    def killing(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(store.WriteSession, point, killing)
    from papra_pipeline.cli import main
    sys.exit(main(sys.argv[2:]))
""")
# write_state: the sync cursors; record_run: the run log, the last statement before COMMIT;
# replace_children: half-way through the merge; mark_purged: after documents are upserted.
HOOK_POINTS = ("write_state", "record_run", "replace_children", "mark_purged")


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
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        self.process.stderr.close()
        return code


def test_twenty_sigkills_then_one_run_equals_an_uninterrupted_sync(tmp_path, monkeypatch):
    fake = make_fake(documents=220)  # 110 per organization: two pages each, cheap runs
    rng = random.Random(20261128)
    db = tmp_path / "papra.duckdb"
    warehouse = Warehouse(db)
    phases: dict[str, int] = {}
    recoveries: list[float] = []
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
                reference = None
            else:
                for leftover in tmp_path.glob("papra.duckdb*"):
                    leftover.unlink()
            how = ("hook", "time", "merge", "time", "merge")[kills % 5]
            if how == "hook":
                point = HOOK_POINTS[(kills // 5) % len(HOOK_POINTS)]
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

            # One more run (in this process, over loopback, to save an interpreter start):
            # it must neither wait for a lock nor trip over a half-written file.
            leftovers += len(list(scratch.glob("papra-staging-*")))
            started = time.monotonic()
            with PapraClient(url, fake.api_key) as client:
                sync(client, Warehouse(db, lock_timeout=5), SyncOptions(mode="full"))
            recoveries.append(time.monotonic() - started)
            assert not list(scratch.glob("papra-staging-*")), (kills, phase)
            if reference is None:
                reference = reference_fingerprints(
                    fake, tmp_path / "ref.duckdb", before if incremental else None
                )
            assert table_fingerprints(warehouse) == reference, (kills, phase)
            assert not any(duplicate_keys(warehouse).values())
        assert_matches_server(fake, warehouse)
    assert phases.get("merge", 0) >= 3 and phases.get("fetch", 0) >= 3, phases
    assert leftovers >= 4, leftovers  # at least the hooked kills, all inside the write
    record("kills", kills=kills, attempts=attempt, phases=phases,
           slowest_recovery_seconds=round(max(recoveries), 2),
           staging_leftovers_removed=leftovers)


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
        started = time.monotonic()
        done = run_cli(["sync", "--full", "--lock-timeout", "0.2"], env)
        assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert Path(db).exists()
