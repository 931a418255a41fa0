"""Comparing a warehouse with the fake server and with another warehouse."""

from __future__ import annotations

import hashlib

from papra_pipeline.client import PapraClient
from papra_pipeline.testing import FakePapra
from papra_pipeline.warehouse import PUBLIC_TABLES, Warehouse

# Columns that record when we wrote something, not what Papra holds.
BOOKKEEPING = {
    "_first_seen_at",
    "_last_changed_at",
    "_synced_at",
    "_content_synced_at",
    "removed_at",
    "purged_at",
    "snapshot_at",
    "run_id",
    "applied_at",
}
LOGS = {"organization_statistics", "tagging_rule_applications"}


def table_fingerprints(warehouse: Warehouse) -> dict[str, str]:
    """A content hash per public table, bookkeeping columns and append-only logs aside."""
    fingerprints = {}
    with warehouse.read() as con:
        for table in PUBLIC_TABLES:
            if table.name in LOGS:
                continue
            columns = [c for c in table.column_names if c not in BOOKKEEPING]
            rows = con.execute(
                f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY ALL"
            ).fetchall()
            fingerprints[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return fingerprints


def row_counts(warehouse: Warehouse) -> dict[str, int]:
    with warehouse.read() as con:
        return {
            t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchall()[0][0]
            for t in PUBLIC_TABLES
        }


def assert_matches_server(fake: FakePapra, warehouse: Warehouse, *, content: bool = True) -> None:
    """Every document Papra holds is in the warehouse with the same fields, tags and values."""
    with warehouse.read() as con:
        stored = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT id, name, notes, is_deleted, content, purged_at IS NOT NULL FROM documents"
            ).fetchall()
        }
        links = set(con.execute("SELECT document_id, tag_id FROM document_tags").fetchall())
        values = {
            (d, k): raw
            for d, k, raw in con.execute(
                "SELECT document_id, property_key, raw_value FROM document_custom_property_values"
            ).fetchall()
        }
    server_ids = set()
    for org in fake.list_organizations():
        for doc in fake.documents(org["id"], include_deleted=True):
            server_ids.add(doc["id"])
            name, notes, is_deleted, text, purged = stored[doc["id"]]
            assert (name, notes, is_deleted, purged) == (
                doc["name"],
                doc["notes"],
                doc["isDeleted"],
                False,
            ), doc["id"]
            if content:
                assert text == doc["content"], doc["id"]
            if not doc["isDeleted"]:
                expected_links = {(doc["id"], tag["id"]) for tag in doc["tags"]}
                assert {link for link in links if link[0] == doc["id"]} == expected_links
                expected_values = {
                    (doc["id"], cp["key"])
                    for cp in doc["customProperties"]
                    if cp["value"] is not None
                }
                assert {k for k in values if k[0] == doc["id"]} == expected_values
    purged = {doc_id for doc_id, row in stored.items() if row[4]}
    assert set(stored) - purged == server_ids


def logged_in_client(fake: FakePapra) -> PapraClient:
    """A client on the fake's in-process transport with its API key and its login (the
    routes Papra keeps session-only), that never really sleeps."""
    return PapraClient(
        "http://papra.test",
        fake.api_key,
        email=fake.email,
        password=fake.password,
        transport=fake.transport(),
        sleep=lambda seconds: None,
    )
