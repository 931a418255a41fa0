"""Changes the document list cannot show: ``verify``, the rolling re-verification sized by time,
and reading activity when entries share a millisecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from papra_pipeline.settings import Settings, SettingsError
from papra_pipeline.sync import SyncError, SyncOptions, sync
from tests.sync.helpers import assert_matches_server

OFF = timedelta(0)
FULL = SyncOptions(mode="full", reverify_period=OFF)
VERIFY = SyncOptions(mode="full", reverify_period=OFF, verify=True)
START = datetime(2026, 3, 1, tzinfo=UTC)


def first_org(fake):
    return fake.list_organizations()[0]["id"]


def untagged_live_doc(fake, org):
    return next(d for d in fake.documents(org, include_deleted=False) if not d["tags"])


def activity_ids(warehouse, doc_id):
    with warehouse.read() as con:
        rows = con.execute(
            "SELECT id FROM document_activity WHERE document_id = ?", [doc_id]
        ).fetchall()
    return {row[0] for row in rows}


def server_activity_ids(fake, org, doc_id):
    return {a["id"] for a in fake.activities(org, doc_id, page_size=100)}


def stored_text(warehouse, doc_id):
    with warehouse.read() as con:
        return con.execute("SELECT content FROM documents WHERE id = ?", [doc_id]).fetchall()[0][0]


def edit_text(fake, org, doc):
    fake.update_document(org, doc["id"], content="corrected OCR text")


def trash_then_restore(fake, org, doc):
    fake.trash_document(org, doc["id"])
    fake.restore_document(org, doc["id"])


def reupload_trashed(fake, org, doc):
    data = fake.document_bytes(org, doc["id"])
    fake.trash_document(org, doc["id"])
    again = fake.upload_document(org, doc["name"], data, mime_type=doc["mimeType"])
    assert again["id"] == doc["id"]


UNLISTED_CHANGES = {
    "text_edit": edit_text,
    "trash_then_restore": trash_then_restore,
    "reupload_of_trashed_file": reupload_trashed,
}


@pytest.mark.parametrize("change", sorted(UNLISTED_CHANGES))
def test_verify_brings_what_the_document_list_cannot_show(fake, client, warehouse, change):
    org = first_org(fake)
    doc = untagged_live_doc(fake, org)
    sync(client, warehouse, FULL)
    listed_before = next(d for d in fake.documents(org) if d["id"] == doc["id"])

    UNLISTED_CHANGES[change](fake, org, doc)
    fake.extract_pending()
    listed_after = next(d for d in fake.documents(org) if d["id"] == doc["id"])
    assert {k: v for k, v in listed_after.items() if k != "content"} == {
        k: v for k, v in listed_before.items() if k != "content"
    }
    plain = sync(client, warehouse, FULL)  # the list item did not move: nothing to see
    assert plain.rows_written == 0
    server = server_activity_ids(fake, org, doc["id"])
    assert activity_ids(warehouse, doc["id"]) != server

    verified = sync(client, warehouse, VERIFY)

    assert activity_ids(warehouse, doc["id"]) == server
    assert stored_text(warehouse, doc["id"]) == fake.get_document(org, doc["id"])["content"]
    assert_matches_server(fake, warehouse)
    assert verified.streams["document_activity"].inserted > 0


def test_verify_reads_every_document_once_and_is_idempotent(fake, client, warehouse):
    sync(client, warehouse, FULL)
    documents = sum(len(fake.documents(o["id"])) for o in fake.list_organizations())
    fake.reset_requests()

    result = sync(client, warehouse, VERIFY)

    assert result.rows_written == 0
    assert result.streams["document_activity"].requests == documents
    assert result.streams["document_content"].requests == documents
    with warehouse.read() as con:
        stored = con.execute("SELECT count(*) FROM document_activity").fetchall()[0][0]
    assert stored == sum(
        len(fake.activities(o["id"], d["id"], page_size=100))
        for o in fake.list_organizations()
        for d in fake.documents(o["id"])
    )


def test_verify_of_chosen_organizations_reads_only_theirs(fake, client, warehouse):
    orgs = [o["id"] for o in fake.list_organizations()]
    sync(client, warehouse, FULL)
    other = untagged_live_doc(fake, orgs[0])
    edit_text(fake, orgs[0], other)
    chosen = untagged_live_doc(fake, orgs[1])
    edit_text(fake, orgs[1], chosen)

    result = sync(
        client,
        warehouse,
        SyncOptions(organization_ids=(orgs[1],), reverify_period=OFF, verify=True),
    )

    assert result.streams["document_content"].requests == len(fake.documents(orgs[1]))
    assert stored_text(warehouse, chosen["id"]) == "corrected OCR text"
    assert stored_text(warehouse, other["id"]) != "corrected OCR text"


def test_verify_needs_a_full_sync():
    with pytest.raises(SyncError, match="needs a full sync"):
        SyncOptions(mode="quick", verify=True)


# -- the rolling slice, sized by time ---------------------------------------------------------


def run_every(client, warehouse, interval, until, period=timedelta(days=7)):
    """Full syncs from START every ``interval`` up to ``until``; returns the text requests
    of the re-verification slices (every run after the first)."""
    options = SyncOptions(mode="full", reverify_period=period)
    requests, at = 0, START
    while at <= START + until:
        result = sync(client, warehouse, options, now=lambda at=at: at)
        if at > START:
            requests += result.streams["document_content"].requests
        at += interval
    return requests


@pytest.mark.parametrize("interval", [timedelta(days=1), timedelta(hours=12)], ids=["daily", "12h"])
def test_every_document_is_reverified_within_the_period_at_the_same_cost(
    fake, client, warehouse, interval
):
    live = {
        o["id"]: fake.documents(o["id"], include_deleted=False) for o in fake.list_organizations()
    }
    sync(client, warehouse, SyncOptions(reverify_period=OFF), now=lambda: START - interval)
    for org, docs in live.items():
        for doc in docs:
            fake.update_document(org, doc["id"], content=f"edited {doc['id']}")

    requests = run_every(client, warehouse, interval, until=timedelta(days=7))

    total = sum(len(docs) for docs in live.values())
    # The clock starts at the first sync, one interval before START: one period is covered
    # after 7 days less one interval, the rest wraps around.
    assert total <= requests <= total + total * interval / timedelta(days=7) + len(live)
    assert_matches_server(fake, warehouse)


def test_half_the_period_reverifies_about_half_the_documents(fake, client, warehouse):
    sync(client, warehouse, SyncOptions(reverify_period=OFF), now=lambda: START)
    total = sum(
        len(fake.documents(o["id"], include_deleted=False)) for o in fake.list_organizations()
    )
    requests = run_every(client, warehouse, timedelta(hours=12), until=timedelta(days=3.5))
    assert abs(requests - total / 2) <= len(fake.list_organizations())


def test_a_first_run_only_starts_the_clock(fake, client, warehouse):
    sync(client, warehouse, FULL)
    first_sliced = sync(client, warehouse, SyncOptions(reverify_period=timedelta(days=7)))
    assert first_sliced.streams["document_content"].requests == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", timedelta(days=7)), ("0", timedelta(0)), ("0.5", timedelta(hours=12))],
)
def test_reverify_days_from_the_environment(value, expected):
    days = Settings.from_env({"PAPRA_REVERIFY_DAYS": value}).reverify_days
    assert timedelta(days=days) == expected


@pytest.mark.parametrize("value", ["seven", "-1", "nan", "inf"])
def test_a_bad_reverify_days_is_a_clear_error(value):
    expected = f"PAPRA_REVERIFY_DAYS='{value}' (is not a number|must be 0 or more)"
    with pytest.raises(SettingsError, match=expected):
        Settings.from_env({"PAPRA_REVERIFY_DAYS": value})


# -- activity sharing a millisecond -----------------------------------------------------------


def test_activity_sharing_the_newest_stored_millisecond_is_not_lost(fake, client, warehouse):
    """Papra orders activity by createdAt only: an entry written in the same millisecond as
    the newest stored one can be listed after it."""
    org = first_org(fake)
    doc = untagged_live_doc(fake, org)
    tag = fake.list_tags(org)[0]["id"]
    fake.tag_document(org, doc["id"], tag)
    fake.clock.step_ms = 0  # from here on every event shares the tagging's millisecond
    sync(client, warehouse, FULL)

    fake.untag_document(org, doc["id"], tag)
    listed = fake.activities(org, doc["id"])
    assert [a["event"] for a in listed[:2]] == ["tagged", "untagged"]
    assert listed[0]["createdAt"] == listed[1]["createdAt"]

    sync(client, warehouse, FULL)

    assert activity_ids(warehouse, doc["id"]) == server_activity_ids(fake, org, doc["id"])
