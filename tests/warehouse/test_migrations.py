"""Upgrades: a file made by the first schema version reaches the current one with its rows, and
replaying the frozen migrations gives exactly the tables the code declares."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from papra_pipeline.warehouse import PUBLIC_TABLES, SCHEMA_VERSION, VIEWS, Warehouse
from papra_pipeline.warehouse.reports import REPORT_TABLES, refresh_daily_reports

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# The DDL the first release wrote (schema version 1, papra-pipeline 0.1.0), kept here as it was:
# every table with a PRIMARY KEY, no column compression. Never edit it to follow the code.
_TRACKING = (
    '"_first_seen_at" TIMESTAMPTZ, "_last_changed_at" TIMESTAMPTZ, "_synced_at" TIMESTAMPTZ, '
    '"_hash" VARCHAR, "_raw" JSON'
)
_REMOVAL = '"is_removed" BOOLEAN, "removed_at" TIMESTAMPTZ'
FIRST_VERSION_DDL = (
    'CREATE TABLE organizations ("id" VARCHAR, "name" VARCHAR, "customer_id" VARCHAR, '
    '"created_at" TIMESTAMPTZ, "updated_at" TIMESTAMPTZ, "deleted_at" TIMESTAMPTZ, '
    f'"deleted_by" VARCHAR, "scheduled_purge_at" TIMESTAMPTZ, {_REMOVAL}, {_TRACKING}, '
    "PRIMARY KEY (id))",
    'CREATE TABLE documents ("id" VARCHAR, "organization_id" VARCHAR, "name" VARCHAR, '
    '"original_name" VARCHAR, "mime_type" VARCHAR, "original_size" BIGINT, '
    '"original_sha256_hash" VARCHAR, "content" VARCHAR, "document_date" TIMESTAMPTZ, '
    '"notes" VARCHAR, "created_at" TIMESTAMPTZ, "updated_at" TIMESTAMPTZ, "created_by" VARCHAR, '
    '"is_deleted" BOOLEAN, "deleted_at" TIMESTAMPTZ, "deleted_by" VARCHAR, '
    f'"purged_at" TIMESTAMPTZ, "_content_synced_at" TIMESTAMPTZ, {_TRACKING}, '
    "PRIMARY KEY (id))",
    'CREATE TABLE tags ("id" VARCHAR, "organization_id" VARCHAR, "name" VARCHAR, '
    '"normalized_name" VARCHAR, "color" VARCHAR, "description" VARCHAR, '
    '"documents_count" BIGINT, "created_at" TIMESTAMPTZ, "updated_at" TIMESTAMPTZ, '
    f"{_REMOVAL}, {_TRACKING}, PRIMARY KEY (id))",
    'CREATE TABLE document_tags ("document_id" VARCHAR, "tag_id" VARCHAR, '
    '"organization_id" VARCHAR, "_synced_at" TIMESTAMPTZ, PRIMARY KEY (document_id, tag_id))',
    'CREATE TABLE document_activity ("id" VARCHAR, "document_id" VARCHAR, '
    '"organization_id" VARCHAR, "created_at" TIMESTAMPTZ, "event" VARCHAR, '
    '"updated_fields" VARCHAR[], "event_data" JSON, "user_id" VARCHAR, "user_name" VARCHAR, '
    '"tag_id" VARCHAR, "tag_name" VARCHAR, "_synced_at" TIMESTAMPTZ, "_raw" JSON, '
    "PRIMARY KEY (id))",
    'CREATE TABLE custom_property_definitions ("id" VARCHAR, "organization_id" VARCHAR, '
    '"name" VARCHAR, "key" VARCHAR, "description" VARCHAR, "type" VARCHAR, "config" JSON, '
    '"display_order" INTEGER, "created_at" TIMESTAMPTZ, "updated_at" TIMESTAMPTZ, '
    f"{_REMOVAL}, {_TRACKING}, PRIMARY KEY (id))",
    'CREATE TABLE custom_property_options ("id" VARCHAR, "property_definition_id" VARCHAR, '
    '"organization_id" VARCHAR, "name" VARCHAR, "key" VARCHAR, "display_order" INTEGER, '
    f'"created_at" TIMESTAMPTZ, "updated_at" TIMESTAMPTZ, {_REMOVAL}, {_TRACKING}, '
    "PRIMARY KEY (id))",
    'CREATE TABLE document_custom_property_values ("document_id" VARCHAR, '
    '"property_key" VARCHAR, "property_definition_id" VARCHAR, "organization_id" VARCHAR, '
    '"property_name" VARCHAR, "property_type" VARCHAR, "text_value" VARCHAR, '
    '"number_value" DOUBLE, "date_value" TIMESTAMPTZ, "boolean_value" BOOLEAN, '
    '"option_ids" VARCHAR[], "option_names" VARCHAR[], "user_ids" VARCHAR[], '
    '"related_document_ids" VARCHAR[], "raw_value" JSON, "_synced_at" TIMESTAMPTZ, '
    "PRIMARY KEY (document_id, property_key))",
    'CREATE TABLE organization_statistics ("organization_id" VARCHAR, '
    '"snapshot_at" TIMESTAMPTZ, "run_id" VARCHAR, "documents_count" BIGINT, '
    '"documents_size" BIGINT, "deleted_documents_count" BIGINT, '
    '"deleted_documents_size" BIGINT, "total_documents_count" BIGINT, '
    '"total_documents_size" BIGINT, PRIMARY KEY (organization_id, snapshot_at))',
    'CREATE TABLE tagging_rule_applications ("task_id" VARCHAR, "organization_id" VARCHAR, '
    '"tagging_rule_id" VARCHAR, "tagging_rule_name" VARCHAR, "rule_hash" VARCHAR, '
    '"reason" VARCHAR, "applied_at" TIMESTAMPTZ, PRIMARY KEY (task_id))',
    "CREATE TABLE _papra_schema_version (version INTEGER NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL, package_version VARCHAR)",
    "CREATE TABLE _papra_sync_state (stream VARCHAR NOT NULL, "
    "organization_id VARCHAR NOT NULL, state JSON, updated_at TIMESTAMPTZ NOT NULL, "
    "PRIMARY KEY (stream, organization_id))",
    "CREATE TABLE _papra_sync_runs (run_id VARCHAR PRIMARY KEY, mode VARCHAR NOT NULL, "
    "started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL, "
    "status VARCHAR NOT NULL, organizations VARCHAR[], requests BIGINT, retries BIGINT, "
    "duration_seconds DOUBLE, error VARCHAR)",
    "CREATE TABLE _papra_sync_run_streams (run_id VARCHAR NOT NULL, stream VARCHAR NOT NULL, "
    "inserted BIGINT NOT NULL, updated BIGINT NOT NULL, unchanged BIGINT NOT NULL, "
    "trashed BIGINT NOT NULL, restored BIGINT NOT NULL, purged BIGINT NOT NULL, "
    "removed BIGINT NOT NULL, requests BIGINT NOT NULL, retries BIGINT NOT NULL, "
    "duration_seconds DOUBLE NOT NULL, PRIMARY KEY (run_id, stream))",
    # The first version's views, which the upgrade must replace.
    "CREATE VIEW v_documents AS SELECT * FROM documents WHERE NOT is_deleted",
    "CREATE VIEW v_activity_daily AS SELECT event, count(*) AS events FROM document_activity "
    "GROUP BY ALL",
)

# Made by the first report run, outside the migrations, until schema version 3.
FIRST_REPORT_DDL = (
    "CREATE TABLE report_daily_documents (day DATE NOT NULL, organization_id VARCHAR NOT NULL, "
    "documents_uploaded BIGINT NOT NULL, bytes_added BIGINT NOT NULL, "
    "documents_trashed BIGINT NOT NULL, documents_restored BIGINT NOT NULL, "
    "tag_applications BIGINT NOT NULL, activity_events BIGINT NOT NULL, "
    "live_documents BIGINT NOT NULL, live_bytes BIGINT NOT NULL, "
    "computed_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (day, organization_id))",
    "CREATE TABLE report_daily_activity (day DATE NOT NULL, organization_id VARCHAR NOT NULL, "
    "event VARCHAR NOT NULL, events BIGINT NOT NULL, documents BIGINT NOT NULL, "
    "computed_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (day, organization_id, event))",
)
FIRST_REPORT_ROWS = {
    "report_daily_documents": "('2026-01-02', 'org_1', 1, 1234, 0, 0, 1, 2, 1, 1234, $now)",
    "report_daily_activity": "('2026-01-02', 'org_1', 'updated', 1, 1, $now)",
}

# One row per table, every column filled, as a sync of that version would have written it.
FIRST_VERSION_ROWS = {
    "organizations": "('org_1', 'Acme', NULL, $now, $now, NULL, NULL, NULL, false, NULL, "
    "$now, $now, $now, 'h', '{}')",
    "documents": "('doc_1', 'org_1', 'invoice.pdf', 'invoice.pdf', 'application/pdf', 1234, "
    "'abc', 'the text', $now, 'notes', $now, $now, 'usr_1', false, NULL, NULL, NULL, $now, "
    "$now, $now, $now, 'h', '{\"id\": \"doc_1\"}')",
    "tags": "('tag_1', 'org_1', 'Bills', 'bills', '#ff0000', NULL, 1, $now, $now, false, NULL, "
    "$now, $now, $now, 'h', '{}')",
    "document_tags": "('doc_1', 'tag_1', 'org_1', $now)",
    "document_activity": "('doc_act_1', 'doc_1', 'org_1', $now, 'updated', ['content'], "
    "'{\"updatedFields\": [\"content\"]}', 'usr_1', 'Ann', NULL, NULL, $now, '{}')",
    "custom_property_definitions": "('cpd_1', 'org_1', 'Amount', 'amount', NULL, 'number', "
    "NULL, 0, $now, $now, false, NULL, $now, $now, $now, 'h', '{}')",
    "custom_property_options": "('cpso_1', 'cpd_1', 'org_1', 'High', 'high', 0, $now, $now, "
    "false, NULL, $now, $now, $now, 'h', '{}')",
    "document_custom_property_values": "('doc_1', 'amount', 'cpd_1', 'org_1', 'Amount', "
    "'number', NULL, 12.5, NULL, NULL, NULL, NULL, NULL, NULL, '12.5', $now)",
    "organization_statistics": "('org_1', $now, 'run_1', 1, 1234, 0, 0, 1, 1234)",
    "tagging_rule_applications": "('task_1', 'org_1', 'tr_1', 'Bills', 'rh', 'new', $now)",
    "_papra_sync_state": "('documents', 'org_1', '{\"reverify_cursor\": [1, \"doc_1\"]}', $now)",
    "_papra_sync_runs": "('run_1', 'full', $now, $now, 'succeeded', ['org_1'], 10, 0, 1.5, NULL)",
    "_papra_sync_run_streams": "('run_1', 'documents', 1, 0, 0, 0, 0, 0, 0, 4, 0, 0.5)",
}


def _first_version_file(
    path, *, with_reports: bool = True
) -> dict[str, tuple[list[str], list[tuple]]]:
    """A warehouse as the first release left it; returns each table's columns and rows."""
    con = duckdb.connect(str(path))
    for statement in FIRST_VERSION_DDL + (FIRST_REPORT_DDL if with_reports else ()):
        con.execute(statement)
    con.execute("INSERT INTO _papra_schema_version VALUES (1, $now, '0.1.0')", {"now": NOW})
    rows = {}
    filled = {**FIRST_VERSION_ROWS, **(FIRST_REPORT_ROWS if with_reports else {})}
    for table, values in filled.items():
        con.execute(
            f"INSERT INTO {table} VALUES {values}", {"now": NOW} if "$now" in values else None
        )
        result = con.execute(f"SELECT * FROM {table}")
        rows[table] = ([c[0] for c in result.description], result.fetchall())
    con.close()
    return rows


