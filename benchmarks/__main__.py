"""``python -m benchmarks``: papra-pipeline side by side with the HTTP floor (issue 5).

Starts the fake Papra in its own process, then measures each scenario ``--repeat`` times, each
in a fresh worker process (``benchmarks/worker.py``), and prints a table plus a JSON file under
``benchmarks/results/``. Request counts come from the server's own log, so they are the same
for our sync, the Dagster job, the floor and dlt. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import formats, startup
from benchmarks.processes import CHILD_ENV, BenchServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CONCURRENCY = 8


def use_source(revision: str, workdir: Path) -> dict:
    """Measure ``papra_pipeline`` as committed at ``revision`` (not the working tree, which
    others may be editing): extract it with ``git archive`` and put it first on PYTHONPATH."""
    target = workdir / "src"
    target.mkdir()
    archive = subprocess.run(["git", "archive", revision, "papra_pipeline"], cwd=HERE.parent,
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join([str(target), str(HERE.parent)])
    sys.path.insert(0, str(target))  # the mutations below use the same client
    commit = subprocess.run(["git", "rev-parse", revision], cwd=HERE.parent, check=True,
                            capture_output=True, text=True).stdout.strip()
    return {"source": revision, "commit": commit}


def working_tree() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True,
                              text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "papra_pipeline")
    return {"source": "working tree", "commit": git("rev-parse", "HEAD"),
            "dirty": bool(dirty)}


# --------------------------------------------------------------------------------- runs


@dataclass
class Scenario:
    """One row of the table: repeated measurements of the same thing."""

    name: str
    label: str
    runs: list[dict] = field(default_factory=list)
    floor: str | None = None  # name of the floor scenario it is compared with
    urls: list | None = None  # the GET requests of its first run (for its floor)
    by_route: dict | None = None
    note: str = ""

    def stat(self, key: str) -> dict[str, float] | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        if not values:
            return None
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}


class Bench:
    def __init__(self, args: argparse.Namespace, server: BenchServer, workdir: Path) -> None:
        self.args = args
        self.server = server
        self.workdir = workdir
        self.scenarios: dict[str, Scenario] = {}
        self.failures: dict[str, str] = {}  # paired scenarios that failed: their error
        self._counter = 0

    def path(self, name: str) -> Path:
        return self.workdir / name

    def _worker(self, spec: dict) -> dict:
        self._counter += 1
        spec_path = self.path(f"spec-{self._counter}.json")
        out_path = self.path(f"out-{self._counter}.json")
        spec = {"url": self.server.url, "api_key": self.server.api_key,
                "concurrency": CONCURRENCY, **spec}
        spec_path.write_text(json.dumps(spec))
        log_path = self.path(f"worker-{self._counter}.log")
        with open(log_path, "w") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", str(spec_path), str(out_path)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, check=False,
                env=CHILD_ENV,
            )
        if proc.returncode != 0:
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"worker {spec['kind']} failed ({proc.returncode}):\n{tail}")
        return json.loads(out_path.read_text())

    def measure(self, name: str, label: str, spec: dict, *, prepare=None, floor: str | None = None,
                repeat: int | None = None, keep_urls: bool = True, note: str = "",
                paired: list[tuple[str, str, dict, Any]] | None = None,
                with_floor: bool = False) -> Scenario:
        """Run ``spec`` ``repeat`` times; ``prepare(i)`` returns spec overrides (fresh DB...).

        With ``with_floor`` each run is followed by one run of its floor (the first run's GET
        requests replayed), and each ``paired`` scenario (name, label, spec, prepare) runs once
        after that: the runs a ratio compares alternate, so a machine that slows down for a
        while slows both sides instead of one. A paired scenario that fails is reported in
        ``failures`` and left out of the later rounds.
        """
        scenario = self.scenarios.setdefault(name, Scenario(name, label, floor=floor, note=note))
        for i in range(repeat or self.args.repeat):
            self._run_once(scenario, spec, prepare(i) if prepare else {}, keep_urls)
            if with_floor:
                self.floor_for(scenario)
            for other_name, other_label, other_spec, other_prepare in paired or ():
                if other_name in self.failures:
                    continue
                other = self.scenarios.setdefault(
                    other_name, Scenario(other_name, other_label, floor=scenario.floor))
                try:
                    self._run_once(other, other_spec, other_prepare(i), keep_urls)
                except RuntimeError as exc:
                    self.scenarios.pop(other_name)
                    self.failures[other_name] = str(exc)[-1500:]
                    print(f"  {other_label} FAILED: {str(exc)[-400:]}", flush=True)
        return scenario

    def _run_once(self, scenario: Scenario, spec: dict, overrides: dict, keep_urls: bool) -> None:
        self.server.reset()
        result = self._worker({**spec, **overrides})
        log = self.server.log()
        result["requests"] = log["count"]
        if scenario.urls is None and keep_urls:
            scenario.urls = [r for r in log["requests"] if r[0] == "GET"]
            scenario.by_route = log["by_route"]
        scenario.runs.append(result)
        print(f"  {scenario.label:<46} run {len(scenario.runs)}: "
              f"{result['wall_seconds']:7.2f}s {result['requests']:>7} requests "
              f"{result.get('rows_written', 0):>8} rows {result['peak_rss_mb']:6.0f} MB",
              flush=True)

    def floor_for(self, scenario: Scenario) -> Scenario:
        """One replay of the scenario's own GET requests with plain httpx (its floor)."""
        name = f"floor:{scenario.name}"
        urls_path = self.path(f"urls-{scenario.name}.json")
        if not urls_path.exists():
            urls_path.write_text(json.dumps(scenario.urls))
        floor = self.measure(name, f"floor ({scenario.label})", {"kind": "floor",
                                                                  "urls": str(urls_path)},
                             keep_urls=False, repeat=1)
        scenario.floor = name
        return floor

    def fresh_db(self, tag: str, source: Path | None = None):
        def prepare(i: int) -> dict:
            db = self.path(f"{tag}-{i}.duckdb")
            for leftover in (db, Path(f"{db}.wal"), *_sync_files(db)):
                leftover.unlink(missing_ok=True)
            if source is not None:
                _copy_to_disk(source, db)
            return {"db": str(db)}
        return prepare

    def profile(self, name: str, spec: dict, prepare) -> str:
        html = RESULTS / f"profile-{name}-n{self.args.documents}.html"
        self.server.reset()
        self._worker({**spec, **prepare(99), "profile": str(html)})
        return str(html)


