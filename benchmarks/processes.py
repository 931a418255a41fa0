"""The benchmark's child processes: their environment, and the fake Papra server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
# Children run in the work directory (``-m`` puts the cwd first on sys.path, which must not be
# the repository when --source picks another revision); PYTHONPATH finds ``benchmarks``.
CHILD_ENV = {**os.environ, "PYTHONPATH": str(HERE.parent)}


class BenchServer:
    """The fake in a subprocess; ``log()``/``reset()`` use its control routes."""

    def __init__(self, documents: int, organizations: int, seed: int, workdir: Path) -> None:
        stderr_path = workdir / "server.log"
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--documents", str(documents),
             "--organizations", str(organizations), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            cwd=workdir, env=CHILD_ENV,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server did not start")
        info = json.loads(line)
        self.url: str = info["url"]
        self.api_key: str = info["api_key"]
        self.summary: dict = info["summary"]
        self.populate_seconds: float = info["populate_seconds"]
        self._http = httpx.Client(base_url=self.url, timeout=120)

    def reset(self) -> None:
        self._http.post("/__bench/reset").raise_for_status()

    def log(self) -> dict:
        response = self._http.get("/__bench/log")
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._http.close()
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the server exits when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
