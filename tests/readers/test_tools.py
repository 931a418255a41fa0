"""The readers' installs: built once however many test runs ask at the same time, redone after
a build that died, and a reader that cannot be installed fails the tests unless they are
explicitly skipped. The installing commands are replaced: no network here."""

from __future__ import annotations

import threading
import time

import pytest

from tests.readers import tools
from tests.readers.test_readers import installed


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """Every command a build runs, each taking a while (so concurrent builds overlap)."""
    monkeypatch.setattr(tools, "HOME", tmp_path)
    commands = []

    def run(command, what, cwd=None):
        commands.append(command)
        time.sleep(0.2)
        if command[1:3] == ["-m", "venv"]:
            (tmp_path / "python-duckdb-9").mkdir()

    monkeypatch.setattr(tools, "_run", run)
    return commands


def test_concurrent_builds_of_one_reader_build_it_once(builds, tmp_path):
    venvs = []
    threads = [
        threading.Thread(target=lambda: venvs.append(tools._virtualenv("python-duckdb-9", "x")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert venvs == [tmp_path / "python-duckdb-9"] * 4
    assert [command[1:3] for command in builds] == [["-m", "venv"], ["-m", "pip"]]


def test_a_build_that_died_is_redone(builds, tmp_path):
    (tmp_path / "python-duckdb-9" / "bin").mkdir(parents=True)  # no completion mark
    tools._virtualenv("python-duckdb-9", "x")
    assert len(builds) == 2
    tools._virtualenv("python-duckdb-9", "x")  # complete now: reused
    assert len(builds) == 2
    tools._virtualenv("python-duckdb-9", "y")  # another requirement: rebuilt
    assert len(builds) == 4


@pytest.fixture
def unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(tools, "HOME", tmp_path)

    def refused(command, what, cwd=None):
        raise tools.ReaderUnavailable(f"installing {what} failed: no network")

    monkeypatch.setattr(tools, "_run", refused)
    return tools.Reader("python-duckdb-9", "9.0.0", "python")


def test_a_reader_that_cannot_be_installed_fails_the_test(unavailable, monkeypatch):
    monkeypatch.delenv("SKIP_READER_TESTS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="no network"):
        installed(unavailable)


def test_skip_reader_tests_skips_instead(unavailable, monkeypatch):
    monkeypatch.setenv("SKIP_READER_TESTS", "1")
    with pytest.raises(pytest.skip.Exception, match="no network"):
        installed(unavailable)