def _columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def _declared_columns(con, table) -> list[tuple[str, str]]:
    """The declared columns with the type names DuckDB reports for them."""
    return [
        (name, con.execute(f"SELECT typeof(CAST(NULL AS {sql_type}))").fetchall()[0][0])
        for name, sql_type in table.columns
    ]


def _primary_keys(con) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path / "w.duckdb", lock_timeout=0.5)


def test_a_first_version_file_is_upgraded_with_every_row_intact(warehouse):
    before = _first_version_file(warehouse.path)

    warehouse.ensure_schema()

    with warehouse.read() as con:
        versions = con.execute("SELECT version FROM _papra_schema_version ORDER BY 1").fetchall()
        assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
        for table, (columns, rows) in before.items():
            # Later versions may add columns; the first version's keep their values.
            selected = ", ".join(f'"{c}"' for c in columns)
            assert con.execute(f"SELECT {selected} FROM {table}").fetchall() == rows, table
        for view in VIEWS:
            con.execute(f"SELECT * FROM {view}").fetchall()
        assert con.execute("SELECT id, tag_names FROM v_documents").fetchall() == [
            ("doc_1", ["Bills"])
        ]
        assert "documents" not in _primary_keys(con)


def test_reports_refresh_on_an_upgraded_file_replaces_its_days(warehouse):
    _first_version_file(warehouse.path, with_reports=False)
    refresh_daily_reports(warehouse, date(2026, 1, 2), date(2026, 1, 2), computed_at=NOW)
    with warehouse.read() as con:
        assert con.execute(
            "SELECT day, organization_id, documents_uploaded, bytes_added, live_documents "
            "FROM report_daily_documents"
        ).fetchall() == [(date(2026, 1, 2), "org_1", 1, 1234, 1)]
        assert con.execute(
            "SELECT event, events, documents FROM report_daily_activity"
        ).fetchall() == [("updated", 1, 1)]


