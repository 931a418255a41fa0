"""An organization deleted in Papra, or left by the key's user, stops nothing else.

Papra answers 403 ``user.not_in_organization`` on every route of it at once. Runs skip it
with a warning naming it and sync the others; the next full sync marks it removed, and its
rows stay in the warehouse.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.sync.probe import probe, snapshot_statistics

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))
QUICK = SyncOptions(mode="quick")

LEAVE = pytest.mark.parametrize(
    "leave",
    [
        lambda fake, org: fake.delete_organization(org),
        lambda fake, org: fake.remove_member(org),
    ],
    ids=["deleted", "user-left"],
)


def organizations(fake) -> list[str]:
    return sorted(org["id"] for org in fake.list_organizations())


def gone_when_asked_for_statistics(fake, org: str) -> None:
    """Delete ``org`` the moment a run asks for its statistics: after it was listed."""

    def hook(record) -> None:
        if record.path == f"/api/organizations/{org}/documents/statistics":
            fake.clear_hooks()
            fake.delete_organization(org)

    fake.add_hook(hook)


def assert_warned(caplog, org: str) -> None:
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(org in message and "gone" in message for message in warnings), warnings


@LEAVE
def test_quick_sync_skips_a_gone_organization_and_syncs_the_others(
    fake, client, warehouse, caplog, leave
):
    gone, kept = organizations(fake)
    sync(client, warehouse, FULL)
    leave(fake, gone)
    uploaded = fake.upload_document(kept, "after.txt", "uploaded after the delete", extract=True)

    result = sync(client, warehouse, QUICK)

    assert result.organization_ids == [kept]
    assert result.skipped_organization_ids == [gone]
    assert result.streams["documents"].inserted == 1
    assert_warned(caplog, gone)
    with warehouse.read() as con:
        assert con.execute(
            "SELECT count(*) FROM documents WHERE id = ?", [uploaded["id"]]
        ).fetchall() == [(1,)]
        statuses = con.execute("SELECT status FROM _papra_sync_runs").fetchall()
    assert statuses == [("succeeded",), ("succeeded",)]


@LEAVE
def test_the_next_full_sync_marks_it_removed_and_keeps_its_rows(fake, client, warehouse, leave):
    gone, _ = organizations(fake)
    sync(client, warehouse, FULL)
    with warehouse.read() as con:
        before = con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ?", [gone]
        ).fetchall()
    leave(fake, gone)
    sync(client, warehouse, QUICK)

    result = sync(client, warehouse, FULL)

    assert result.streams["organizations"].removed == 1
    with warehouse.read() as con:
        assert con.execute(
            "SELECT is_removed FROM organizations WHERE id = ?", [gone]
        ).fetchall() == [(True,)]
        assert con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ?", [gone]
        ).fetchall() == before
    # A gone organization costs nothing more: the quick sync after the full one does not ask.
    assert sync(client, warehouse, QUICK).skipped_organization_ids == []


def test_an_organization_gone_during_a_full_sync_is_skipped(fake, client, warehouse, caplog):
    first, second = organizations(fake)
    gone_when_asked_for_statistics(fake, second)

    result = sync(client, warehouse, FULL)

    assert result.organization_ids == [first]
    assert result.skipped_organization_ids == [second]
    assert_warned(caplog, second)
    with warehouse.read() as con:
        synced = con.execute("SELECT DISTINCT organization_id FROM documents").fetchall()
    assert synced == [(first,)]


@LEAVE
def test_statistics_snapshot_skips_a_gone_organization(fake, client, warehouse, caplog, leave):
    gone, kept = organizations(fake)
    sync(client, warehouse, FULL)
    leave(fake, gone)

    snapshot = snapshot_statistics(client, warehouse, run_id="after-delete")

    assert (snapshot.rows_written, snapshot.gone) == (1, [gone])
    assert_warned(caplog, gone)
    with warehouse.read() as con:
        rows = con.execute(
            "SELECT organization_id FROM organization_statistics WHERE run_id = 'after-delete'"
        ).fetchall()
    assert rows == [(kept,)]


def test_probe_skips_an_organization_gone_while_probing(fake, client, caplog):
    first, second = organizations(fake)
    gone_when_asked_for_statistics(fake, first)

    result = probe(client)

    assert sorted(result.organizations) == [second]
    assert result.gone == [first]
    assert_warned(caplog, first)


@LEAVE
def test_probe_of_named_organizations_skips_a_gone_one(fake, client, leave):
    gone, kept = organizations(fake)
    leave(fake, gone)

    result = probe(client, [gone, kept])

    assert (sorted(result.organizations), result.gone) == ([kept], [gone])
