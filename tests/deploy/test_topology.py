"""The deployed topology with real processes (issue 21 §2): PostgreSQL, the code location, the
webserver, the daemon and the webhook receiver started from deploy/, against the fake Papra.

One deployment for the whole test (starting it is most of the cost); the phases run in order
and each asserts one point of the issue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from unittest import mock

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef  # no public way to open a given home

from papra_pipeline.client import PapraClient
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.webhooks.registration import register
from tests.deploy.topology import (
    WEBHOOK_SECRET,
    Deployment,
    deliveries_to_rows,
    deployed,
    percentile,
    wait_for,
)

pytestmark = pytest.mark.slow

POOL = "papra_duckdb"
SYNC_STEP = "papra_sync"
SCHEDULE = "papra_full_sync_schedule"
WEBHOOK_SENSOR = "papra_webhook_sensor"
RULES_SENSOR = "papra_tagging_rules_sensor"  # keeps a cursor without requesting runs
SCHEDULED_AT = ".dagster/scheduled_execution_time"  # a hidden tag: the tick a run is for


class Stall:
    """Holds the fake's document requests while set, so a sync is surely in progress."""

    def __init__(self) -> None:
        self.on = threading.Event()
        self.release = threading.Event()
        self.hit = threading.Event()

    def __call__(self, record) -> None:
        if self.on.is_set() and "/documents" in record.path:
            self.hit.set()
            self.release.wait(timeout=120)


@contextlib.contextmanager
def opened_instance(deployment: Deployment) -> Iterator[dg.DagsterInstance]:
    """The deployment's instance (Postgres) opened from this process, as an operator would."""
    home = deployment.env["DAGSTER_HOME"]
    with mock.patch.dict(os.environ, deployment.env):
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)) as instance:
            yield instance


def claimed_slots(instance: dg.DagsterInstance) -> list:
    return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


def sync_windows(
    instance: dg.DagsterInstance, run_ids: list[str], killed_at: float = float("inf")
) -> list[tuple[float, float]]:
    """(start, end) of the sync step of each run that started one; a step SIGKILLed with its
    process (no end event) wrote until ``killed_at`` (epoch seconds)."""
    windows = []
    for run_id in run_ids:
        start = end = None
        for event in instance.all_logs(run_id):
            if event.step_key != SYNC_STEP or not event.is_dagster_event:
                continue
            kind = event.dagster_event.event_type
            if kind == dg.DagsterEventType.STEP_START:
                start = event.timestamp
            elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                end = event.timestamp
        if start is not None and end is None:
            end = killed_at
        if start is not None:
            windows.append((start, end))
    return windows


def assert_never_two_writers(windows: list[tuple[float, float]]) -> None:
    ordered = sorted(windows)
    for (_, end), (next_start, _) in zip(ordered, ordered[1:], strict=False):
        assert next_start >= end, f"two sync steps overlapped: {ordered}"


def scheduled_runs(deployment: Deployment, after: float = 0) -> list[dict]:
    """Runs of the full-sync schedule created after ``after`` (epoch seconds), oldest first."""
    runs = [r for r in deployment.runs() if r["tags"].get("dagster/schedule_name") == SCHEDULE]
    return sorted((r for r in runs if r["creationTime"] > after), key=lambda r: r["creationTime"])


def instigator_states(instance: dg.DagsterInstance) -> dict[str, tuple]:
    return {
        state.instigator_name: (state.status, getattr(state.instigator_data, "cursor", None))
        for state in instance.all_instigator_state()
    }


