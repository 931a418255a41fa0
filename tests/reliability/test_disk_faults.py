"""A full disk, a directory the sync may not write, a refused rename and an I/O error: each
ends the command in one line naming the file, the cause and what to do (no traceback unless
``-v``), leaves no partial copy behind, keeps readers on the last good state, logs the run
right, and the next sync recovers.

The full disk is real: a small tmpfs, mounted when the tests run as root (as CI does), filled
to a chosen level of free space. Where the level decides which step fails, the step is
checked by the file the message names. Faults a tmpfs cannot give (a refused rename, an I/O
error) are injected as the ``OSError`` the system would raise.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import tempfile
from pathlib import Path

import pytest

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse, publish, store
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox, inbox_path
from tests.sync.helpers import assert_matches_server, table_fingerprints

KB = 1024


class Disk:
    """A mounted tmpfs and a filler file that leaves a chosen amount of it free."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def free(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int) -> None:
        """Leave ``leave`` bytes free (tmpfs counts whole pages, so this is exact to 4 KB)."""
        self.free_up()
        with open(self.filler, "wb") as out:
            out.truncate(0)
            remaining = self.free() - leave
            chunk = b"\0" * (1 << 20)
            while remaining > 0:
                remaining -= out.write(chunk[: min(len(chunk), remaining)])

    def free_up(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path):
    """A 48 MB tmpfs of its own, so filling it disturbs nothing else."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the suite as root)")
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(root)],
        capture_output=True, text=True, check=False,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Disk(root)
    finally:
        subprocess.run(["umount", "--lazy", str(root)], check=False)


@pytest.fixture
def fake():
    fake = FakePapra(seed=5)
    populate(fake, organizations=1, documents=200, tags=5, custom_properties=4,
             activity_per_document=1, text_bytes=600, seed=5)
    return fake


class Cli:
    """``papra-pipeline`` run in this process against the fake over loopback."""

    def __init__(self, fake, db: Path, monkeypatch, capsys) -> None:
        self.fake, self.db, self.capsys = fake, db, capsys
        self.warehouse = Warehouse(db)
        self.org = fake.list_organizations()[0]["id"]
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(db))
        for name in ("PAPRA_EMAIL", "PAPRA_PASSWORD", "PAPRA_WEBHOOK_INBOX"):
            monkeypatch.delenv(name, raising=False)

    def run(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(list(args) or ["sync"])
        return code, self.capsys.readouterr().err

    def upload(self, count: int = 100, size: int = 4 * KB, seed: int = 1) -> None:
        """New documents whose texts (random, so incompressible) make a write of known size."""
        rng = random.Random(seed)
        for i in range(count):
            text = "".join(rng.choices("0123456789abcdef", k=size))
            self.fake.upload_document(self.org, f"upload-{seed}-{i}.txt", text, extract=True)

    def leftovers(self) -> list[str]:
        """Partial copies and temporary files a failed run must not leave."""
        return sorted(
            p.name for p in self.db.parent.iterdir()
            if p.name.endswith((".publishing", ".tmp")) or ".adopting-" in p.name
        )

    def runs(self) -> list[tuple[str, str]]:
        with self.warehouse.read_private() as con:
            return con.execute(
                "SELECT run_id, status FROM _papra_sync_runs ORDER BY started_at"
            ).fetchall()


@pytest.fixture
def cli(fake, monkeypatch, capsys, tmp_path):
    with serve(fake) as url:
        monkeypatch.setenv("PAPRA_API_URL", url)
        yield Cli(fake, tmp_path / "papra.duckdb", monkeypatch, capsys)


@pytest.fixture
def cli_on_disk(fake, disk, monkeypatch, capsys):
    with serve(fake) as url:
        monkeypatch.setenv("PAPRA_API_URL", url)
        yield Cli(fake, disk.root / "papra.duckdb", monkeypatch, capsys)


def one_error_line(err: str) -> str:
    """The command's whole complaint: one ``error:`` line, no traceback, no warning."""
    assert "Traceback" not in err, err
    complaints = [line for line in err.splitlines() if not line.startswith(("Syncing", "  "))]
    assert len(complaints) == 1 and complaints[0].startswith("error: "), err
    return complaints[0]


