"""``papra_webhook_sensor`` evaluated with ``build_sensor_context`` on a real inbox file."""

from __future__ import annotations

import dagster as dg
import pytest

from papra_pipeline.client import WEBHOOK_EVENTS
from papra_pipeline.defs.resources import WarehouseResource, resources_from_env
from papra_pipeline.defs.sensors import build_webhook_sensor
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox
from tests.defs.conftest import run_job
from tests.webhooks.helpers import SECRET, serve_receiver

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
    inbox = resources_from_env()["warehouse"].webhook_inbox  # as the code location reads it
    told = WarehouseResource(path=warehouse.path, webhook_inbox=inbox)
    assert tick(told, instance).run_requests[0].run_key == "webhooks-1"


def test_the_sensor_is_registered(defs):
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert sensors["papra_webhook_sensor"].minimum_interval_seconds == 10


def test_the_sensors_run_brings_an_edit_the_list_cannot_show(
    fake, defs, warehouse, instance, inbox_file
):
    assert run_job(defs, "papra_full_sync_job", instance).success
    org = fake.list_organizations()[0]["id"]
    oldest = fake.list_documents(org, sort_order="asc", page_size=1)["documents"][0]["id"]
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}
    with serve_receiver(inbox_file) as base_url:
        fake.webhooks.create(org, name="pipeline", url=f"{base_url}/webhooks/papra",
                             events=list(WEBHOOK_EVENTS), secret=SECRET)
        fake.update_document(org, oldest, content="edited in Papra")
        fake.trash_document(org, oldest)
        fake.restore_document(org, oldest)
        fake.webhooks.wait()
    fake.webhooks.close()

    [request] = tick(warehouse, instance).run_requests
    assert run_job(defs, "papra_quick_sync_job", instance, run_config=request.run_config).success

    with warehouse.get_warehouse().read() as con:
        content, deleted = con.execute(
            "SELECT content, is_deleted FROM documents WHERE id = ?", [oldest]
        ).fetchone()
        stored_activity = {
            row[0] for row in con.execute(
                "SELECT id FROM document_activity WHERE document_id = ?", [oldest]
            ).fetchall()
        }
    assert (content, deleted) == ("edited in Papra", False)
    assert stored_activity == {a["id"] for a in fake.activities(org, oldest, page_size=100)}
    assert tick(warehouse, instance).skip_message == "No pending webhook deliveries."