def _sync_files(db: Path) -> list[Path]:
    """The files a sync keeps beside the readers' file ``db``: its own file and the record of
    what was published (see papra_pipeline.warehouse.publish)."""
    from papra_pipeline.warehouse.publish import WarehouseFiles

    files = WarehouseFiles(db)
    return [files.private, files.state]


def _copy_to_disk(source: Path, target: Path) -> None:
    """Copy a warehouse (the readers' file and the sync's own) and flush the copies to disk
    before the clock starts.

    A plain copy leaves the whole file (hundreds of MB at N = 100,000) in dirty pages, and the
    measured run's first commit fsyncs the file: a no-op sync paid ~0.13 s of writing out a copy
    it never made. A user's warehouse has been on disk since the last sync. Modification times
    are kept, so the sync recognizes the readers' file as the one it published.
    """
    pairs = [(source, target), *zip(_sync_files(source), _sync_files(target), strict=True)]
    for source_file, target_file in pairs:
        if source_file.exists():
            shutil.copy2(source_file, target_file)
            with open(target_file, "rb+") as copy:
                os.fsync(copy.fileno())


# --------------------------------------------------------------------------------- mutations


def _client(server: BenchServer):
    from papra_pipeline.client import PapraClient

    return PapraClient(server.url, server.api_key, max_concurrency=CONCURRENCY)


def upload_documents(server: BenchServer, count: int, seed: int) -> None:
    """``count`` new text documents, round-robin over the organizations, via the real API."""
    orgs = server.summary["organizations"]
    with _client(server) as client:
        def upload(i: int) -> None:
            body = f"Benchmark upload {seed}-{i}\n{'lorem ipsum ' * 150}".encode()
            client.upload_document(orgs[i % len(orgs)], f"bench-upload-{seed}-{i}.txt", body,
                                   "text/plain")
        client.map_concurrent(upload, range(count))