def test_the_deployed_topology(capsys):
    fake = FakePapra()
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}  # WEBHOOK_URL_ALLOWED_HOSTNAMES
    populate(fake, organizations=1, documents=40, seed=21)
    stall = Stall()
    fake.add_hook(stall)
    [org] = [o["id"] for o in fake.list_organizations()]
    env = {
        "PAPRA_FULL_SYNC_CRON": "* * * * *",
        "PAPRA_WEBHOOK_SENSOR_SECONDS": "1",
        "PAPRA_TAGGING_SENSOR_SECONDS": "5",
        "PAPRA_EMAIL": fake.email,
        "PAPRA_PASSWORD": fake.password,
        "PAPRA_MAX_RETRIES": "0",
    }
    began = time.monotonic()
    # The fake's webhook senders keep a connection to the receiver: closed last, not by the GC
    # in whichever test runs next (a ResourceWarning, an error under this suite's filters).
    with contextlib.closing(fake.webhooks), serve(fake) as url, \
            deployed(url, fake.api_key, **env) as deployment, \
            opened_instance(deployment) as instance, \
            PapraClient(url, fake.api_key, email=fake.email, password=fake.password) as client:
        started_up = time.monotonic() - began
        register(client, f"{deployment.receiver_url}/webhooks/papra", WEBHOOK_SECRET)

        # A schedule tick (every minute through PAPRA_FULL_SYNC_CRON) -> a full sync that
        # succeeds, as the webserver's GraphQL reports it.
        for kind, name in (("schedule", SCHEDULE), ("sensor", WEBHOOK_SENSOR),
                           ("sensor", RULES_SENSOR)):
            deployment.set_instigator(kind, name, running=True)
        [scheduled, *_] = wait_for(lambda: scheduled_runs(deployment), 240,
                                   f"a scheduled run\n{deployment.logs()}", every=2)
        # Off until the restarts: a tick a minute would queue full syncs before every phase.
        deployment.set_instigator("schedule", SCHEDULE, running=False)
        assert scheduled["jobName"] == "papra_full_sync_job"
        assert deployment.wait_run(scheduled["runId"])["status"] == "SUCCESS"

        # Webhook deliveries -> receiver -> papra_webhook_sensor -> quick sync -> the row; three
        # one after another, so the printed p50 is not a single delivery's.
        documents = client.list_documents(org, page_size=3).ids
        deliveries = deliveries_to_rows(deployment, client, org, documents, "webhook")
        latencies = [d.seconds for d in deliveries]
        webhook_runs = [r for r in deployment.runs()
                        if r["tags"].get("dagster/sensor_name") == WEBHOOK_SENSOR]
        assert webhook_runs and all(r["jobName"] == "papra_quick_sync_job" for r in webhook_runs)

        # Two sync runs requested at once queue on the pool: both succeed, never together.
        pair = [deployment.launch("papra_quick_sync_job") for _ in range(2)]
        assert [deployment.wait_run(r)["status"] for r in pair] == ["SUCCESS", "SUCCESS"]
        assert len(sync_windows(instance, pair)) == 2

        # SIGKILL to the code location (and the run processes it started) during a sync: the
        # run ends failed, the slot is freed, the next run succeeds.
        stall.on.set()
        victim = deployment.launch("papra_full_sync_job")
        wait_for(stall.hit.is_set, 180, f"the sync to reach Papra\n{deployment.logs()}")
        wait_for(lambda: claimed_slots(instance), 60, "the sync's pool slot")
        killed_at, killed_wall = time.monotonic(), time.time()
        deployment.restart("code-location", signal.SIGKILL)
        stall.on.clear()
        stall.release.set()
        assert deployment.wait_run(victim, timeout=240)["status"] == "FAILURE"
        wait_for(lambda: not claimed_slots(instance), 120, "the dead run's slot to be freed")
        slot_freed = time.monotonic() - killed_at
        after_kill = deployment.launch("papra_quick_sync_job")
        assert deployment.wait_run(after_kill)["status"] == "SUCCESS"

        # The daemon, the code location and Postgres each restarted: states and cursors stay,
        # and the daemon goes on by itself (a new scheduled run succeeds).
        deployment.set_instigator("schedule", SCHEDULE, running=True)
        wait_for(lambda: instigator_states(instance).get(RULES_SENSOR, (None, None))[1], 120,
                 "the rules sensor's first cursor")
        before = instigator_states(instance)
        deployment.restart("daemon")
        deployment.restart("code-location")
        deployment.postgres.stop()
        deployment.postgres.start()
        restarted = time.time()
        assert instigator_states(instance) == before
        [after, *_] = wait_for(lambda: scheduled_runs(deployment, after=restarted), 300,
                               f"a scheduled run after the restarts\n{deployment.logs()}", every=2)
        assert instigator_states(instance) == before
        [schedule] = [s for s in instance.all_instigator_state() if s.instigator_name == SCHEDULE]
        deployment.set_instigator("schedule", SCHEDULE, running=False)
        assert deployment.wait_run(after["runId"])["status"] == "SUCCESS"

        # Across everything: no tick produced two runs, and never two writers at once.
        by_schedule = dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE})
        scheduled_times = [r.tags[SCHEDULED_AT] for r in instance.get_runs(filters=by_schedule)]
        assert len(scheduled_times) == len(set(scheduled_times))
        ticks = instance.get_ticks(schedule.instigator_origin_id, schedule.selector_id)
        assert ticks and all(len(tick.run_ids) <= 1 for tick in ticks)
        every_run = [r["runId"] for r in deployment.runs()]
        assert_never_two_writers(sync_windows(instance, every_run, killed_wall))

    with capsys.disabled():
        print(f"\ndeployed topology: start {started_up:.0f} s; delivery-to-row "
              f"p50 {percentile(latencies, 0.5):.1f} s, p95 {percentile(latencies, 0.95):.1f} s "
              f"(n={len(latencies)}); killed run's slot free after {slot_freed:.1f} s; "
              f"whole test {time.monotonic() - began:.0f} s")
