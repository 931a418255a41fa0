"""``python -m benchmarks.deployed``: delivery-to-row time in the deployed topology (issue 21).

PostgreSQL, the code location, the webserver, the daemon and the webhook receiver started
from deploy/ (tests/deploy/topology.py, the harness tests/deploy uses), against a fake Papra.
Each edit of a document makes the fake deliver a webhook; the latency runs from the edit to
the new text in the readers' file, through the receiver, ``papra_webhook_sensor`` (ticking
every second) and a quick-sync run that the daemon launches in a process of its own (its
steps in that process): the seconds a deployment adds to the in-process figures of
``benchmarks/webhooks.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics

from tests.deploy.topology import (
    WEBHOOK_SECRET,
    Delivery,
    Deployment,
    deliveries_to_rows,
    deployed,
    percentile,
    postgres_bin,
)

SENSOR_RUNS = """{ runsOrError(limit: 500, filter: {tags: [{key: "dagster/sensor_name",
    value: "papra_webhook_sensor"}]}) { ... on Runs { results {
    creationTime startTime stepStats { stepKey startTime } } } } }"""
# The legs of a delivery's way, each to the moment its name says, from the previous one.
LEGS = ("run_created", "run_started", "sync_step_started", "row")


def legs(deployment: Deployment, deliveries: list[Delivery]) -> dict[str, float]:
    """Median seconds of each leg: the edit to the sensor's run (receiver, inbox, sensor tick),
    to the run's start (queue, launch, the run process's imports), to its sync step (the
    executor), to the row (the quick sync itself). Each delivery's run is the first the webhook
    sensor created after its edit (the edits wait for each other's rows)."""
    runs = deployment.graphql(SENSOR_RUNS)["runsOrError"]["results"]
    found: dict[str, list[float]] = {leg: [] for leg in LEGS}
    for delivery in deliveries:
        after = [r for r in runs if r["creationTime"] >= delivery.edited and r["startTime"]]
        if not after:
            continue
        run = min(after, key=lambda r: r["creationTime"])
        step = next((s["startTime"] for s in run["stepStats"] if s["stepKey"] == "papra_sync"
                     and s["startTime"]), None)
        if step is None:
            continue
        moments = [delivery.edited, run["creationTime"], run["startTime"], step,
                   delivery.edited + delivery.seconds]
        for leg, start, end in zip(LEGS, moments, moments[1:], strict=False):
            found[leg].append(end - start)
    return {leg: round(statistics.median(values), 2) for leg, values in found.items() if values}


def measure(deliveries: int = 6, documents: int = 200) -> dict:
    """Edits one at a time (each waits for its row), after a first sync made the file."""
    from papra_pipeline.client import PapraClient
    from papra_pipeline.testing import FakePapra, populate, serve
    from papra_pipeline.webhooks.registration import register

    fake = FakePapra()
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}
    populate(fake, organizations=1, documents=documents, seed=21)
    [org] = [o["id"] for o in fake.list_organizations()]
    env = {"PAPRA_WEBHOOK_SENSOR_SECONDS": "1"}
    load_before = os.getloadavg()
    with serve(fake) as url, deployed(url, fake.api_key, **env) as deployment, \
            PapraClient(url, fake.api_key, email=fake.email, password=fake.password) as client:
        register(client, f"{deployment.receiver_url}/webhooks/papra", WEBHOOK_SECRET)
        first = deployment.launch("papra_full_sync_job")
        assert deployment.wait_run(first, timeout=600)["status"] == "SUCCESS"
        deployment.set_instigator("sensor", "papra_webhook_sensor", running=True)
        ids = client.list_documents(org, page_size=deliveries).ids
        done = deliveries_to_rows(deployment, client, org, ids, "bench")
        medians = legs(deployment, done)
    latencies = [d.seconds for d in done]
    return {
        "deliveries": len(latencies),
        "documents": documents,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "leg_medians_seconds": medians,
        "p50_seconds": round(percentile(latencies, 0.5), 2),
        "p95_seconds": round(percentile(latencies, 0.95), 2),
        "mean_seconds": round(statistics.fmean(latencies), 2),
        "latencies_seconds": [round(x, 2) for x in latencies],
    }


def print_report(report: dict) -> None:
    print(f"deployed: delivery to row over {report['deliveries']} deliveries "
          f"({report['documents']} documents): p50 {report['p50_seconds']:.1f} s, "
          f"p95 {report['p95_seconds']:.1f} s (each: {report['latencies_seconds']})")
    medians = report["leg_medians_seconds"].items()
    print("  median legs (s): " + ", ".join(f"to {leg.replace('_', ' ')} {seconds:.1f}"
                                            for leg, seconds in medians))
    before, after = report["load_average"]["before"], report["load_average"]["after"]
    print(f"  load average (1/5/15 min) before {before[0]:.1f}/{before[1]:.1f}/{before[2]:.1f}, "
          f"after {after[0]:.1f}/{after[1]:.1f}/{after[2]:.1f}")


def available() -> str | None:
    """Why the deployed figures cannot be taken here, or None."""
    try:
        postgres_bin("initdb")
    except FileNotFoundError as exc:
        return str(exc)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=6)
    args = parser.parse_args()
    print_report(measure(args.deliveries))


if __name__ == "__main__":
    main()