def edit_documents(server: BenchServer, db: Path, fraction: float, seed: int) -> dict:
    """Edit ``fraction`` of the live documents via the API: a third renamed, a third tagged,
    a third with a custom property changed. Ids, tags and definitions come from ``db``."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    docs = con.execute(
        "SELECT id, organization_id FROM documents WHERE NOT is_deleted AND purged_at IS NULL "
        "ORDER BY id").fetchall()
    tags_of: dict[str, set] = {}
    for doc_id, tag_id in con.execute("SELECT document_id, tag_id FROM document_tags").fetchall():
        tags_of.setdefault(doc_id, set()).add(tag_id)
    org_tags: dict[str, list] = {}
    for org, tag_id in con.execute(
            "SELECT organization_id, id FROM tags WHERE NOT is_removed ORDER BY id").fetchall():
        org_tags.setdefault(org, []).append(tag_id)
    reference = dict(con.execute(
        "SELECT organization_id, id FROM custom_property_definitions "
        "WHERE key = 'reference' AND NOT is_removed").fetchall())
    con.close()
    rng = random.Random(seed)
    chosen = rng.sample(docs, k=max(1, round(len(docs) * fraction)))
    edits = {"renamed": 0, "tagged": 0, "property": 0}

    with _client(server) as client:
        def edit(item: tuple[int, tuple[str, str]]) -> str:
            i, (doc_id, org) = item
            if i % 3 == 0:
                client.update_document(org, doc_id, name=f"renamed-by-bench-{seed}-{i}.pdf")
                return "renamed"
            if i % 3 == 1:
                free = [t for t in org_tags[org] if t not in tags_of.get(doc_id, set())]
                client.add_tag_to_document(org, doc_id, free[i % len(free)])
                return "tagged"
            client.set_document_custom_property(org, doc_id, reference[org], f"EDIT-{seed}-{i}",
                                                type="text")
            return "property"

        for kind in client.map_concurrent(edit, list(enumerate(chosen))):
            edits[kind] += 1
    edits["documents"] = len(chosen)
    return edits


# --------------------------------------------------------------------------------- report


def _fmt(stat: dict | None, spec: str = ".2f") -> str:
    if stat is None:
        return "-"
    return f"{stat['median']:{spec}} [{stat['min']:{spec}}-{stat['max']:{spec}}]"


def summarize(bench: Bench, n: int) -> list[dict]:
    rows = []
    for s in bench.scenarios.values():
        if s.name.startswith("merge"):
            continue
        wall = s.stat("wall_seconds")
        floor = bench.scenarios.get(s.floor) if s.floor else None
        floor_wall = floor.stat("wall_seconds") if floor else None
        documents = s.runs[0].get("documents_synced", n)
        rows.append({
            "scenario": s.name,
            "label": s.label,
            "repeat": len(s.runs),
            "wall_seconds": wall,
            "cpu_seconds": s.stat("cpu_seconds"),
            "import_seconds": s.stat("import_seconds"),  # before the clock starts, not in wall
            "requests": s.stat("requests"),
            "rows_written": s.stat("rows_written"),
            "documents_per_second": (documents / wall["median"]) if wall else None,
            "floor": s.floor,
            "floor_wall_seconds": floor_wall,
            "ratio_to_floor": (wall["median"] / floor_wall["median"]) if floor_wall else None,
            # Run i over floor run i: the runs alternate, so each pair shared the machine's mood.
            "ratio_to_floor_by_round": [
                round(r["wall_seconds"] / f["wall_seconds"], 3)
                for r, f in zip(s.runs, floor.runs, strict=False)
            ] if floor else None,
            "peak_rss_mb": s.stat("peak_rss_mb"),
            "publish_seconds": s.stat("publish_seconds"),
            "publish_share_of_wall": (
                s.stat("publish_seconds")["median"] / wall["median"]
                if s.stat("publish_seconds") and wall else None
            ),
            "readers_file_mb": s.stat("readers_file_mb"),
            "sync_file_mb": s.stat("sync_file_mb"),
            "by_route": s.by_route,
            "note": s.note,
            "runs": s.runs,
        })
    return rows


def print_table(rows: list[dict]) -> None:
    header = (f"{'scenario':<44}{'wall s median [min-max]':>26}{'requests':>10}{'rows':>9}"
              f"{'docs/s':>9}{'floor s':>9}{'x floor':>8}{'cpu s':>8}{'RSS MB':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = f"{r['ratio_to_floor']:.2f}" if r["ratio_to_floor"] else "-"
        floor = f"{r['floor_wall_seconds']['median']:.2f}" if r["floor_wall_seconds"] else "-"
        dps = f"{r['documents_per_second']:.0f}" if r["documents_per_second"] else "-"
        print(f"{r['label']:<44}{_fmt(r['wall_seconds']):>26}"
              f"{r['requests']['median']:>10.0f}{r['rows_written']['median']:>9.0f}{dps:>9}"
              f"{floor:>9}{ratio:>8}{r['cpu_seconds']['median']:>8.1f}"
              f"{r['peak_rss_mb']['max']:>8.0f}")


def print_publish(rows: list[dict]) -> None:
    """What publishing the readers' file added to each sync, and the disk it takes."""
    measured = [r for r in rows if r["publish_seconds"]]
    if not measured:
        return
    print("\npublish (checkpoint, copy of the sync's file, rename over the readers' file):")
    for r in measured:
        seconds, share = r["publish_seconds"]["median"], r["publish_share_of_wall"]
        print(f"  {r['label']:<44}{seconds:8.3f}s of {r['wall_seconds']['median']:8.2f}s"
              f" ({share:.1%})  readers' file {r['readers_file_mb']['max']:.0f} MB,"
              f" sync's file {r['sync_file_mb']['max']:.0f} MB")


