"""``papra_webhook_sensor`` evaluated with ``build_sensor_context`` on a real inbox file."""

from __future__ import annotations

import dagster as dg
import pytest

from papra_pipeline.defs.resources import WarehouseResource
from papra_pipeline.defs.sensors import build_webhook_sensor
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox

sensor = build_webhook_sensor(10)


def tick(warehouse: WarehouseResource, instance: dg.DagsterInstance):
    context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    return sensor(context)


def deliver(path, *numbers: int) -> None:
    with WebhookInbox(path) as inbox:
        inbox.add(
            [InboxDelivery(f"msg_{n}", "document:updated", "org_a", f"doc_{n}", 0) for n in numbers]
        )


@pytest.fixture
def inbox_file(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPRA_WEBHOOK_INBOX", raising=False)
    return tmp_path / "papra.webhooks.sqlite"  # beside the warehouse fixture's papra.duckdb


def test_without_an_inbox_it_says_how_to_get_one(warehouse, instance, inbox_file):
    result = tick(warehouse, instance)
    assert "webhooks serve" in result.skip_message
    assert not inbox_file.exists()  # looking does not create it


def test_pending_deliveries_request_one_quick_sync_per_high_water_mark(
    warehouse, instance, inbox_file
):
    deliver(inbox_file, 1, 2)
    first = tick(warehouse, instance)
    [request] = first.run_requests
    assert sensor.job_name == "papra_quick_sync_job"
    assert request.run_key == "webhooks-2"
    assert request.run_config["ops"]["papra_sync"]["config"] == {"mode": "quick"}
    assert tick(warehouse, instance).run_requests[0].run_key == "webhooks-2"  # same: deduped
    deliver(inbox_file, 3)
    assert tick(warehouse, instance).run_requests[0].run_key == "webhooks-3"


def test_nothing_pending_skips(warehouse, instance, inbox_file):
    deliver(inbox_file, 1)
    with WebhookInbox(inbox_file) as inbox:
        inbox.mark_consumed([p.seq for p in inbox.pending()])
    assert tick(warehouse, instance).skip_message == "No pending webhook deliveries."


def test_the_inbox_can_live_elsewhere(warehouse, instance, tmp_path, monkeypatch):
    elsewhere = tmp_path / "inbox" / "hooks.sqlite"
    monkeypatch.setenv("PAPRA_WEBHOOK_INBOX", str(elsewhere))
    deliver(elsewhere, 7)
    assert tick(warehouse, instance).run_requests[0].run_key == "webhooks-1"


def test_the_sensor_is_registered(defs):
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert sensors["papra_webhook_sensor"].minimum_interval_seconds == 10
