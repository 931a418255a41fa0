"""One measurement in a fresh process: ``python -m benchmarks.worker SPEC.json OUT.json``.

A fresh process per measurement makes peak RSS (``ru_maxrss``) and CPU time belong to that
scenario alone. Wall and CPU time cover the operation only: the modules it needs are imported
first and their time is reported on its own (``import_seconds``), for our sync as for the
floor.
``SPEC`` is ``{"kind": ..., ...}``; kinds: ``sync`` (the command's code path), ``dagster``
(``papra_full_sync_job`` in process), ``floor`` (plain httpx replay of a URL list),
``text_floor`` (the same replay, storing each document's text in a DuckDB file), ``dlt``
(a generic dlt ``rest_api`` pipeline) and ``merge`` (bulk ``upsert`` throughput beside a bare
DuckDB doing the same work).
With ``"profile": "path.html"`` the operation runs under pyinstrument and the report is saved.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _rows_written_from_run_log(db: str) -> dict[str, Any]:
    """Rows written by the last run, from the warehouse's own run log (same definition as
    ``SyncResult.rows_written``: statistics snapshots excluded)."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        run_id, requests = con.execute(
            "SELECT run_id, requests FROM _papra_sync_runs ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()[0]
        (written,) = con.execute(
            """SELECT coalesce(sum(inserted + updated + trashed + restored + purged + removed), 0)
               FROM _papra_sync_run_streams
               WHERE run_id = ? AND stream <> 'organization_statistics'""",
            [run_id],
        ).fetchall()[0]
        return {"rows_written": int(written), "client_requests": int(requests)}
    finally:
        con.close()


def run_sync(spec: dict) -> dict:
    from papra_pipeline.cli import run_sync as cli_run_sync
    from papra_pipeline.client import PapraClient
    from papra_pipeline.sync import SyncOptions
    from papra_pipeline.warehouse import Warehouse

    options = SyncOptions(
        mode=spec.get("mode", "full"),
        content=spec.get("content", True),
        reverify_period=timedelta(days=spec.get("reverify_days", 7)),
        verify=spec.get("verify", False),
    )
    out, err = io.StringIO(), io.StringIO()
    warehouse = Warehouse(spec["db"])
    with PapraClient(spec["url"], spec["api_key"], max_concurrency=spec.get("concurrency", 8)) \
            as client:
        result = cli_run_sync(client, warehouse, options, out=out, err=err)
    published = warehouse.last_publication
    return {
        "client_requests": result.requests,
        "rows_written": result.rows_written,
        "retries": result.retries,
        # The readers' copy (checkpoint, copy, rename); 0 when the run published nothing.
        "publish_seconds": published.seconds if published else 0.0,
        "publish_method": published.method if published else None,
        "readers_file_mb": warehouse.path.stat().st_size / 1e6,
        "sync_file_mb": warehouse.private_path.stat().st_size / 1e6,
        "streams": {
            name: {k: v for k, v in vars(s).items() if v}
            for name, s in result.streams.items()
            if s.requests or s.written or s.unchanged
        },
    }


def run_dagster(spec: dict) -> dict:
    from papra_pipeline.demo import demo_env, run_full_sync_job

    env = demo_env(spec["url"], spec["api_key"], spec["db"])
    result = run_full_sync_job(env)
    if not result.success:
        raise RuntimeError("papra_full_sync_job failed")
    return {"dagster_success": True}


def run_floor(spec: dict, keep: Callable[[Any], None] | None = None) -> dict:
    """Exactly the given GET requests, ``concurrency`` at a time, decoding the JSON only
    (with orjson, the decoder our client uses: a slower decoder here would flatter us);
    ``keep`` gets each decoded body, in the requests' threads."""
    import httpx
    import orjson

    with open(spec["urls"]) as f:
        urls = json.load(f)
    workers = spec.get("concurrency", 8)
    client = httpx.Client(
        base_url=spec["url"],
        headers={"Authorization": f"Bearer {spec['api_key']}", "Accept": "application/json"},
        limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
        timeout=60,
    )

    def fetch(entry: list) -> int:
        _method, path, query = entry
        response = client.get(path, params=query)
        response.raise_for_status()
        body = orjson.loads(response.content)
        if keep is not None:
            keep(body)
        return 1

    with client, ThreadPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(fetch, urls))
    return {"client_requests": done, "rows_written": 0}


