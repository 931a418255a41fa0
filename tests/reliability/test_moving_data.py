"""Uploads, trashes, restores, purges, renames and retags made between the page requests of a
sync: the run finishes, and after the next full sync the warehouse equals the server."""

from __future__ import annotations

import itertools
import random
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import (
    duplicate_keys,
    in_process_client,
    record,
    reference_fingerprints,
)
from tests.sync.helpers import assert_matches_server, table_fingerprints

FULL = SyncOptions(mode="full")
PAGE_ROUTES = {
    "GET /api/organizations/{org}/documents",
    "GET /api/organizations/{org}/documents/deleted",
    "GET /api/organizations/{org}/documents/{doc}",
    "GET /api/organizations/{org}/documents/{doc}/activity",
}


def mutate_between_requests(fake, seed: int, every: int = 7):
    """A hook that, every ``every`` page or detail request, changes something in the fake."""
    rng = random.Random(seed)
    counter = itertools.count(1)
    uploads = itertools.count()
    done: dict[str, int] = {}

    def hook(record) -> None:
        if record.route not in PAGE_ROUTES or next(counter) % every:
            return
        org = record.path.split("/")[3]
        with fake.lock:
            live = fake.documents(org, include_deleted=False)
            trashed = [d for d in fake.documents(org) if d["isDeleted"]]
            action = rng.choice(["upload", "trash", "rename", "restore", "purge", "retag"])
            if action == "upload":
                n = next(uploads)
                fake.upload_document(org, f"mid-sync-{seed}-{n}.txt", f"mid {seed} {n}",
                                     extract=True)
            elif action == "trash" and live:
                fake.trash_document(org, rng.choice(live)["id"])
            elif action == "rename" and live:
                fake.update_document(org, rng.choice(live)["id"], name=f"renamed-{rng.random()}")
            elif action == "restore" and trashed:
                fake.restore_document(org, rng.choice(trashed)["id"])
            elif action == "purge" and trashed:
                fake.purge_document(org, rng.choice(trashed)["id"])
            elif action == "retag" and live:
                tags = fake.list_tags(org)
                doc = rng.choice(live)
                tag = rng.choice(tags)
                if any(t["id"] == tag["id"] for t in doc["tags"]):
                    fake.untag_document(org, doc["id"], tag["id"])
                else:
                    fake.tag_document(org, doc["id"], tag["id"])
            else:
                return
        done[action] = done.get(action, 0) + 1

    return hook, done


@pytest.mark.parametrize("stage", ["first", "incremental"])
def test_changes_between_page_requests_converge_on_the_next_sync(fake, tmp_path, stage):
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    if stage == "incremental":
        with in_process_client(fake) as client:
            sync(client, warehouse, FULL)
    every = 20 if stage == "first" else 3  # a first run makes ~600 requests, later ones ~40
    hook, done = mutate_between_requests(fake, seed=len(stage), every=every)
    fake.add_hook(hook)
    # An hour later by the period's clock, as an hourly schedule runs: the incremental run
    # re-reads a slice of the documents too (a 24th of them at PAPRA_REVERIFY_DAYS=1).
    later = datetime.now(UTC) + timedelta(hours=1)
    with in_process_client(fake) as client:
        during = sync(  # must not fail
            client, warehouse, SyncOptions(mode="full", reverify_period=timedelta(days=1)),
            now=lambda: later,
        )
    fake.clear_hooks()
    assert sum(done.values()) >= 8, done
    before = tmp_path / "before.duckdb"
    shutil.copyfile(warehouse.path, before)

    with in_process_client(fake) as client:
        sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)
    assert not any(duplicate_keys(warehouse).values())
    assert table_fingerprints(warehouse) == reference_fingerprints(
        fake, tmp_path / "ref.duckdb", before
    )
    record("moving_data", **{stage: {"changes_during_run": done,
                                     "requests_of_the_moving_run": during.requests}})