def targets(bench: Bench, rows: list[dict], n: int, facts: dict) -> list[dict]:
    """Issue 5's targets, each with the measured figure and whether it is met at this N."""
    by = {r["scenario"]: r for r in rows}
    out = []

    def add(target: str, measured: Any, limit: Any, met: bool) -> None:
        out.append({"target": target, "measured": measured, "limit": limit, "met": bool(met)})

    if "full_command" in by and by["full_command"]["ratio_to_floor"]:
        r = by["full_command"]["ratio_to_floor"]
        add("full initial sync (command) within 1.3x floor", round(r, 3), 1.3, r <= 1.3)
    if "full_dagster" in by and by["full_dagster"]["ratio_to_floor"]:
        r = by["full_dagster"]["ratio_to_floor"]
        add("full initial sync (Dagster job) within 1.3x floor", round(r, 3), 1.3, r <= 1.3)
    # The slice is sized by time (PAPRA_REVERIFY_DAYS); runs minutes apart re-read nothing.
    for key in ("noop_full_slice_off",):
        if key not in by:
            continue
        row = by[key]
        budget = facts["list_pages"] + facts["trash_pages"] + 10 * facts["organizations"]
        req = row["requests"]["max"]
        add(f"{row['label']}: requests <= list pages + trash pages + 10/org",
            req, budget, req <= budget)
        add(f"{row['label']}: zero rows written", row["rows_written"]["max"], 0,
            row["rows_written"]["max"] == 0)
        if row["ratio_to_floor"]:
            add(f"{row['label']}: within 1.2x its own floor", round(row["ratio_to_floor"], 3),
                1.2, row["ratio_to_floor"] <= 1.2)
    if "full_verify" in by:
        row = by["full_verify"]
        documents = sum(facts["live_per_org"]) + sum(facts["trashed_per_org"])
        budget = (facts["list_pages"] + facts["trash_pages"] + 10 * facts["organizations"]
                  + 2 * documents)
        req = row["requests"]["max"]
        add(f"{row['label']}: requests <= list pages + trash pages + 10/org + 2/document",
            req, budget, req <= budget)
        if row["ratio_to_floor"]:
            add(f"{row['label']}: within 1.3x its own floor", round(row["ratio_to_floor"], 3),
                1.3, row["ratio_to_floor"] <= 1.3)
    if "quick_nochange" in by:
        req = by["quick_nochange"]["requests"]["max"]
        add("quick sync, no change: <= 3 requests per organization", req,
            3 * facts["organizations"], req <= 3 * facts["organizations"])
    if "full_after_edits" in by and "noop_full_reference" in by:
        req = by["full_after_edits"]["requests"]["median"]
        noop = by["noop_full_reference"]["requests"]["median"]
        changed = facts.get("edits", {}).get("documents", 0)
        budget = noop + 2 * changed
        add("full sync after 1% edits: requests <= no-op + 2 per changed document",
            req, budget, req <= budget * 1.02)
    for r in rows:
        if r["publish_seconds"] is None:
            continue
        if r["scenario"].startswith("noop") or r["scenario"] == "quick_nochange":
            add(f"{r['label']}: nothing published", r["publish_seconds"]["max"], 0,
                r["publish_seconds"]["max"] == 0)
        elif r["scenario"].startswith("full") and r["rows_written"]["median"]:
            share = r["publish_share_of_wall"]
            add(f"{r['label']}: publish adds <= 10% of the sync's wall time",
                f"{share:.1%}", "10%", share <= 0.10)
    sync_rows = [r for r in rows if not r["scenario"].startswith(("floor", "dlt"))]
    if sync_rows:
        peak = max(r["peak_rss_mb"]["max"] for r in sync_rows)
        add("peak RSS of every sync <= 400 MB", round(peak), 400, peak <= 400)
    merge = bench.scenarios.get("merge")
    if merge:
        # Beside each rate, what a bare DuckDB does with the same rows in the same worker (the
        # floor: see run_merge), and our time over the floor's.
        for kind, statement in (("insert", "INSERT"), ("update", "UPDATE")):
            rate = statistics.median(r[f"{kind}_rows_per_second"] for r in merge.runs)
            add(f"DuckDB bulk merge on documents ({kind}) >= 200,000 rows/s", round(rate), 200_000,
                rate >= 200_000)
            bare = f"a bare DuckDB {statement}+COMMIT of the same rows"
            floor = merge.stat(f"duckdb_floor_{kind}_rows_per_second")
            if floor is None:
                error = next((r[f"duckdb_floor_{kind}_error"] for r in merge.runs
                              if f"duckdb_floor_{kind}_error" in r), "not measured")
                add(f"  (floor) {bare} >= 200,000 rows/s", error[:120], 200_000, False)
                continue
            add(f"  (floor) {bare} >= 200,000 rows/s", round(floor["median"]), 200_000,
                floor["median"] >= 200_000)
            ratio = merge.stat(f"{kind}_x_duckdb_floor")["median"]
            add(f"DuckDB bulk merge on documents ({kind}) within 1.2x of {bare} (seconds ratio)",
                round(ratio, 3), 1.2, ratio <= 1.2)
    return out


