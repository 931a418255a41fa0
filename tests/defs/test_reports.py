"""Daily report partitions: a three-day backfill against a fake whose clock we control."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from papra_pipeline.defs import Settings, build_definitions
from papra_pipeline.defs.resources import PapraResource
from papra_pipeline.testing import FakeClock, FakePapra, serve

DAY_MS = 86_400_000
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
ALPHA, BETA, GAMMA = "alpha " * 10, "beta " * 20, "gamma " * 30
DAYS = ["2026-01-05", "2026-01-06", "2026-01-07"]
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def history(tmp_path, warehouse, instance):
    """Three days in one organization, then a full sync through Dagster.

    Day 1: upload alpha and beta, tag alpha. Day 2: upload gamma, trash beta.
    Day 3: restore beta, trash alpha and upload it again (Papra's dedup restore).
    """
    fake = FakePapra(clock=FakeClock(int(START.timestamp() * 1000)))
    org = fake.create_organization("Reports")["id"]
    tag = fake.create_tag(org, "Paid")["id"]
    alpha = fake.upload_document(org, "alpha.txt", ALPHA, extract=True)["id"]
    beta = fake.upload_document(org, "beta.txt", BETA, extract=True)["id"]
    fake.tag_document(org, alpha, tag)
    fake.clock.advance(DAY_MS)
    fake.upload_document(org, "gamma.txt", GAMMA, extract=True)
    fake.trash_document(org, beta)
    fake.clock.advance(DAY_MS)
    fake.restore_document(org, beta)
    fake.trash_document(org, alpha)
    fake.upload_document(org, "alpha again.txt", ALPHA, extract=True)
    with serve(fake) as url:
        papra = PapraResource(base_url=url, api_key=fake.api_key, max_retries=0)
        defs = build_definitions(
            {"papra": papra, "warehouse": warehouse}, Settings(reports_start_date="2025-12-01")
        )
        assert defs.resolve_job_def("papra_full_sync_job").execute_in_process(
            instance=instance
        ).success
    return defs, org


def rows(warehouse, sql: str) -> list[tuple]:
    with warehouse.get_warehouse().read() as con:
        return con.execute(sql).fetchall()


def documents_report(warehouse) -> dict[str, tuple]:
    return {
        day.isoformat(): rest
        for day, *rest in rows(
            warehouse,
            """SELECT day, documents_uploaded, bytes_added, documents_trashed,
                      documents_restored, tag_applications, live_documents, live_bytes
               FROM report_daily_documents ORDER BY day""",
        )
    }


def test_backfill_of_three_days_then_rerun_of_one_replaces_it(history, warehouse, instance):
    defs, org = history
    job = defs.resolve_job_def("papra_daily_reports_job")

    backfill = job.execute_in_process(
        instance=instance, tags={RANGE_START: DAYS[0], RANGE_END: DAYS[-1]}
    )

    assert backfill.success
    a, b, g = len(ALPHA), len(BETA), len(GAMMA)
    # uploaded, bytes added, trashed, restored, tag applications, live docs, live bytes
    assert documents_report(warehouse) == {
        DAYS[0]: [2, a + b, 0, 0, 1, 2, a + b],
        DAYS[1]: [1, g, 1, 0, 0, 2, a + g],
        DAYS[2]: [0, 0, 1, 2, 0, 3, a + b + g],
    }
    assert rows(warehouse, "SELECT DISTINCT organization_id FROM report_daily_documents") == [
        (org,)
    ]
    activity = {
        (day.isoformat(), event): (events, documents)
        for day, event, events, documents in rows(
            warehouse, "SELECT day, event, events, documents FROM report_daily_activity"
        )
    }
    assert activity[(DAYS[0], "created")] == (2, 2)
    assert activity[(DAYS[0], "tagged")] == (1, 1)
    assert activity[(DAYS[1], "deleted")] == (1, 1)
    assert activity[(DAYS[2], "restored")] == (1, 1)
    assert activity[(DAYS[2], "created")] == (1, 1)
    materialized = instance.get_materialized_partitions(
        dg.AssetKey("papra_report_daily_documents")
    )
    assert materialized == set(DAYS)
    metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in backfill.get_asset_materialization_events()
    }
    assert metadata["papra_report_daily_documents"]["dagster/row_count"].value == 3
    assert metadata["papra_report_daily_documents"]["days"].value == 3

    # Someone tampers with a day; re-running that partition puts it back, and only it.
    with warehouse.get_warehouse().write() as session:
        session.con.execute(
            "UPDATE report_daily_documents SET documents_uploaded = 99 WHERE day = ?",
            [date(2026, 1, 6)],
        ).fetchall()
    before = dict(rows(warehouse, "SELECT day, computed_at FROM report_daily_documents"))

    rerun = job.execute_in_process(instance=instance, partition_key=DAYS[1])

    assert rerun.success
    assert documents_report(warehouse)[DAYS[1]][0] == 1
    after = dict(rows(warehouse, "SELECT day, computed_at FROM report_daily_documents"))
    assert len(after) == 3
    changed = {day.isoformat() for day in after if after[day] != before[day]}
    assert changed == {DAYS[1]}
    assert len(rows(warehouse, "SELECT * FROM report_daily_activity")) == len(activity)
