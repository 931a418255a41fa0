"""The ``papra-pipeline`` command: sync, doctor, demo and the fake server, for people and cron.

Configuration comes from the ``PAPRA_*`` environment variables, parsed by
:class:`papra_pipeline.settings.Settings` as Dagster parses them. Failures end with a non-zero
status and one line saying what to fix.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from papra_pipeline import rules_cli
from papra_pipeline.client import PapraClient, PapraError, PapraSessionRequiredError
from papra_pipeline.settings import Settings
from papra_pipeline.sync import InterruptedAfterCommit, SyncError, SyncOptions, SyncResult
from papra_pipeline.sync.summary import describe_progress, format_summary
from papra_pipeline.warehouse import WarehouseError
from papra_pipeline.warehouse.diskfaults import disk_fault, free_space, megabytes, sqlite_fault
from papra_pipeline.warehouse.inbox import inbox_path
from papra_pipeline.webhooks import cli as webhooks_cli

# The sync engine, DuckDB and pandas load with the commands that use them (about 0.2 s).
if TYPE_CHECKING:
    from papra_pipeline.warehouse import Warehouse

DEFAULT_DB = Settings.duckdb_path
DEMO_DB = "papra-demo.duckdb"
# What a full sync reads; doctor checks the key has each one.
SYNC_PERMISSIONS = ("organizations:read", "documents:read", "tags:read", "custom-properties:read")
# What `rules apply` adds on top (tags:read is among the sync's already).
RULES_PERMISSIONS = ("documents:update",)


def open_warehouse(explicit: str | None, settings: Settings, lock_timeout: float) -> Warehouse:
    """The warehouse at ``--db``, else at PAPRA_DUCKDB_PATH."""
    from papra_pipeline.warehouse import Warehouse

    return Warehouse(
        Path(explicit or settings.duckdb_path),
        lock_timeout=lock_timeout,
        write_memory_limit=settings.write_memory_limit,
        reader_storage_version=settings.reader_storage_version,
    )


def _progress_printer(out: TextIO) -> Callable[[str, str, int, int | None], None]:
    def report(stream: str, organization_id: str, done: int, total: int | None) -> None:
        print(f"  {describe_progress(stream, organization_id, done, total)}", file=out, flush=True)

    return report


def run_sync(
    client: PapraClient,
    warehouse: Warehouse,
    options: SyncOptions,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    inbox_file: Path | None = None,
) -> SyncResult:
    from papra_pipeline.sync.webhooks import sync_draining_webhooks

    out, err = out or sys.stdout, err or sys.stderr
    print(f"Syncing {client.base_url} into {warehouse.path} ({options.mode})", file=err)
    result = sync_draining_webhooks(
        client, warehouse, options, inbox_file=inbox_file, progress=_progress_printer(err)
    )
    print(format_summary(result), file=out)
    return result


def cmd_sync(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.api_key:
        raise SystemExit("error: PAPRA_API_KEY is not set (create an API key in Papra's settings)")
    options = SyncOptions(
        mode="quick" if args.quick else "full",
        organization_ids=tuple(args.organization) if args.organization else None,
        content=not args.no_content,
        reverify_period=timedelta(days=settings.reverify_days),
        verify=args.verify,
    )
    warehouse = open_warehouse(args.db, settings, args.lock_timeout)
    inbox = inbox_path(warehouse.path, settings.webhook_inbox)
    with PapraClient.from_settings(settings) as client:
        try:
            run_sync(client, warehouse, options, inbox_file=inbox)
        except sqlite3.Error as exc:  # the webhook inbox is the only SQLite file
            fault = sqlite_fault(exc, inbox)
            if fault is None:
                raise
            advice = fault.advice(setting="PAPRA_WEBHOOK_INBOX")
            raise SyncError(
                f"{fault} (the webhook inbox: {exc}); {advice}. Its deliveries stay pending: "
                "the next sync re-reads their documents."
            ) from exc
    return 0


def _check(out: TextIO, ok: bool | None, label: str, detail: str = "") -> bool:
    mark = {True: "[ok]  ", False: "[FAIL]", None: "[--]  "}[ok]
    print(f"{mark} {label}{': ' + detail if detail else ''}", file=out)
    return ok is not False


def cmd_doctor(args: argparse.Namespace) -> int:
    """A checklist of everything a sync needs, each line saying what to fix."""
    out = sys.stdout
    healthy = True
    settings = Settings.from_env()
    with PapraClient.from_settings(settings) as client:
        try:
            reachable = client.ping()
            detail = "" if reachable else "GET /api/ping did not answer like Papra (proxy page?)"
        except PapraError as exc:
            reachable, detail = False, str(exc)
        if not _check(out, reachable, f"Papra reachable at {client.base_url}", detail):
            return 1
        try:
            config = client.get_server_config()
            retention = config.deleted_documents_retention_days
            _check(out, True, "server version", f"{config.version}, trash kept {retention} days")
        except PapraError as exc:
            _check(out, None, "server version", f"unknown ({exc})")
        if not settings.api_key:
            healthy &= _check(out, False, "API key", "PAPRA_API_KEY is not set")
        else:
            try:
                key = client.get_current_api_key()
                healthy &= _check(out, True, "API key", f"{key.name!r} is valid")
                for permission in SYNC_PERMISSIONS:
                    has = permission in key.permissions
                    hint = "" if has else "add it to the key in Papra (Settings > API keys)"
                    healthy &= _check(out, has, f"permission {permission}", hint)
                for permission in RULES_PERMISSIONS:
                    has = permission in key.permissions
                    needed = bool(settings.tagging_rules)
                    hint = (
                        ""
                        if has
                        else "`rules apply` needs it (PAPRA_TAGGING_RULES is set): add it to "
                        "the key in Papra"
                        if needed
                        else "optional: only tagging rules with the API key need it"
                    )
                    label = f"permission {permission} (tagging rules with the API key)"
                    healthy &= _check(
                        out, True if has else (False if needed else None), label, hint
                    )
                organizations = client.list_organizations()
                names = ", ".join(f"{o.name} ({o.id})" for o in organizations) or "none"
                healthy &= _check(out, bool(organizations), "organizations visible", names)
            except PapraError as exc:
                healthy &= _check(out, False, "API key", str(exc))
                organizations = []
            try:
                if organizations:
                    rules = client.list_tagging_rules(organizations[0].id)
                    _check(
                        out, True, "Papra's own tagging rules reachable", f"{len(rules)} rule(s)"
                    )
            except PapraSessionRequiredError:
                _check(
                    out,
                    None,
                    "Papra's own tagging rules",
                    "optional: their list and apply need PAPRA_EMAIL and PAPRA_PASSWORD",
                )
            except PapraError as exc:
                healthy &= _check(out, False, "tagging rules", str(exc))
    warehouse = open_warehouse(args.db, settings, lock_timeout=2)
    path = warehouse.path
    needed = warehouse.space_needed()  # before the check below creates an empty warehouse
    try:
        with warehouse.write() as session:
            session.publish = False  # opening for writing proves the path is writable
        healthy &= _check(out, True, f"DuckDB file {path} writable")
    except (WarehouseError, OSError) as exc:
        healthy &= _check(out, False, f"DuckDB file {path} writable", str(exc))
    healthy &= _check_free_space(out, path.parent, needed)
    return 0 if healthy else 1


def _check_free_space(out: TextIO, directory: Path, needed: int | None) -> bool:
    """Free space beside the DuckDB files against what a sync needs there (``None``: unknown
    before the first sync)."""
    free = free_space(directory)
    label = f"free space in {directory}"
    if needed is None:
        detail = "a first sync needs about 4.5 times the file it builds (README: Disk space)"
        return _check(out, None, label, f"{megabytes(free)} free; {detail}")
    detail = (
        f"{megabytes(free)} free; a sync needs {megabytes(needed)} (a copy of the sync's file "
        "to publish, and as much again for what a run writes), one that rewrites every "
        f"document up to {megabytes(needed * 9 // 4)}"
    )
    return _check(out, free >= needed, label, detail)


def print_demo_report(warehouse: Warehouse, out: TextIO) -> None:
    from papra_pipeline.warehouse.figures import example_results

    with warehouse.read() as con:
        for title, result in example_results(con):
            print(f"\n{title}", file=out)
            print(result.to_string(index=False), file=out)


def cmd_demo(args: argparse.Namespace) -> int:
    """The full sync job of the Dagster definitions users deploy, against a generated fake."""
    from papra_pipeline.demo import demo_env, run_demo_ui, run_full_sync_job
    from papra_pipeline.testing import FakePapra, populate, serve
    from papra_pipeline.warehouse import Warehouse

    fake = FakePapra()
    print(f"Generating a demo Papra with {args.documents} documents...", file=sys.stderr)
    populate(fake, organizations=2, documents=args.documents, seed=args.seed)
    warehouse = Warehouse(Path(args.db or DEMO_DB).resolve())
    with serve(fake) as base_url:
        env = demo_env(
            base_url, fake.api_key, warehouse.path, email=fake.email, password=fake.password
        )
        if args.ui:
            print(
                f"Fake Papra at {base_url}; Dagster UI at http://127.0.0.1:{args.port} "
                "(Ctrl-C stops both)",
                file=sys.stderr,
            )
            return run_demo_ui(env, port=args.port)
        print(
            f"Running papra_full_sync_job, the Dagster job you deploy, into {warehouse.path}:",
            file=sys.stderr,
        )
        result = run_full_sync_job(env)
    if not result.success:
        print("error: the demo sync job failed (its steps said why above)", file=sys.stderr)
        return 1
    checks = result.get_asset_check_evaluations()
    print(
        f"Done: {len(result.get_asset_materialization_events())} assets materialized, "
        f"{sum(c.passed for c in checks)} of {len(checks)} checks passed.",
        file=sys.stderr,
    )
    print_demo_report(warehouse, sys.stdout)
    print(
        f"\nThe warehouse is {warehouse.path}: query it with the DuckDB CLI or, in Python, "
        f"duckdb.connect({str(warehouse.path)!r}, read_only=True); the README lists the tables."
    )
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The dashboard of the readers' file, read-only, on 127.0.0.1."""
    from papra_pipeline import dashboard

    if not dashboard.streamlit_installed():
        print(dashboard.INSTALL_HINT, file=sys.stderr)
        return 1
    settings = Settings.from_env()
    db = Path(args.db or settings.duckdb_path).resolve()
    print(f"Dashboard of {db} at http://127.0.0.1:{args.port} (Ctrl-C stops it)", file=sys.stderr)
    return dashboard.serve(db, port=args.port, freshness_hours=settings.freshness_hours)