# --------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--documents", type=int, default=None, help="default 20,000")
    parser.add_argument("--large", action="store_true", help="100,000 documents")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 documents, one repetition, no dlt")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median/min/max)")
    parser.add_argument("--dlt-repeat", type=int, default=None,
                        help="runs of the dlt comparison (default: --repeat)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--no-dagster", action="store_true",
                        help="skip the Dagster job (and Dagster's webhook latency)")
    parser.add_argument("--no-webhooks", action="store_true",
                        help="skip the webhook figures (python -m benchmarks.webhooks)")
    parser.add_argument("--no-rules", action="store_true",
                        help="skip the tagging-rule figures (python -m benchmarks.rules)")
    parser.add_argument("--no-longtext", action="store_true",
                        help="skip the long-text figures (python -m benchmarks.longtext)")
    parser.add_argument("--no-deployed", action="store_true",
                        help="skip the deployed topology's delivery-to-row figures")
    parser.add_argument("--profile", action="append", default=[],
                        choices=["full", "noop", "quick", "edits", "dagster"],
                        help="also run this scenario once under pyinstrument (repeatable)")
    parser.add_argument("--output", help="JSON path (default benchmarks/results/n<N>.json)")
    parser.add_argument("--source", metavar="REV",
                        help="measure papra_pipeline as committed at REV (e.g. HEAD) instead of "
                             "the working tree")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.documents is None:
        args.documents = 100_000 if args.large else 2_000 if args.quick else 20_000
    if args.quick:
        args.repeat = 1
        args.no_dlt = True
    return args