def assert_recovers(cli: Cli) -> None:
    """The next sync succeeds and readers get everything Papra holds."""
    code, err = cli.run("sync")
    assert code == 0, err
    assert_matches_server(cli.fake, cli.warehouse)
    assert cli.leftovers() == []


# Free space left before the second sync, and the file its one line must name: the sync's
# state file (written before the commit), its WAL (the commit), the sync's file (the
# checkpoint that starts a publish), the copy being published. The write adds 100 texts of
# 4 KB: ~400 KB of WAL; the checkpoint then needs ~2 MB more, the copy ~8 MB.
FULL_DISK_CASES = {
    "state file": (0, ".papra.duckdb.published"),
    "commit": (160 * KB, ".papra.duckdb.sync.wal"),
    "checkpoint": (1200 * KB, ".papra.duckdb.sync"),
    "copy": (5000 * KB, ".papra.duckdb.publishing"),
}


@pytest.mark.parametrize("step", list(FULL_DISK_CASES))
def test_a_full_disk_fails_in_one_line_and_the_next_sync_recovers(cli_on_disk, disk, step):
    cli = cli_on_disk
    leave, named = FULL_DISK_CASES[step]
    assert cli.run("sync")[0] == 0
    before = table_fingerprints(cli.warehouse)
    cli.upload()
    disk.fill(leave)

    code, err = cli.run("sync")

    assert code == 1
    line = one_error_line(err)
    assert f"{disk.root / named}:" in line, line
    assert "no space left" in line.lower() and "free" in line.lower(), line
    assert table_fingerprints(cli.warehouse) == before  # readers keep the last good state
    assert cli.leftovers() == []
    runs = cli.runs()
    assert len({run_id for run_id, _ in runs}) == len(runs)  # no run logged twice
    if step in ("checkpoint", "copy"):  # committed: the run succeeded, only readers wait
        assert runs[-1][1] == "succeeded" and "readers" in line
    disk.free_up()
    assert_recovers(cli)


def test_a_full_disk_at_the_commit_of_long_texts_fails_the_run_in_one_line(cli_on_disk, disk):
    """A run with long texts checkpoints at its commit instead of writing the WAL: the fault
    names the sync's file and fails the run (logged once), readers keep the last good state."""
    cli = cli_on_disk
    assert cli.run("sync")[0] == 0
    before = table_fingerprints(cli.warehouse)
    cli.upload(count=3, size=100 * KB)  # long texts: 64 KB or more
    disk.fill(400 * KB)  # room for their WAL, not for a checkpoint

    code, err = cli.run("sync")

    assert code == 1
    line = one_error_line(err)
    assert f"{disk.root / '.papra.duckdb.sync'}:" in line, line
    assert "no space left" in line.lower() and "changed nothing" in line, line
    assert table_fingerprints(cli.warehouse) == before
    assert cli.leftovers() == []
    runs = cli.runs()
    assert len({run_id for run_id, _ in runs}) == len(runs)
    assert runs[-1][1] == "failed"
    disk.free_up()
    assert_recovers(cli)


def test_a_publish_that_keeps_failing_leaves_no_copy_and_recovers(cli_on_disk, disk):
    """Each retry of the owed publish fails cleanly too; nothing accumulates meanwhile."""
    cli = cli_on_disk
    assert cli.run("sync")[0] == 0
    cli.upload()
    disk.fill(FULL_DISK_CASES["copy"][0])
    for _ in range(2):
        code, err = cli.run("sync")
        assert code == 1 and ".papra.duckdb.publishing: " in one_error_line(err)
        assert cli.leftovers() == []
    disk.free_up()
    assert_recovers(cli)


def test_a_stale_partial_copy_is_removed_before_anything_else(cli_on_disk, disk):
    """A copy left by a killed publish would keep the disk full: the next sync removes it
    first, and then has the room it needs."""
    cli = cli_on_disk
    assert cli.run("sync")[0] == 0
    cli.upload()
    disk.fill(20 * 1024 * KB)  # room for this run, but not with the stale copy below
    stale = cli.warehouse.files.copy
    stale.write_bytes(b"\0" * (19 * 1024 * KB))

    code, err = cli.run("sync")

    assert code == 0, err
    assert not stale.exists() and cli.leftovers() == []
    assert_matches_server(cli.fake, cli.warehouse)


