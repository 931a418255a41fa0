"""The demo through Dagster: the definitions users deploy, pointed at a fake Papra.

``run_full_sync_job`` is what ``make demo`` runs, telling the run as a short story (progress,
the sync's table, the checks) instead of Dagster's event log; ``run_demo_ui`` is
``papra-pipeline demo --ui``: it fills a Dagster instance (full sync, daily reports) with
``dg launch``, then starts ``dg dev`` on it so a newcomer sees every asset materialized.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import dagster as dg

from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.figures import created_at_range

MODULE = "papra_pipeline.definitions"
DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
REPORT_ASSETS = "papra_report_daily_documents,papra_report_daily_activity"


def demo_env(
    base_url: str,
    api_key: str,
    db_path: str | Path,
    *,
    email: str | None = None,
    password: str | None = None,
) -> dict[str, str]:
    """The PAPRA_* variables a user would put in ``.env``, for the fake server."""
    env = {
        "PAPRA_API_URL": base_url,
        "PAPRA_API_KEY": api_key,
        "PAPRA_DUCKDB_PATH": str(db_path),
    }
    if email and password:
        env |= {"PAPRA_EMAIL": email, "PAPRA_PASSWORD": password}
    return env


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _StoryHandler(logging.Handler):
    """Prints what the steps say, failed checks and failed steps; the rest of Dagster's events
    (the CLI sums them up) stay quiet."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        meta = record.__dict__.get("dagster_meta") or {}
        event = meta.get("dagster_event")
        if event is None:
            line = meta.get("orig_message", record.getMessage())
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            check = event.event_specific_data
            if check.passed:
                return
            line = f"check {check.check_name} on {check.asset_key.to_user_string()} FAILED"
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            line = f"step {event.step_key} failed: {event.event_specific_data.error.message}"
        else:
            return
        for text in line.splitlines():
            print(f"  {text}", file=self.out, flush=True)


def story_logger(out: TextIO) -> dg.LoggerDefinition:
    """A console logger for people: what the steps say and what failed."""

    @dg.logger(description="The demo's readable console output.")
    def story(init_context: dg.InitLoggerContext) -> logging.Logger:
        story_log = logging.Logger("papra_demo", level=logging.DEBUG)  # events are DEBUG
        story_log.addHandler(_StoryHandler(out))
        return story_log

    return story


def run_full_sync_job(
    env: Mapping[str, str], out: TextIO | None = None
) -> dg.ExecuteInProcessResult:
    """Run ``papra_full_sync_job`` in process with the definitions built from ``env``, telling
    the run on ``out`` (standard error by default)."""
    from papra_pipeline.defs import build_definitions
    from papra_pipeline.defs.jobs import sync_run_config

    told = dg.Definitions(loggers={"console": story_logger(out or sys.stderr)})
    with _environment(env), dg.DagsterInstance.ephemeral() as instance:
        defs = dg.Definitions.merge(build_definitions(), told)
        job = defs.resolve_job_def("papra_full_sync_job")
        # Job loggers only run when the run config names them.
        run_config = {**sync_run_config("full"), "loggers": {"console": {}}}
        return job.execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False
        )


def _dg(args: list[str], env: Mapping[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "dagster_dg_cli.cli", *args], env=dict(env), check=True)


def _report_range(db_path: str | Path) -> str:
    """``first...last`` UTC days holding documents, capped to yesterday (the last partition)."""
    with Warehouse(db_path).read() as con:
        first, last = created_at_range(con)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    first_day = min(first.astimezone(UTC).date(), yesterday)
    last_day = min(last.astimezone(UTC).date(), yesterday)
    return f"{first_day.isoformat()}...{last_day.isoformat()}"


def dagster_home() -> Path:
    """A fresh DAGSTER_HOME holding the repo's dagster.yaml (pool, queue, no telemetry)."""
    home = Path(tempfile.mkdtemp(prefix="papra-demo-dagster-"))
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    return home


def fill_instance(env: Mapping[str, str], home: Path) -> None:
    """A full sync (which snapshots the statistics too) and a report backfill, recorded in
    ``home``."""
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
    _dg(["launch", "-m", MODULE, "--job", "papra_full_sync_job"], full_env)
    _dg(
        [
            "launch",
            "-m",
            MODULE,
            "--assets",
            REPORT_ASSETS,
            "--partition-range",
            _report_range(env["PAPRA_DUCKDB_PATH"]),
        ],
        full_env,
    )


def run_demo_ui(env: Mapping[str, str], *, host: str = "127.0.0.1", port: int = 3000) -> int:
    """Fill a fresh Dagster instance, then serve it with ``dg dev`` until Ctrl-C.

    Returns the exit status of ``dg dev``; the instance is deleted afterwards.
    """
    home = dagster_home()
    # Ctrl-C, or SIGTERM from a service manager, stops dg dev the way it expects: with
    # SIGINT, so it shuts down its webserver, daemon and code server (SIGTERM would leave them
    # running). Started from a shell without job control, SIGINT is ignored by inheritance, so
    # both processes get Python's default handler back explicitly.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fill_instance(env, home)
        dev = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster_dg_cli.cli",
                "dev",
                "-m",
                MODULE,
                "-h",
                host,
                "-p",
                str(port),
            ],
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            preexec_fn=_default_sigint,
        )
        try:
            return dev.wait()
        except KeyboardInterrupt:
            if dev.poll() is None:
                dev.send_signal(signal.SIGINT)
            try:
                return dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dev.kill()
                return dev.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
