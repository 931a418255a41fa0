"""The DuckDB releases people read the warehouse with, installed beside the project's own.

Python duckdb 1.2, 1.4 and 1.5 and the DuckDB CLI (``duckdb-cli`` from PyPI) each get a
virtualenv of their own under ``.venv-readers/`` (ignored by git; ``PAPRA_READERS_HOME`` moves
it), and ``@duckdb/node-api`` is installed by npm from ``node/package-lock.json``. Each is
built once and reused: a build runs under a file lock, so concurrent test runs wait for one
build instead of racing, and is marked complete only at its end, so a build that was killed is
redone. ``.ci/install-readers`` builds them all (``python -m tests.readers.tools``); the tests
build what is missing on first use.

A reader is driven the same way whichever it is: :meth:`Reader.open` starts it on a file, and
returns once it holds the file open read-only; :meth:`OpenReader.run` runs queries on that one
connection, as often as asked, and returns for each ``{"columns", "rows"}`` or ``{"error"}``;
:meth:`OpenReader.close` lets it close the file and exit.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOME = Path(os.environ.get("PAPRA_READERS_HOME") or REPO / ".venv-readers")
NODE = HERE / "node"
# Installs download tens of MB; a busy machine or a slow mirror gets time.
INSTALL_TIMEOUT = 900
# A reader starts, opens the file and answers in seconds; this is for a loaded machine.
READER_TIMEOUT = 180
# Between the CLI's answers to the queries (its JSON output has no other delimiter).
_CLI_MARK = "@@papra-reader@@"


class ReaderUnavailable(Exception):
    """A reader could not be installed; the message says which, and what failed."""


@dataclass(frozen=True)
class Reader:
    """One DuckDB release as a tool people read the warehouse with."""

    name: str
    version: str  # what the reader reports of itself, e.g. "1.5.6" or "v1.5.6"
    kind: str  # "python", "cli" or "node"

    def install(self) -> list[str]:
        """Build it if needed; returns the command that starts it on a file (appended)."""
        if self.kind == "python":
            # pytz: Python duckdb needs it to return TIMESTAMP WITH TIME ZONE values.
            venv = _virtualenv(self.name, f"duckdb=={self.version}", "pytz")
            return [str(venv / "bin" / "python"), str(HERE / "read.py")]
        if self.kind == "cli":
            venv = _virtualenv(self.name, f"duckdb-cli=={self.version}")
            return [str(venv / "bin" / "duckdb"), "-readonly", "-json"]
        _node_modules()
        return [_program("node"), str(NODE / "read.mjs")]

    def open(self, path: Path) -> OpenReader:
        """Start the reader on ``path``; it holds the file open read-only until closed."""
        command = [*self.install(), str(path)]
        # A file, not a pipe: it never fills up. Closed by OpenReader.close.
        errors = tempfile.TemporaryFile("w+")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The CLI's errors between its answers are how a failed query shows.
            stderr=subprocess.STDOUT if self.kind == "cli" else errors,
            text=True,
            cwd=path.parent,
        )
        reader = OpenReader(self, process, errors)
        try:
            reader.wait_until_open()
        except BaseException:
            reader.close()
            raise
        return reader


@dataclass
class OpenReader:
    reader: Reader
    process: subprocess.Popen
    errors: IO[str]

    def wait_until_open(self) -> None:
        if self.reader.kind == "cli":
            # The CLI opens the file before reading its input: an answer means it is open.
            self._send("SELECT 'ready' AS ready;\n")
        line = self._line()
        if self.reader.kind == "cli":
            opened = line.startswith('[{"ready":"ready"}')
        else:
            opened = line.startswith("{") and json.loads(line).get("ready") is True
        if not opened:
            raise AssertionError(f"{self.reader.name} did not open the file: {self._output(line)}")
        if self.reader.kind != "cli":
            reported = json.loads(line)["version"].lstrip("v")
            assert reported == self.reader.version, (self.reader.name, reported)

    def run(self, queries: list[str]) -> list[dict]:
        """Each query's ``{"columns", "rows"}`` (values as the reader gives them) or
        ``{"error"}``, on the connection the reader opened; it keeps the file open."""
        if self.reader.kind != "cli":
            self._send(json.dumps(queries) + "\n")
            line = self._line()
            if not line.startswith("["):
                raise AssertionError(f"{self.reader.name} failed: {self._output(line)}")
            return json.loads(line)
        self._send("".join(f"{q.strip().rstrip(';')};\n.print {_CLI_MARK}\n" for q in queries))
        results = []
        for _ in queries:
            answer = []
            while (line := self._line()) != f"{_CLI_MARK}\n":
                if not line:
                    raise AssertionError(f"the DuckDB CLI stopped: {self._output(''.join(answer))}")
                answer.append(line)
            results.append(_cli_answer("".join(answer)))
        return results

    def __enter__(self) -> OpenReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close its input: the reader closes its connection and exits."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=READER_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):  # gone already, or hung
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.errors.close()

    def _send(self, text: str) -> None:
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def _line(self) -> str:
        """The reader's next line of output; ``""`` once it has exited."""
        done = threading.Event()
        timer = threading.Timer(READER_TIMEOUT, lambda: done.is_set() or self.process.kill())
        timer.start()
        try:
            return self.process.stdout.readline()
        finally:
            done.set()
            timer.cancel()

    def _output(self, shown: str) -> str:
        """What the reader printed, for a failure's message (it is stopped first)."""
        self.process.kill()
        rest = self.process.stdout.read()
        self.process.wait()
        self.errors.seek(0)
        return (shown + rest + self.errors.read()).strip()[-2000:] or "no output"