def test_copies_left_by_killed_adoptions_are_removed(cli):
    """A sync killed while adopting the readers' file leaves a copy named by its pid, as
    large as the warehouse; the next sync removes it, and keeps a running process's."""
    assert cli.run("sync")[0] == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = cli.warehouse.files.adopting().with_name(f".papra.duckdb.adopting-{dead.pid}")
    Path(f"{killed}.wal").write_bytes(b"\0" * KB)
    killed.write_bytes(b"\0" * (64 * KB))
    alive = killed.with_name(f".papra.duckdb.adopting-{os.getppid()}")
    alive.write_bytes(b"\0" * KB)

    code, err = cli.run("sync")

    assert code == 0, err
    assert not killed.exists() and not Path(f"{killed}.wal").exists()
    assert alive.exists()


def test_ctrl_c_between_the_commit_and_the_publish_logs_the_run_once(cli, monkeypatch, caplog):
    """The run is saved: it stays logged as succeeded (not again as failed, which its
    run_id forbids), the command says so, and the next sync publishes it."""
    assert cli.run("sync")[0] == 0
    before = table_fingerprints(cli.warehouse)
    cli.upload(count=3)

    def interrupted(source, target):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(store, "copy_file", interrupted)
        code, err = cli.run("sync")

    assert code == 130
    assert "this run is saved" in err and "nothing was written" not in err, err
    assert "could not record" not in caplog.text
    runs = cli.runs()
    assert len({run_id for run_id, _ in runs}) == len(runs) == 2
    assert [status for _, status in runs] == ["succeeded", "succeeded"]
    assert table_fingerprints(cli.warehouse) == before  # readers wait for the next sync
    assert_recovers(cli)


@pytest.fixture
def read_only_directory(tmp_path):
    """Make a directory's entries unchangeable while its files stay writable: chmod for
    a user, ``chattr +i`` for root (whom permission bits do not stop)."""
    locked = []

    def lock(directory: Path) -> None:
        if os.geteuid() != 0:
            directory.chmod(0o555)
        else:
            done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True,
                                  text=True, check=False)
            if done.returncode:
                pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        locked.append(directory)

    def unlock() -> None:
        for directory in locked:
            if os.geteuid() != 0:
                directory.chmod(0o755)
            else:
                subprocess.run(["chattr", "-i", str(directory)], check=True)
        locked.clear()

    lock.unlock = unlock
    yield lock
    unlock()


def test_a_sync_with_nothing_to_do_in_a_read_only_directory(cli, read_only_directory):
    """DuckDB opens the file but cannot create its WAL beside it: the commit fails, and so
    did the ROLLBACK after it, burying the cause under four tracebacks."""
    assert cli.run("sync")[0] == 0
    runs = cli.runs()
    read_only_directory(cli.db.parent)

    code, err = cli.run("sync", "--quick")

    assert code == 1
    line = one_error_line(err)
    assert f"{cli.db.parent / '.papra.duckdb.sync.wal'}:" in line, line
    assert "not permitted" in line or "permission denied" in line.lower(), line
    read_only_directory.unlock()
    assert cli.runs() == runs
    assert_recovers(cli)


def test_a_refused_rename_on_linux_fails_at_once_and_does_not_blame_windows(cli, monkeypatch):
    assert cli.run("sync")[0] == 0
    cli.upload(count=3)
    real_replace = os.replace
    refused = []

    def refuse(source, target):
        if os.fspath(target) == os.fspath(cli.db):
            refused.append(target)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(source),
                                  None, os.fspath(target))
        real_replace(source, target)

    monkeypatch.setattr(publish.os, "replace", refuse)

    code, err = cli.run("sync")

    assert code == 1 and len(refused) == 1
    line = one_error_line(err)
    assert "Windows" not in line and "open for" not in line, line
    assert "permission denied" in line.lower() and str(cli.db) in line, line
    assert cli.leftovers() == []
    code, err = cli.run("-v", "sync")  # -v shows where it failed
    assert code == 1 and "Traceback" in err
    monkeypatch.setattr(publish.os, "replace", real_replace)
    assert_recovers(cli)