def test_an_upgraded_file_takes_a_write_like_a_new_one(warehouse):
    """Merges after the upgrade: a changed document is rewritten once, not duplicated."""
    _first_version_file(warehouse.path)
    row = {"id": "doc_1", "organization_id": "org_1", "name": "renamed.pdf", "_hash": "h2"}
    with warehouse.write() as session:
        counts = session.upsert("documents", pd.DataFrame([{**row, "_raw": "{}"}]), NOW)
    assert (counts.inserted, counts.updated) == (0, 1)
    with warehouse.read() as con:
        assert con.execute("SELECT id, name FROM documents").fetchall() == [
            ("doc_1", "renamed.pdf")
        ]


def test_replaying_every_migration_gives_the_declared_tables(warehouse):
    warehouse.ensure_schema()
    with warehouse.read() as con:
        for table in PUBLIC_TABLES:
            assert _columns(con, table.name) == _declared_columns(con, table), table.name
        for name in REPORT_TABLES:
            assert _columns(con, name), name
        assert {t.name for t in PUBLIC_TABLES if t.enforce_key} == (
            _primary_keys(con) & {t.name for t in PUBLIC_TABLES}
        )


@pytest.mark.parametrize("with_reports", [True, False], ids=["reports-run", "no-reports"])
def test_an_upgraded_file_has_the_same_tables_as_a_new_one(warehouse, tmp_path, with_reports):
    _first_version_file(warehouse.path, with_reports=with_reports)
    warehouse.ensure_schema()
    fresh = Warehouse(tmp_path / "fresh.duckdb")
    fresh.ensure_schema()
    with warehouse.read() as upgraded, fresh.read() as new:
        tables = "SELECT table_name FROM information_schema.tables ORDER BY 1"
        names = [name for (name,) in new.execute(tables).fetchall()]
        assert [name for (name,) in upgraded.execute(tables).fetchall()] == names
        for name in names:
            assert _columns(upgraded, name) == _columns(new, name), name


