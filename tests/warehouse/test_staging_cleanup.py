"""A new Staging removes the scratch directories of killed runs, and only those."""

from __future__ import annotations

import os
import subprocess
import sys

from papra_pipeline.warehouse.staging import Staging


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(parent, name):
    """A staging directory as a killed run leaves it: a DuckDB file inside."""
    directory = parent / name
    directory.mkdir()
    (directory / "staging.duckdb").write_bytes(b"x" * 1024)
    return directory


def test_the_directory_name_carries_the_pid(tmp_path):
    with Staging(tmp_path) as staging:
        assert staging.directory.parent == tmp_path
        assert staging.directory.name.startswith(f"papra-staging-{os.getpid()}-")
    assert not staging.directory.exists()


def test_a_dead_process_directory_is_removed(tmp_path):
    orphan = leftover(tmp_path, f"papra-staging-{dead_pid()}-ab12_xyz")
    with Staging(tmp_path):
        assert not orphan.exists()


def test_directories_of_running_processes_are_kept(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ours = leftover(tmp_path, f"papra-staging-{os.getpid()}-ab12_xyz")
        childs = leftover(tmp_path, f"papra-staging-{child.pid}-ab12_xyz")
        with Staging(tmp_path):
            assert ours.exists() and childs.exists()
    finally:
        child.kill()
        child.wait()


def test_other_names_are_kept(tmp_path):
    pid = dead_pid()
    kept = [
        leftover(tmp_path, "papra-staging-ab12_xyz"),  # from before the pid was in the name
        leftover(tmp_path, f"papra-staging-{pid}"),
        leftover(tmp_path, f"papra-staging-{pid}-ab12_xyz.bak"),
        leftover(tmp_path, f"other-{pid}-ab12_xyz"),
        leftover(tmp_path, "unrelated"),
    ]
    (tmp_path / f"papra-staging-{pid}-file_xyz").write_text("a file, not a directory")
    with Staging(tmp_path):
        assert all(directory.exists() for directory in kept)
    assert (tmp_path / f"papra-staging-{pid}-file_xyz").exists()