def run_text_floor(spec: dict) -> dict:
    """The floor's requests, plus each document's text appended to a table of a new DuckDB
    file with DuckDB's defaults, in committed batches of 8 MB written by a thread of their
    own while the requests go on: the least a sync that keeps the texts in DuckDB has to do on
    top of fetching them. It stores each text once, and merges, stages and publishes nothing;
    its memory is not bounded (DuckDB keeps what it committed until a checkpoint)."""
    import queue
    import threading

    import duckdb
    import pandas as pd

    batches: queue.Queue[list[tuple[str, str]] | None] = queue.Queue(maxsize=2)
    pending: list[tuple[str, str]] = []
    size = 0
    lock = threading.Lock()
    stored = [0]

    failure: list[BaseException] = []

    def write() -> None:
        with duckdb.connect(spec["db"]) as con:
            con.execute("CREATE TABLE texts (id VARCHAR, content VARCHAR)")
            while (batch := batches.get()) is not None:
                if failure:
                    continue  # only drain, so that no request thread waits forever
                try:
                    con.register("batch", pd.DataFrame(batch, columns=["id", "content"]))
                    con.execute("INSERT INTO texts SELECT * FROM batch")
                    con.unregister("batch")
                    stored[0] += len(batch)
                except BaseException as exc:
                    failure.append(exc)

    def keep(body: Any) -> None:
        nonlocal pending, size
        document = body.get("document") if isinstance(body, dict) else None
        if not isinstance(document, dict) or not document.get("content"):
            return
        with lock:
            pending.append((document["id"], document["content"]))
            size += len(document["content"])
            if size >= 8 * 2**20:
                batches.put(pending)
                pending, size = [], 0

    writer = threading.Thread(target=write, name="text-floor-writer")
    writer.start()
    try:
        result = run_floor(spec, keep)
        if pending:
            batches.put(pending)
    finally:
        batches.put(None)
        writer.join()
    if failure:
        raise failure[0]
    return {**result, "rows_written": stored[0]}


