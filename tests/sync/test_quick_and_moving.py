"""Quick mode's cost and reach, and scans that race with writes on the server."""

from __future__ import annotations

from datetime import timedelta

from papra_pipeline.sync import SyncOptions, sync
from tests.sync.helpers import assert_matches_server

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))
QUICK = SyncOptions(mode="quick")


def test_quick_sync_with_no_change_costs_three_requests_per_organization(client, warehouse):
    sync(client, warehouse, FULL)
    result = sync(client, warehouse, QUICK)
    assert result.requests == 3 * len(result.organization_ids)
    assert result.rows_written == 0


def test_quick_sync_catches_uploads_and_trashes(fake, client, warehouse):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse, FULL)
    new = [
        fake.upload_document(org, f"upload-{i}.txt", f"fresh text {i}", extract=True)
        for i in range(3)
    ]
    trashed = fake.documents(org, include_deleted=False)[0]["id"]
    fake.trash_document(org, trashed)

    result = sync(client, warehouse, QUICK)

    assert result.streams["documents"].inserted == 3
    assert result.streams["documents"].trashed == 1
    # Per organization: statistics, one newest page, one trash page. The organization with
    # uploads reads one more page (the first held new ids); each new document costs one
    # activity page and one GET for its text, the trashed one an activity page and one GET
    # for the tags the trash list leaves out. Its custom-property values make the run list
    # that organization's definitions once, so values link to the current ones.
    organizations = len(result.organization_ids)
    assert result.requests == 3 * organizations + 1 + 2 * len(new) + 2 + 1
    with warehouse.read() as con:
        stored = dict(con.execute("SELECT id, is_deleted FROM documents").fetchall())
    assert all(stored[d["id"]] is False for d in new)
    assert stored[trashed] is True


def test_quick_sync_pages_until_a_page_of_known_ids(fake, client, warehouse):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse, FULL)
    for i in range(150):
        fake.upload_document(org, f"bulk-{i}.txt", f"bulk text {i}", extract=True)
    result = sync(client, warehouse, QUICK)
    assert result.streams["documents"].inserted == 150
    assert_matches_server(fake, warehouse)


def test_uploads_and_trashes_during_the_scan_lose_nothing(fake, client, warehouse):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse, FULL)
    victims = [d["id"] for d in fake.documents(org, include_deleted=False)[:5]]
    uploads = iter(range(1000))

    def meddle(request):
        # Between two page requests of the scan, the server moves under our feet.
        if request.path.endswith("/documents") and request.method == "GET":
            i = next(uploads)
            if i < 5:
                fake.upload_document(org, f"during-scan-{i}.txt", f"racing {i}", extract=True)
                fake.trash_document(org, victims[i])

    fake.add_hook(meddle)
    sync(client, warehouse, FULL)
    fake.clear_hooks()
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)


def test_quick_sync_of_an_organization_not_yet_known_records_it(fake, client, warehouse):
    first, second = [o["id"] for o in fake.list_organizations()]
    sync(client, warehouse, SyncOptions(mode="full", organization_ids=(first,)))
    result = sync(client, warehouse, SyncOptions(mode="quick", organization_ids=(second,)))
    assert result.organization_ids == [second]
    with warehouse.read() as con:
        orgs = {row[0] for row in con.execute("SELECT id FROM organizations").fetchall()}
    assert orgs == {first, second}


def test_quick_sync_reads_only_the_newest_trash_page_when_nothing_changed(fake, client, warehouse):
    org = fake.list_organizations()[0]["id"]
    for document in fake.documents(org, include_deleted=False)[:110]:
        fake.trash_document(org, document["id"])  # more than one trash page
    sync(client, warehouse, FULL)
    result = sync(client, warehouse, QUICK)
    assert result.requests == 3 * len(result.organization_ids)
    # A new trash still shows: it comes first in the trash, ordered by deletion time.
    fake.trash_document(org, fake.documents(org, include_deleted=False)[0]["id"])
    assert sync(client, warehouse, QUICK).streams["documents"].trashed == 1
