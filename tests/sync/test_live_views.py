"""What the live views and the daily reports show, read as an analyst reads them.

Two organizations with tags, custom-property values, trashed documents and activity, synced
from the fake Papra into a real DuckDB file; the reader opens it read-only afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest

from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import FakeClock, FakePapra
from papra_pipeline.warehouse import VIEWS, Warehouse
from papra_pipeline.warehouse.reports import REPORT_TABLES, refresh_daily_reports

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))
HOUR_MS = 3_600_000
# 03:00 UTC on 6 January is still 5 January in Los Angeles (19:00, UTC-8).
START = datetime(2026, 1, 6, 3, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(2026, 1, 6), date(2026, 1, 7)
DUE = "2024-12-31T00:00:00.000Z"


@pytest.fixture
def fake() -> FakePapra:
    """Per organization: two documents uploaded at 03:00 UTC, one tagged, with a date and a
    number value; the other trashed a day later."""
    fake = FakePapra(clock=FakeClock(int(START.timestamp() * 1000)))
    for name in ("Kept Org", "Gone Org"):
        org = fake.create_organization(name)["id"]
        tag = fake.create_tag(org, "Paid")["id"]
        due = fake.create_custom_property(org, "Due date", "date")["id"]
        amount = fake.create_custom_property(org, "Amount", "number")["id"]
        first = fake.upload_document(org, f"{name} invoice.txt", f"{name} invoice", extract=True)
        second = fake.upload_document(org, f"{name} notes.txt", f"{name} notes", extract=True)
        fake.tag_document(org, first["id"], tag)
        fake.set_custom_property_value(org, first["id"], due, DUE)
        fake.set_custom_property_value(org, first["id"], amount, 120.5)
        fake.clock.advance(24 * HOUR_MS)
        fake.trash_document(org, second["id"])
        fake.clock.advance(-24 * HOUR_MS)
    fake.clock.advance(48 * HOUR_MS)
    return fake


def org_named(fake, name: str) -> str:
    return next(org["id"] for org in fake.list_organizations() if org["name"] == name)


def view_rows_by_organization(con) -> dict[str, dict[str, int]]:
    return {
        view: dict(
            con.execute(f"SELECT organization_id, count(*) FROM {view} GROUP BY ALL").fetchall()
        )
        for view in VIEWS
    }


def test_a_removed_organization_leaves_every_live_view_and_report_but_keeps_its_rows(
    fake, client, warehouse
):
    kept, gone = org_named(fake, "Kept Org"), org_named(fake, "Gone Org")
    sync(client, warehouse, FULL)
    refresh_daily_reports(warehouse, FIRST_DAY, LAST_DAY)
    with warehouse.read() as con:
        before = view_rows_by_organization(con)
        stored = con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ?", [gone]
        ).fetchall()
    assert all(counts.get(gone) for counts in before.values()), before

    fake.delete_organization(gone)
    sync(client, warehouse, FULL)
    # Only the last day is recomputed: the gone organization's rows of every day leave.
    refresh_daily_reports(warehouse, LAST_DAY, LAST_DAY)

    with warehouse.read() as con:
        after = view_rows_by_organization(con)
        assert con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ?", [gone]
        ).fetchall() == stored
        reports = {
            table: con.execute(
                f"SELECT count(*) FILTER (WHERE organization_id = ?), "
                f"count(*) FILTER (WHERE organization_id = ?) FROM {table}",
                [gone, kept],
            ).fetchall()[0]
            for table in REPORT_TABLES
        }
    assert after == {view: {kept: counts[kept]} for view, counts in before.items()}
    assert all(rows_of_gone == 0 and rows_of_kept > 0 for rows_of_gone, rows_of_kept in
               reports.values()), reports


@pytest.mark.parametrize("time_zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_views_give_the_utc_reports_answer_in_any_reader_time_zone(
    fake, client, warehouse, time_zone
):
    sync(client, warehouse, FULL)
    refresh_daily_reports(warehouse, FIRST_DAY, LAST_DAY)

    with warehouse.read() as con:
        con.execute(f"SET TimeZone = '{time_zone}'")
        activity = con.execute(
            "SELECT day, organization_id, event, events FROM v_activity_daily ORDER BY ALL"
        ).fetchall()
        reported_activity = con.execute(
            "SELECT day, organization_id, event, events FROM report_daily_activity ORDER BY ALL"
        ).fetchall()
        storage = con.execute(
            """SELECT day, organization_id, documents_added, documents_removed
               FROM v_storage_daily ORDER BY ALL"""
        ).fetchall()
        reported_storage = con.execute(
            """SELECT day, organization_id, documents_uploaded, documents_trashed
               FROM report_daily_documents
               WHERE documents_uploaded > 0 OR documents_trashed > 0 ORDER BY ALL"""
        ).fetchall()
        dates = con.execute(
            "SELECT DISTINCT display_value FROM v_document_custom_property_values "
            "WHERE property_type = 'date'"
        ).fetchall()

    assert activity == reported_activity
    assert {row[0] for row in activity} == {FIRST_DAY, LAST_DAY}
    assert storage == reported_storage
    # The value as Papra sent it, not the reader's local time labelled Z.
    assert dates == [(DUE,)]


@contextmanager
def process_time_zone(name: str) -> Iterator[None]:
    """DuckDB gives each new connection the process's time zone (``TZ``) as its TimeZone."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_a_writer_in_another_time_zone_stores_the_same_warehouse_and_reports(
    fake, client, tmp_path
):
    """The reports' UTC days and every stored instant do not depend on the machine's zone."""
    queries = {
        **{table: f"SELECT * FROM {table}" for table in REPORT_TABLES},
        "documents": "SELECT id, created_at, deleted_at, document_date FROM documents",
        "document_activity": "SELECT id, created_at FROM document_activity",
        "values": "SELECT document_id, date_value FROM document_custom_property_values",
    }
    contents = []
    for zone in ("UTC", "America/Los_Angeles"):
        warehouse = Warehouse(tmp_path / f"{zone.replace('/', '-')}.duckdb")
        with process_time_zone(zone):
            sync(client, warehouse, FULL)
            refresh_daily_reports(warehouse, FIRST_DAY, LAST_DAY, computed_at=START)
        with warehouse.read() as con:
            contents.append(
                {name: con.execute(f"{q} ORDER BY ALL").fetchall() for name, q in queries.items()}
            )
    assert contents[0] == contents[1]
    assert contents[0]["report_daily_documents"]