def test_an_io_error_while_copying_is_one_line_and_removes_the_copy(cli, monkeypatch):
    assert cli.run("sync")[0] == 0
    cli.upload(count=3)
    real_copy = store.copy_file

    def failing_disk(source, target):
        real_copy(source, target)  # the copy exists, as a half-written one would
        raise OSError(errno.EIO, os.strerror(errno.EIO), os.fspath(target))

    monkeypatch.setattr(store, "copy_file", failing_disk)
    code, err = cli.run("sync")
    assert code == 1
    line = one_error_line(err)
    assert "I/O error" in line and ".papra.duckdb.publishing:" in line, line
    assert cli.leftovers() == []
    monkeypatch.setattr(store, "copy_file", real_copy)
    assert_recovers(cli)


def test_doctor_reports_free_space_against_what_a_sync_needs(cli_on_disk, disk):
    cli = cli_on_disk
    assert cli.run("sync")[0] == 0
    cli.capsys.readouterr()
    assert main(["doctor"]) == 0
    out = cli.capsys.readouterr().out
    line = next(line for line in out.splitlines() if "free space" in line)
    assert line.startswith("[ok]") and str(disk.root) in line and "needs" in line, out
    disk.fill(1024 * KB)
    assert main(["doctor"]) == 1
    out = cli.capsys.readouterr().out
    line = next(line for line in out.splitlines() if "free space" in line)
    assert line.startswith("[FAIL]") and "MB" in line, out


def test_a_full_temporary_directory_is_one_line_too(fake, disk, cli, monkeypatch):
    """A large run stages its rows in a scratch file in the temporary directory, which may
    be a small disk of its own: the line names it, and TMPDIR."""
    cli.upload(count=2100, size=4 * KB)  # more than a batch: staged in a file
    monkeypatch.setattr(tempfile, "tempdir", str(disk.root))
    disk.fill(256 * KB)

    code, err = cli.run("sync")

    assert code == 1
    line = one_error_line(err)
    assert f"{disk.root}/papra-staging-" in line and "TMPDIR" in line, line
    assert "no space left" in line and f"free space in {disk.root} (" in line, line
    disk.free_up()
    assert_recovers(cli)


def test_a_read_only_file_system_is_one_line(cli_on_disk, disk):
    cli = cli_on_disk
    assert cli.run("sync")[0] == 0
    cli.upload(count=3)
    subprocess.run(["mount", "-o", "remount,ro", str(disk.root)], check=True)
    try:
        code, err = cli.run("sync")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk.root)], check=True)
    assert code == 1
    line = one_error_line(err)
    assert f"{cli.warehouse.private_path}: the file system is read-only" in line, line
    assert "remount" in line, line
    assert_recovers(cli)


def test_a_webhook_inbox_it_cannot_write_is_one_line_and_its_deliveries_wait(
    cli, read_only_directory
):
    """The drain marks deliveries consumed in the inbox beside the DuckDB file; SQLite names
    neither file nor cause. The deliveries stay pending, and the next sync re-reads them."""
    assert cli.run("sync")[0] == 0
    document = cli.fake.documents(cli.org)[0]["id"]
    with WebhookInbox(inbox_path(cli.db)) as inbox:
        inbox.add([InboxDelivery("delivery-1", "document:updated", cli.org, document, 1)])
    cli.fake.update_document(cli.org, document, content="a text edit only the delivery shows")
    read_only_directory(cli.db.parent)

    code, err = cli.run("sync", "--quick")

    assert code == 1
    line = one_error_line(err)
    assert f"{inbox_path(cli.db)}:" in line and "PAPRA_WEBHOOK_INBOX" in line, line
    read_only_directory.unlock()
    code, err = cli.run("sync", "--quick")
    assert code == 0, err
    assert_matches_server(cli.fake, cli.warehouse)