def run_dlt(spec: dict) -> dict:
    """A generic dlt ``rest_api`` pipeline: organizations -> documents pages -> activity."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {
            "base_url": spec["url"] + "/api/",
            "auth": {"type": "bearer", "token": spec["api_key"]},
        },
        "resource_defaults": {"write_disposition": "replace"},
        "resources": [
            {
                "name": "organizations",
                "endpoint": {"path": "organizations", "data_selector": "organizations",
                             "paginator": "single_page"},
            },
            {
                "name": "documents",
                "endpoint": {
                    "path": "organizations/{resources.organizations.id}/documents",
                    "params": {"pageSize": 100, "sortField": "createdAt", "sortOrder": "asc"},
                    "data_selector": "documents",
                    "paginator": {"type": "page_number", "base_page": 0,
                                  "page_param": "pageIndex", "total_path": None},
                },
            },
            {
                "name": "document_activity",
                "endpoint": {
                    "path": "organizations/{resources.documents.organizationId}/documents/"
                            "{resources.documents.id}/activity",
                    "params": {"pageSize": 100},
                    "data_selector": "activities",
                    "paginator": "single_page",
                },
                **({"parallelized": True} if spec.get("parallelized") else {}),
            },
        ],
    })
    pipeline = dlt.pipeline(
        pipeline_name="papra_bench",
        destination=dlt.destinations.duckdb(spec["db"]),
        dataset_name="papra",
        pipelines_dir=spec["pipelines_dir"],
    )
    info = pipeline.run(source)
    rows = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
    written = sum(v for k, v in rows.items() if not k.startswith("_dlt"))
    return {"rows_written": int(written), "row_counts": dict(rows),
            "loads": len(info.load_packages)}


def run_merge(spec: dict) -> dict:
    """Bulk merge throughput on ``documents``: insert N rows into an empty file, then rewrite
    all N (every ``_hash`` changed), each timed with ``Warehouse.write()`` (open, migrate check,
    commit, close) included and also without it (``upsert_only_*``).

    The main figures take the sync's path: the rows are staged in a scratch file first, as the
    sync does while fetching (not timed), then ``write(staging)`` + ``upsert_documents``. The
    ``frame_*`` figures take ``upsert("documents", frame)`` on a pandas frame (this scenario's
    path before 2026-11-28; the sync only uses frames for small tables), which pays for
    converting Python objects and casting them, ``_raw`` to JSON in particular. Then the same
    staged rows measure DuckDB's own floor (:func:`_duckdb_floor`), and ``*_x_duckdb_floor`` is
    our seconds over the floor's (statement-only figures compared with statement-only).
    """
    import duckdb

    from papra_pipeline.warehouse import Staging, Warehouse

    columns = ["id", "organization_id", "name", "original_name", "mime_type", "original_size",
               "original_sha256_hash", "document_date", "notes", "created_at", "updated_at",
               "created_by", "is_deleted", "deleted_at", "deleted_by", "purged_at", "_hash",
               "_raw"]  # what the sync's documents upsert carries (content goes separately)
    con = duckdb.connect(spec["source_db"], read_only=True)
    frame = con.execute(f"SELECT {', '.join(columns)} FROM documents").df()
    con.close()
    rows = len(frame)
    now = datetime.now(UTC)
    result: dict[str, Any] = {"rows": rows, "rows_written": rows * 2, "counts": {}}
    edited = frame.assign(_hash=frame["_hash"] + "x", name=frame["name"] + " (edited)")
    stagings: dict[str, Staging] = {}  # kept for the floor, which reads the same staged rows
    try:
        for path in ("staged", "frame"):
            db = Path(spec["db"] if path == "staged" else f"{spec['db']}.frame.duckdb")
            for leftover in (db, Path(f"{db}.wal")):
                leftover.unlink(missing_ok=True)
            warehouse = Warehouse(db)
            warehouse.ensure_schema()
            prefix = "" if path == "staged" else "frame_"
            for label, data in (("insert", frame), ("update", edited)):
                staging = None
                if path == "staged":
                    staging = stagings[label] = Staging(db.parent, batch_rows=20_000)
                    records = data.astype(object).where(data.notna(), None).to_dict("records")
                    staging.add("documents", "documents", records)
                    staging.close()
                started = time.perf_counter()
                with warehouse.write(staging) as session:
                    opened = time.perf_counter()
                    if staging is None:
                        counts = session.upsert("documents", data, now)
                    else:
                        counts, _ = session.upsert_documents(staging.staged("documents"), None, now)
                    merged = time.perf_counter() - opened
                seconds = time.perf_counter() - started
                result["counts"][prefix + label] = {"inserted": counts.inserted,
                                                    "updated": counts.updated}
                result[f"{prefix}{label}_seconds"] = seconds
                result[f"{prefix}upsert_only_{label}_seconds"] = merged
                result[f"{prefix}{label}_rows_per_second"] = rows / seconds
                result[f"{prefix}upsert_only_{label}_rows_per_second"] = rows / merged
        result["peak_rss_mb_before_duckdb_floor"] = _peak_rss_mb()
        floor = _duckdb_floor(Path(f"{spec['db']}.floor.duckdb"), stagings, columns, now)
    finally:
        for staging in stagings.values():
            staging.remove()
    result |= floor
    for label in ("insert", "update"):
        if f"duckdb_floor_{label}_seconds" in floor:
            for ours, theirs in (("", ""), ("upsert_only_", "statement_")):
                result[f"{ours}{label}_x_duckdb_floor"] = (
                    result[f"{ours}{label}_seconds"]
                    / floor[f"duckdb_floor_{theirs}{label}_seconds"])
    return result


def _duckdb_floor(db: Path, stagings: dict[str, Any], columns: list[str], now: datetime) -> dict:
    """What DuckDB itself does with the same rows, to judge our merge figures against.

    With about 2 KB of ``_raw`` per row, DuckDB's own commit of 100,000 documents takes
    seconds on a small machine, so a rows/s target says little until it stands beside a bare
    DuckDB doing the same work in the same process (as the HTTP floor does for requests). On a
    fresh file of our schema, with the settings ``Warehouse.write()`` uses, each in its own
    connection and transaction: ``insert`` is one ``INSERT INTO documents ... SELECT`` from
    the staged insert rows; ``update`` is one in-place ``UPDATE documents ... FROM`` the staged
    rewritten rows, setting every column our merge writes (an upsert does not know which ones
    changed). Timed in full (connect, settings, attach, statement, commit, close) and for the
    statement alone. An in-place update keeps what it changes in memory that cannot spill (the
    reason our merge deletes and inserts again); if it runs out under the memory limit, the
    error is recorded as ``duckdb_floor_update_error`` instead of a time.
    """
    import duckdb

    from papra_pipeline.warehouse import Warehouse

    for leftover in (db, Path(f"{db}.wal")):
        leftover.unlink(missing_ok=True)
    warehouse = Warehouse(db)
    warehouse.ensure_schema()
    tracking = ["_first_seen_at", "_last_changed_at", "_synced_at"]
    sets = [f'"{c}" = s."{c}"' for c in columns if c != "id"]
    statements = {
        "insert": f"""INSERT INTO documents ({", ".join(f'"{c}"' for c in columns + tracking)})
                      SELECT {", ".join(f's."{c}"' for c in columns)}, $now, $now, $now
                      FROM staged.documents s""",
        "update": f"""UPDATE documents t SET {", ".join(sets)}, _last_changed_at = $now,
                      _synced_at = $now FROM staged.documents s WHERE t.id = s.id""",
    }
    out: dict[str, Any] = {}
    for label, sql in statements.items():
        if "duckdb_floor_insert_error" in out:  # nothing to update
            out["duckdb_floor_update_error"] = "skipped: the floor's insert failed"
            break
        started = time.perf_counter()
        con = duckdb.connect(str(db))
        try:
            con.execute(f"SET memory_limit = '{warehouse.write_memory_limit}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            con.execute(f"ATTACH '{stagings[label].path}' AS staged (READ_ONLY)")
            con.execute("BEGIN TRANSACTION")
            statement_started = time.perf_counter()
            rows = con.execute(sql, {"now": now}).fetchall()[0][0]
            statement = time.perf_counter() - statement_started
            con.execute("COMMIT")
        except duckdb.OutOfMemoryException as exc:
            out[f"duckdb_floor_{label}_error"] = str(exc).splitlines()[0]
            continue
        finally:
            con.close()
        seconds = time.perf_counter() - started
        out |= {f"duckdb_floor_{label}_seconds": seconds,
                f"duckdb_floor_statement_{label}_seconds": statement,
                f"duckdb_floor_{label}_rows_per_second": rows / seconds,
                f"duckdb_floor_statement_{label}_rows_per_second": rows / statement}
    return out


# What each kind imports before its clock starts (a one-off cost of the process, not of the
# sync: a Dagster code server or a long-lived caller pays it once).
IMPORTS: dict[str, tuple[str, ...]] = {
    # The packages load their heavy modules on first use; these are what a sync uses.
    "sync": ("papra_pipeline.cli", "papra_pipeline.client", "papra_pipeline.sync.engine",
             "papra_pipeline.sync.webhooks", "papra_pipeline.warehouse.store",
             "papra_pipeline.warehouse.writes"),
    "dagster": ("papra_pipeline.demo",),
    "floor": ("httpx", "orjson"),
    "text_floor": ("httpx", "orjson", "duckdb", "pandas"),
    "dlt": ("dlt", "dlt.sources.rest_api"),
    "merge": ("duckdb", "pandas", "papra_pipeline.warehouse.store",
              "papra_pipeline.warehouse.writes"),
}

KINDS: dict[str, Callable[[dict], dict]] = {
    "sync": run_sync,
    "dagster": run_dagster,
    "floor": run_floor,
    "text_floor": run_text_floor,
    "dlt": run_dlt,
    "merge": run_merge,
}


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux carries ``ru_maxrss`` across exec, so a worker started by
    a large parent would report the parent's size; ``VmHWM`` belongs to this process image."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    operation = KINDS[spec["kind"]]
    imports_started = time.perf_counter()
    for module in IMPORTS[spec["kind"]]:
        importlib.import_module(module)
    import_seconds = time.perf_counter() - imports_started
    profiler = None
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002, async_mode="disabled")
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if profiler is not None:
        profiler.start()
    try:
        result = operation(spec)
    finally:
        if profiler is not None:
            profiler.stop()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if spec["kind"] in ("sync", "dagster"):
        result = {**_rows_written_from_run_log(spec["db"]), **result}
    if profiler is not None:
        with open(spec["profile"], "w") as f:
            f.write(profiler.output_html())
        with open(spec["profile"].removesuffix(".html") + ".txt", "w") as f:
            f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    result |= {
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": _peak_rss_mb(),
        "import_seconds": import_seconds,
        "pid": os.getpid(),
    }
    with open(out_path, "w") as f:
        json.dump(result, f, default=str)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main(sys.argv[1:]))
