"""Changes the document list cannot show, and reading activity when entries share a
millisecond."""

from __future__ import annotations

from papra_pipeline.sync import SyncOptions, sync

FULL = SyncOptions(mode="full", reverify_every_runs=0)


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