def measure_webhooks(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Issue 15's figures (``benchmarks/webhooks.py``) against a fake of their own: 5,000
    documents (2,000 with --quick), the receiver, a drain of 100 deliveries, change to row."""
    from benchmarks import webhooks

    quick = {"deliveries": 1000, "documents": 2000, "duration": 10.0} if args.quick else {}
    print("\nwebhooks: receiver, drain, change to row (issue 15)", flush=True)
    report = webhooks.measure(rounds=args.repeat, dagster=not args.no_dagster, env=CHILD_ENV,
                              **quick)
    webhooks.print_report(report)
    checks = webhooks.targets(report)
    print("Targets (issue 15):")
    for c in checks:
        print(f"  [{'met ' if c['met'] else 'MISS'}] {c['target']}: {c['measured']} "
              f"(limit {c['limit']})")
    return report, checks


def measure_rules(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Issue 22's figures (``benchmarks/rules.py``): 20 rules planned over N documents written
    straight into a warehouse file, and the plan applied through the client's batching."""
    from benchmarks import rules

    print(f"\ntagging rules: plan and apply over {args.documents:,} documents (issue 22)",
          flush=True)
    report = rules.measure(args.documents, args.repeat, args.seed)
    rules.print_report(report)
    checks = rules.targets(report)
    print("Targets (issue 22; planning's limit applies at N = 100,000):")
    for c in checks:
        print(f"  [{'met ' if c['met'] else 'MISS'}] {c['target']}: {c['measured']} "
              f"(limit {c['limit']})")
    return report, checks
def measure_deployed() -> dict | None:
    """Issue 21's figure: delivery to row with the daemon and PostgreSQL of deploy/."""
    from benchmarks import deployed

    print("\ndeployed topology: delivery to row (issue 21)", flush=True)
    if reason := deployed.available():
        print(f"  skipped: {reason}")
        return None
    report = deployed.measure()
    deployed.print_report(report)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import duckdb

    n = args.documents
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="papra-bench-"))
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "httpx": httpx.__version__,
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }
    code = use_source(args.source, workdir) if args.source else working_tree()
    try:
        import dlt
        machine["dlt"] = dlt.__version__
    except ImportError:
        args.no_dlt = True
    print(f"papra-pipeline benchmark: N={n:,} documents, repeat={args.repeat}, "
          f"{machine['cores']} cores, Python {machine['python']}, DuckDB {machine['duckdb']}",
          flush=True)
    server = BenchServer(n, 2, args.seed, workdir)
    print(f"code: {code}", flush=True)
    print(f"fake Papra at {server.url} (populated in {server.populate_seconds:.1f}s, "
          f"separate process)", flush=True)
    bench = Bench(args, server, workdir)
    facts: dict[str, Any] = {"organizations": len(server.summary["organizations"])}
    profiles: dict[str, str] = {}
    try:
        with _client(server) as client:
            stats = [client.get_document_statistics(o) for o in server.summary["organizations"]]
        facts["live_per_org"] = [s.documents_count for s in stats]
        facts["trashed_per_org"] = [s.deleted_documents_count for s in stats]
        facts["list_pages"] = sum(max(1, math.ceil(c / 100)) for c in facts["live_per_org"])
        facts["trash_pages"] = sum(max(1, math.ceil(c / 100)) for c in facts["trashed_per_org"])

        # 1-2. Full initial sync: in each round the command, its floor, the Dagster job.
        print("full initial sync", flush=True)
        dagster = [("full_dagster", "full initial sync (Dagster job)", {"kind": "dagster"},
                    bench.fresh_db("dagster"))]
        bench.measure("full_command", "full initial sync (command)",
                      {"kind": "sync", "mode": "full"}, prepare=bench.fresh_db("full"),
                      with_floor=True, paired=None if args.no_dagster else dagster)
        if "full_dagster" in bench.failures:  # reported, the rest is measured without it
            facts["dagster_error"] = bench.failures["full_dagster"]
        baseline = bench.path("baseline.duckdb")
        _copy_to_disk(bench.path("full-0.duckdb"), baseline)
        full_wall = bench.scenarios["full_command"].stat("wall_seconds")
        facts["formats"] = formats.measure(baseline, workdir, full_wall and full_wall["median"])

        # 3. No-op full sync, re-verification slice off.
        print("no-op full sync", flush=True)
        bench.measure("noop_full_slice_off", "no-op full sync (slice off)",
                      {"kind": "sync", "mode": "full", "reverify_days": 0},
                      prepare=bench.fresh_db("noop_full_slice_off", baseline), with_floor=True)

        # 3b. Full sync with --verify right after: every document's text and activity again.
        print("full sync --verify", flush=True)
        bench.measure("full_verify", "full sync --verify (no change)",
                      {"kind": "sync", "mode": "full", "verify": True},
                      prepare=bench.fresh_db("full_verify", baseline), with_floor=True)

        # 4a. Quick sync with no change.
        print("quick sync", flush=True)
        bench.measure("quick_nochange", "quick sync, no change",
                      {"kind": "sync", "mode": "quick"},
                      prepare=bench.fresh_db("quick0", baseline), with_floor=True)

        # DuckDB bulk merge throughput.
        print("bulk merge", flush=True)
        bench.measure("merge", "bulk merge on documents", {"kind": "merge",
                                                           "source_db": str(baseline)},
                      prepare=bench.fresh_db("merge"), keep_urls=False)

        # dlt rest_api comparison (documents + activity, same server).
        if not args.no_dlt:
            print("dlt rest_api comparison", flush=True)

            def dlt_prepare(i: int) -> dict:
                spec = bench.fresh_db("dlt")(i)
                pipes = bench.path(f"dlt-pipelines-{i}")
                shutil.rmtree(pipes, ignore_errors=True)
                return {**spec, "pipelines_dir": str(pipes)}

            bench.measure("dlt_rest_api", "dlt rest_api (documents + activity)",
                          {"kind": "dlt"}, prepare=dlt_prepare, floor="floor:full_command",
                          repeat=args.dlt_repeat or args.repeat,
                          note="generic dlt rest_api source: list pages sequential, one "
                               "activity request per live document; no trash, content, tags "
                               "or custom-property tables")

        if "full" in args.profile:
            profiles["full"] = bench.profile("full", {"kind": "sync", "mode": "full"},
                                             bench.fresh_db("prof-full"))
        if "dagster" in args.profile and not args.no_dagster:
            profiles["dagster"] = bench.profile("dagster", {"kind": "dagster"},
                                                bench.fresh_db("prof-dagster"))
        if "noop" in args.profile:
            profiles["noop"] = bench.profile("noop", {"kind": "sync", "mode": "full"},
                                             bench.fresh_db("prof-noop", baseline))
        if "quick" in args.profile:
            profiles["quick"] = bench.profile("quick", {"kind": "sync", "mode": "quick"},
                                              bench.fresh_db("prof-quick", baseline))

        # 4b. Quick sync after 100 uploads (each run starts from the pre-upload warehouse).
        print("quick sync after 100 uploads", flush=True)
        upload_documents(server, 100, args.seed)
        bench.measure("quick_after_uploads", "quick sync after 100 uploads",
                      {"kind": "sync", "mode": "quick"},
                      prepare=bench.fresh_db("quick100", baseline), with_floor=True)

        # 5. Full sync after 1% edits: catch up first, measure the no-op reference, edit.
        print("full sync after 1% edits", flush=True)
        caught_up = bench.path("caught-up.duckdb")
        _copy_to_disk(baseline, caught_up)
        bench.measure("catch_up", "full sync after 100 uploads", {"kind": "sync",
                                                                   "mode": "full"},
                      prepare=lambda i: {"db": str(caught_up)}, repeat=1, keep_urls=False)
        bench.measure("noop_full_reference", "no-op full sync (reference for edits)",
                      {"kind": "sync", "mode": "full"},
                      prepare=bench.fresh_db("noopref", caught_up), repeat=1)
        facts["edits"] = edit_documents(server, caught_up, 0.01, args.seed)
        bench.measure("full_after_edits",
                      f"full sync after 1% edits ({facts['edits']['documents']} docs)",
                      {"kind": "sync", "mode": "full"},
                      prepare=bench.fresh_db("edits", caught_up), with_floor=True)
        if "edits" in args.profile:
            profiles["edits"] = bench.profile("edits", {"kind": "sync", "mode": "full"},
                                              bench.fresh_db("prof-edits", caught_up))
    finally:
        server.close()

    rows = summarize(bench, n)
    checks = targets(bench, rows, n, facts) + formats.targets(facts["formats"])
    merge = bench.scenarios["merge"]
    merge_summary = {
        "rows": merge.runs[0]["rows"],
        "insert_rows_per_second": merge.stat("insert_rows_per_second"),
        "update_rows_per_second": merge.stat("update_rows_per_second"),
        "upsert_only_insert_rows_per_second": merge.stat("upsert_only_insert_rows_per_second"),
        "upsert_only_update_rows_per_second": merge.stat("upsert_only_update_rows_per_second"),
        "peak_rss_mb": merge.stat("peak_rss_mb"),
    }
    for kind in ("insert", "update"):  # DuckDB's floor for the same rows; x = our s / floor s
        merge_summary |= {key: merge.stat(key) for key in (
            f"duckdb_floor_{kind}_rows_per_second",
            f"duckdb_floor_statement_{kind}_rows_per_second",
            f"{kind}_x_duckdb_floor", f"upsert_only_{kind}_x_duckdb_floor")}
        errors = sorted({r[f"duckdb_floor_{kind}_error"] for r in merge.runs
                         if f"duckdb_floor_{kind}_error" in r})
        if errors:
            merge_summary[f"duckdb_floor_{kind}_errors"] = errors
    print()
    print(f"Results: N={n:,} documents over {facts['organizations']} organizations, "
          f"{machine['cores']} cores, Python {machine['python']}, DuckDB {machine['duckdb']}; "
          f"wall = median [min-max] of {args.repeat}; RSS = max")
    print_table(rows)
    print_publish(rows)
    formats.print_figures(facts["formats"])
    print(f"bulk merge on documents ({merge_summary['rows']:,} rows): insert "
          f"{_fmt(merge_summary['insert_rows_per_second'], ',.0f')} rows/s, update "
          f"{_fmt(merge_summary['update_rows_per_second'], ',.0f')} rows/s including "
          f"Warehouse.write(); upsert alone: insert "
          f"{_fmt(merge_summary['upsert_only_insert_rows_per_second'], ',.0f')}, update "
          f"{_fmt(merge_summary['upsert_only_update_rows_per_second'], ',.0f')} rows/s")
    for kind in ("insert", "update"):
        if f"duckdb_floor_{kind}_errors" in merge_summary:
            why = " (in-place updates cannot spill to disk)" if kind == "update" else ""
            print(f"  bare DuckDB {kind} of the same rows FAILED{why}: "
                  f"{merge_summary[f'duckdb_floor_{kind}_errors'][0][:300]}")
        if merge_summary[f"{kind}_x_duckdb_floor"] is None:
            continue
        print(f"  bare DuckDB {kind} of the same rows (floor, same settings): "
              f"{_fmt(merge_summary[f'duckdb_floor_{kind}_rows_per_second'], ',.0f')} rows/s "
              f"with commit, statement alone "
              f"{_fmt(merge_summary[f'duckdb_floor_statement_{kind}_rows_per_second'], ',.0f')}; "
              f"ours x floor (our seconds / floor's): "
              f"{_fmt(merge_summary[f'{kind}_x_duckdb_floor'])} with commit, statements "
              f"{_fmt(merge_summary[f'upsert_only_{kind}_x_duckdb_floor'])}")
    print()
    print("Targets (issue 5; they apply at N = 100,000):")
    for c in checks:
        print(f"  [{'met ' if c['met'] else 'MISS'}] {c['target']}: {c['measured']} "
              f"(limit {c['limit']})")
    for name, path in profiles.items():
        print(f"profile {name}: {path}")
    noop = bench.scenarios.get("noop_full_slice_off")
    startup_figures = startup.measure(args.repeat, CHILD_ENV, workdir)
    startup.print_report(startup_figures, noop.stat("wall_seconds") if noop else None)
    webhooks, webhook_checks = None, []
    if not args.no_webhooks:
        webhooks, webhook_checks = measure_webhooks(args)
    rules, rule_checks = None, []
    if not args.no_rules:
        rules, rule_checks = measure_rules(args)
    longtext_report = None
    if not args.no_longtext:  # issue 25: documents with long texts, a fake of their own
        from benchmarks import longtext
        print("\nlong texts (issue 25)", flush=True)
        longtext_report = longtext.measure(rounds=args.repeat, env=CHILD_ENV, seed=args.seed)
        longtext.print_report(longtext_report)
        longtext_report["targets"] = longtext.targets(longtext_report)
    deployed = None if args.no_deployed else measure_deployed()
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "documents": n,
        "repeat": args.repeat,
        "seed": args.seed,
        "concurrency": CONCURRENCY,
        "machine": machine,
        "code": code,
        "facts": facts,
        "scenarios": rows,
        "merge": merge_summary | {"runs": merge.runs},
        "targets": checks,
        "profiles": profiles,
        "webhooks": webhooks,
        "startup": startup_figures,
        "webhook_targets": webhook_checks,
        "rules": rules,
        "rule_targets": rule_checks,
        "longtext": longtext_report,
        "deployed": deployed,
        "total_seconds": time.perf_counter() - started,
        "load_average_at_end": os.getloadavg(),
    }
    output = Path(args.output) if args.output else RESULTS / f"n{n}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=1, default=str) + "\n")
    print(f"JSON: {output}  (total {document['total_seconds']:.0f}s)")
    if args.keep:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
