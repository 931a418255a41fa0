"""``python -m benchmarks.webhooks``: the webhook receiver's throughput on loopback (issue 15).

Starts ``papra-pipeline webhooks serve`` in its own process with a fresh inbox, sends signed
deliveries from 10 threads (Papra sends up to 10 at once), one attempt each, and reports the
acknowledged deliveries per second, the latency of an acknowledgement (each is committed to the
inbox, ``synchronous=FULL``, before the answer) and whether the inbox holds every acknowledged
delivery. Rounds are repeated so a busy machine shows as spread, not as one number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from papra_pipeline.testing.webhook_load import send_deliveries
from papra_pipeline.warehouse.inbox import WebhookInbox

HERE = Path(__file__).resolve().parent
SECRET = "benchmark-webhook-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(inbox: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PAPRA_WEBHOOK_SECRET": SECRET, "PAPRA_WEBHOOK_INBOX": str(inbox)}
    process = subprocess.Popen(
        [sys.executable, "-m", "papra_pipeline.cli", "webhooks", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, f"{base}/webhooks/papra"
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run(deliveries: int, rounds: int, concurrency: int) -> dict:
    results = []
    with tempfile.TemporaryDirectory(prefix="papra-webhooks-bench-") as tmp:
        for round_ in range(rounds):
            inbox = Path(tmp) / f"inbox-{round_}.sqlite"
            process, url = _start(inbox)
            try:
                load = send_deliveries(url, SECRET, deliveries, concurrency=concurrency)
            finally:
                process.terminate()
                process.wait(timeout=20)
            with WebhookInbox(inbox) as opened:
                stored = opened.delivery_ids()
            results.append({
                "per_second": round(load.per_second, 1),
                "acknowledged": len(load.acknowledged),
                "failed": load.failed,
                "lost": len(set(load.acknowledged) - stored),
                "latency_p50_ms": round(_percentile(load.latencies, 0.5) * 1000, 2),
                "latency_p95_ms": round(_percentile(load.latencies, 0.95) * 1000, 2),
            })
    return {
        "deliveries_per_round": deliveries,
        "concurrency": concurrency,
        "rounds": results,
        "median_per_second": statistics.median(r["per_second"] for r in results),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--save", action="store_true", help="write results/webhooks.json")
    args = parser.parse_args()
    report = run(args.deliveries, args.rounds, args.concurrency)
    header = ("round", "deliveries/s", "p50 ms", "p95 ms", "failed", "lost")
    print("{:>5} {:>13} {:>8} {:>8} {:>7} {:>5}".format(*header))
    for i, r in enumerate(report["rounds"], start=1):
        print(f"{i:>5} {r['per_second']:>13.0f} {r['latency_p50_ms']:>8.1f} "
              f"{r['latency_p95_ms']:>8.1f} {r['failed']:>7} {r['lost']:>5}")
    print(f"median {report['median_per_second']:.0f} deliveries/s acknowledged and stored "
          f"(target >= 500), load average {report['machine']['load_average'][0]:.1f}")
    if args.save:
        (HERE / "results" / "webhooks.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["lost"] == 0 and r["failed"] == 0 for r in report["rounds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