def _cli_answer(text: str) -> dict:
    """The CLI prints an answer as a JSON array of objects, and a failure as its message."""
    try:
        rows = json.loads(text)
    except ValueError:
        return {"error": text.strip()}
    columns = list(rows[0]) if rows else []
    return {"columns": columns, "rows": [list(row.values()) for row in rows]}


READERS = [
    Reader("python-duckdb-1.2", "1.2.2", "python"),
    Reader("python-duckdb-1.4", "1.4.5", "python"),
    Reader("python-duckdb-1.5", "1.5.6", "python"),
    Reader("duckdb-cli-1.5", "1.5.6", "cli"),
    Reader("node-api-1.5", "1.5.6", "node"),
]


# ---------------------------------------------------------------------------------- installs


@contextmanager
def _building(name: str) -> Iterator[None]:
    """One build of ``name`` at a time, across processes."""
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _virtualenv(name: str, *requirements: str) -> Path:
    venv = HOME / name
    complete = venv / ".papra-complete"
    requirement = " ".join(requirements)
    if _marked(complete, requirement):
        return venv
    with _building(name):
        if _marked(complete, requirement):  # built meanwhile by another process
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], f"a virtualenv for {requirement}")
        _run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *requirements],
            requirement,
        )
        complete.write_text(requirement)
    return venv


def _node_modules() -> None:
    lock = (NODE / "package-lock.json").read_text()
    complete = NODE / "node_modules" / ".papra-complete"
    if _marked(complete, lock):
        return
    with _building("node"):
        if _marked(complete, lock):
            return
        _program("node")
        # npm ci installs exactly the lock file's versions, removing node_modules first.
        _run([_program("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
             "@duckdb/node-api (npm ci)", cwd=NODE)
        complete.write_text(lock)


def _marked(complete: Path, content: str) -> bool:
    try:
        return complete.read_text() == content
    except FileNotFoundError:
        return False


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ReaderUnavailable(f"{name} is not installed: run .ci/install-readers")
    return found


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReaderUnavailable(f"installing {what} failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-2000:]
        raise ReaderUnavailable(f"installing {what} failed: {output}")


def main() -> int:
    """Install every reader (``.ci/install-readers``)."""
    for reader in READERS:
        reader.install()
        print(f"{reader.name}: ready", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