def test_a_version_5_file_shows_far_dates_as_papra_writes_them_once_upgraded(warehouse):
    """Version 6 changes a view only: a file still at version 5 holds the old view (a bare
    five-digit year) until the upgrade recreates it."""
    warehouse.ensure_schema()
    con = duckdb.connect(str(warehouse.private_path))
    con.execute("DELETE FROM _papra_schema_version WHERE version >= 6")
    con.execute("DROP TABLE tagging_rule_additions")  # version 7's
    con.execute(
        """CREATE OR REPLACE VIEW v_document_custom_property_values AS
           SELECT document_id, strftime(timezone('UTC', date_value), '%Y-%m-%dT%H:%M:%S.%gZ')
                  AS display_value
           FROM document_custom_property_values"""
    )
    con.execute("INSERT INTO documents (id, organization_id, is_deleted) VALUES ('d', 'o', false)")
    con.execute(
        """INSERT INTO document_custom_property_values
               (document_id, property_key, organization_id, property_type, date_value)
           VALUES ('d', 'due', 'o', 'date', make_timestamptz(1000000000000000000))"""
    )
    assert con.execute("SELECT display_value FROM v_document_custom_property_values").fetchall(
    ) == [("33658-09-27T01:46:40.000Z",)]
    con.close()

    warehouse.ensure_schema()

    with warehouse.read() as con:
        assert con.execute("SELECT max(version) FROM _papra_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert con.execute("SELECT display_value FROM v_document_custom_property_values").fetchall(
        ) == [("+033658-09-27T01:46:40.000Z",)]