def cmd_fake_server(args: argparse.Namespace) -> int:
    from papra_pipeline.testing import run_fake_server

    run_fake_server(
        host=args.host,
        port=args.port,
        seed=args.seed,
        documents=args.documents,
        organizations=args.organizations,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="papra-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")
    commands = parser.add_subparsers(dest="command", required=True)

    sync_parser = commands.add_parser("sync", help="sync Papra into DuckDB")
    mode = sync_parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="scan everything (default)")
    mode.add_argument("--quick", action="store_true", help="newest pages, trash and statistics")
    sync_parser.add_argument("--organization", action="append", metavar="ID", help="repeatable")
    sync_parser.add_argument("--db", help=f"DuckDB file (PAPRA_DUCKDB_PATH, default {DEFAULT_DB})")
    sync_parser.add_argument("--no-content", action="store_true", help="do not store text")
    sync_parser.add_argument(
        "--verify",
        action="store_true",
        help="with a full sync: re-read the text and activity of every document (two requests "
        "per document), for changes the document list cannot show",
    )
    sync_parser.add_argument(
        "--lock-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait while another process writes the DuckDB file (default 30)",
    )
    sync_parser.set_defaults(func=cmd_sync)

    doctor = commands.add_parser("doctor", help="check URL, key, permissions and DuckDB path")
    doctor.add_argument("--db", help="DuckDB file to check")
    doctor.set_defaults(func=cmd_doctor)

    demo = commands.add_parser(
        "demo", help="run the Dagster full sync job on a generated fake Papra into a local file"
    )
    demo.add_argument("--db", help=f"DuckDB file (default {DEMO_DB})")
    demo.add_argument("--documents", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--ui", action="store_true", help="also start the Dagster UI on the data")
    demo.add_argument("--port", type=int, default=3000, help="Dagster UI port (with --ui)")
    demo.set_defaults(func=cmd_demo)

    dashboard = commands.add_parser(
        "dashboard", help="serve a dashboard of the warehouse on 127.0.0.1 (read-only)"
    )
    dashboard.add_argument("--db", help=f"DuckDB file (PAPRA_DUCKDB_PATH, default {DEFAULT_DB})")
    dashboard.add_argument("--port", type=int, default=3400, help="port (default 3400)")
    dashboard.set_defaults(func=cmd_dashboard)

    fake = commands.add_parser("fake-server", help="serve a generated fake Papra on loopback")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8765)
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--documents", type=int, default=2000)
    fake.add_argument("--organizations", type=int, default=2)
    fake.set_defaults(func=cmd_fake_server)

    webhooks_cli.add_parser(commands)
    rules_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # The client logs each request itself; httpcore's debug lines add nothing to that but
    # every response's headers, among them the session cookie a login receives.
    logging.getLogger("httpcore").setLevel(logging.INFO)
    try:
        return args.func(args)
    except (PapraError, WarehouseError, SyncError, ValueError) as exc:
        return _failed(args, str(exc))
    except Exception as exc:
        # A file outside the warehouse's care (the run's scratch staging file in the
        # temporary directory) on a full or read-only disk: one line all the same.
        fault = disk_fault(exc)
        if fault is None:
            raise
        if Path(fault.path).is_relative_to(tempfile.gettempdir()):
            advice = fault.advice(setting="TMPDIR")
            return _failed(args, f"{fault} (the run's scratch file); {advice}.")
        return _failed(args, f"{fault}; {fault.advice()}.")
    except InterruptedAfterCommit:
        print(
            "interrupted while publishing: this run is saved, and the next sync gives it to "
            "readers",
            file=sys.stderr,
        )
        return 130
    except KeyboardInterrupt:
        print("interrupted: nothing was written by this run", file=sys.stderr)
        return 130


def _failed(args: argparse.Namespace, message: str) -> int:
    """One line saying what failed and what to do; with -v, where it failed first."""
    if args.verbose:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
