"""``python -m benchmarks.longtext``: documents with long extracted texts (issue 25).

The fake Papra in its own process holds one organization whose documents carry long texts:
400 of 100 KB (a contract, a bank statement), 50 of 1 MB and 3 of 10 MB (manuals), mixed in
upload order, about 120 MB of text. A full initial sync of it runs in a fresh worker process
(``benchmarks/worker.py``), then its HTTP floor (the same GET requests replayed with plain
httpx, 8 at a time), then the text floor (the floor storing each text once in a DuckDB file
as it arrives, the least any sync that keeps texts in DuckDB does), alternately, ``--rounds``
times: the sync's wall time against both floors, and its peak RSS. Targets: within 1.3x of
the HTTP floor, under 500 MB, with the default settings (``PAPRA_WRITE_MEMORY_LIMIT``
unset). ``python -m benchmarks`` runs it after its own scenarios (``--no-longtext`` skips
it); ``--serve`` is the server side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
# (documents, text length) of the mix, in one organization.
MIX = ((400, 100_000), (50, 1_000_000), (3, 10_000_000))
RSS_TARGET_MB = 500
FLOOR_TARGET = 1.3


def serve(seed: int) -> int:
    """Populate the mix and serve it on loopback; print one JSON line; exit when stdin closes."""
    from benchmarks.server import add_control_routes
    from papra_pipeline.testing import FakePapra, populate
    from papra_pipeline.testing import serve as serve_fake

    started = time.perf_counter()
    fake = FakePapra(seed=seed)
    total = sum(count for count, _ in MIX)
    summary = populate(fake, organizations=1, documents=total, tags=20, custom_properties=10,
                       activity_per_document=3, text_bytes=MIX[0][1], seed=seed)
    org = summary["organizations"][0]
    documents = fake.documents(org)
    # The longer texts spread over the upload order: every 150th document gets 10 MB, and
    # every ninth 1 MB.
    longer = {i: 1_000_000 for i in range(1, 9 * MIX[1][0], 9)}
    longer |= {i: 10_000_000 for i in range(5, total, 150)}
    assert sorted(longer.values()) == [MIX[1][1]] * MIX[1][0] + [MIX[2][1]] * MIX[2][0]
    for index, length in longer.items():
        doc = documents[index]
        text = (f"{doc['name']} page " * (length // 16 + 1))[:length]
        fake.update_document(org, doc["id"], content=text)
    add_control_routes(fake)
    text_mb = sum(len(doc["content"]) for doc in fake.documents(org)) / 1e6
    with serve_fake(fake, "127.0.0.1", 0) as url:
        print(json.dumps({"url": url, "api_key": fake.api_key, "summary": summary,
                          "text_mb": text_mb, "populate_seconds": time.perf_counter() - started}),
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()
    return 0


def _worker(spec: dict, workdir: Path, env: dict, counter: list[int]) -> dict:
    counter[0] += 1
    spec_path = workdir / f"longtext-spec-{counter[0]}.json"
    out_path = workdir / f"longtext-out-{counter[0]}.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", str(spec_path),
                           str(out_path)], cwd=workdir, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec['kind']} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(out_path.read_text())


def measure(rounds: int = 3, env: dict | None = None, seed: int = 0) -> dict:
    """The sync of the mix and its floor, alternately; medians and the sync's peak RSS."""
    env = env or {**os.environ, "PYTHONPATH": str(HERE.parent)}
    env = {k: v for k, v in env.items() if k != "PAPRA_WRITE_MEMORY_LIMIT"}  # the default
    workdir = Path(tempfile.mkdtemp(prefix="papra-bench-longtext-"))
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.longtext", "--serve",
                               "--seed", str(seed)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=workdir, env=env)
    counter = [0]
    syncs, floors, text_floors = [], [], []
    try:
        info = json.loads(server.stdout.readline())
        base = {"url": info["url"], "api_key": info["api_key"], "concurrency": 8}
        with httpx.Client(base_url=info["url"], timeout=120) as control:
            urls_path = workdir / "longtext-urls.json"
            for i in range(rounds):
                db = workdir / f"longtext-{i}.duckdb"
                control.post("/__bench/reset").raise_for_status()
                result = _worker({**base, "kind": "sync", "mode": "full", "db": str(db)},
                                 workdir, env, counter)
                log = control.get("/__bench/log").json()
                result["requests"] = log["count"]
                if not urls_path.exists():
                    urls_path.write_text(json.dumps([r for r in log["requests"]
                                                     if r[0] == "GET"]))
                floor = _worker({**base, "kind": "floor", "urls": str(urls_path)}, workdir,
                                env, counter)
                text_floor = _worker({**base, "kind": "text_floor", "urls": str(urls_path),
                                      "db": str(workdir / f"longtext-texts-{i}.duckdb")},
                                     workdir, env, counter)
                syncs.append(result)
                floors.append(floor)
                text_floors.append(text_floor)
                print(f"  long texts: sync {result['wall_seconds']:6.2f}s "
                      f"{result['peak_rss_mb']:5.0f} MB, floor {floor['wall_seconds']:6.2f}s, "
                      f"text floor {text_floor['wall_seconds']:6.2f}s "
                      f"{text_floor['peak_rss_mb']:5.0f} MB, {result['requests']} requests",
                      flush=True)
    finally:
        if server.poll() is None:
            server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        for leftover in workdir.iterdir():
            leftover.unlink() if leftover.is_file() else None
        with contextlib.suppress(OSError):
            os.rmdir(workdir)
    wall = statistics.median(r["wall_seconds"] for r in syncs)
    floor_wall = statistics.median(r["wall_seconds"] for r in floors)
    text_floor_wall = statistics.median(r["wall_seconds"] for r in text_floors)
    return {
        "mix": [{"documents": c, "text_bytes": n} for c, n in MIX],
        "text_mb": info["text_mb"],
        "rounds": rounds,
        "sync_wall_seconds": wall,
        "floor_wall_seconds": floor_wall,
        "ratio_to_floor": wall / floor_wall,
        "ratios_by_round": [s["wall_seconds"] / f["wall_seconds"]
                            for s, f in zip(syncs, floors, strict=True)],
        "text_floor_wall_seconds": text_floor_wall,
        "text_floor_to_floor": text_floor_wall / floor_wall,
        "ratio_to_text_floor": wall / text_floor_wall,
        "text_floor_peak_rss_mb": max(r["peak_rss_mb"] for r in text_floors),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in syncs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in syncs),
        "requests": syncs[0]["requests"],
    }


def targets(report: dict) -> list[dict]:
    ratio, rss = report["ratio_to_floor"], report["peak_rss_mb"]
    return [
        {"target": f"long texts: full sync within {FLOOR_TARGET}x its floor",
         "measured": round(ratio, 3), "limit": FLOOR_TARGET, "met": ratio <= FLOOR_TARGET},
        {"target": f"long texts: peak RSS under {RSS_TARGET_MB} MB",
         "measured": round(rss), "limit": RSS_TARGET_MB, "met": rss < RSS_TARGET_MB},
    ]


def print_report(report: dict) -> None:
    print(f"long texts ({report['text_mb']:.0f} MB: "
          + ", ".join(f"{m['documents']} x {m['text_bytes'] / 1e3:,.0f} KB" for m in report["mix"])
          + f"), median of {report['rounds']}: sync {report['sync_wall_seconds']:.2f}s, floor "
          f"{report['floor_wall_seconds']:.2f}s, x floor {report['ratio_to_floor']:.2f} "
          f"(by round {', '.join(f'{r:.2f}' for r in report['ratios_by_round'])}), "
          f"CPU {report['cpu_seconds']:.1f}s, peak RSS {report['peak_rss_mb']:.0f} MB; text floor "
          f"{report['text_floor_wall_seconds']:.2f}s ({report['text_floor_to_floor']:.2f}x the "
          f"floor, {report['text_floor_peak_rss_mb']:.0f} MB), sync x text floor "
          f"{report['ratio_to_text_floor']:.2f}")
    for c in targets(report):
        print(f"  [{'met ' if c['met'] else 'MISS'}] {c['target']}: {c['measured']} "
              f"(limit {c['limit']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.longtext", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.seed)
    report = measure(args.rounds, seed=args.seed)
    print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
