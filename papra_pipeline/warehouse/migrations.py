"""Every schema version's statements, frozen as the SQL that version ran.

A migration is history: once released, its text never changes, whatever the table
declarations in ``schema.py`` say today (a file made by an old version is upgraded by
replaying exactly what came after it). So the statements below are literal SQL, not built
from :mod:`schema`; a test checks that replaying them all gives the declared tables.

To change the schema, append a new version at the end of ``MIGRATIONS`` (its position is its
version number) and update the declarations in ``schema.py``. Views are not migrations: they
are recreated from ``schema.VIEWS`` after every upgrade.
"""

from __future__ import annotations

# Version 1: the initial schema. Files made by earlier releases of version 1 hold the same
# columns in the same order, with a PRIMARY KEY on every table and no zstd. Long text columns
# are stored with zstd: committing 100,000 document rows (without content) took 1.6 s into
# 96 MB with DuckDB's default for them (dictionary + FSST), 0.95 s into 33 MB with zstd.
# DuckDB before 2.0 accepts the setting but stores such columns uncompressed.
_V1_INITIAL = (
    """CREATE TABLE IF NOT EXISTS organizations (
        "id" VARCHAR,
        "name" VARCHAR,
        "customer_id" VARCHAR,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "deleted_at" TIMESTAMPTZ,
        "deleted_by" VARCHAR,
        "scheduled_purge_at" TIMESTAMPTZ,
        "is_removed" BOOLEAN,
        "removed_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd,
        PRIMARY KEY (id)
    )""",
    """CREATE TABLE IF NOT EXISTS documents (
        "id" VARCHAR,
        "organization_id" VARCHAR,
        "name" VARCHAR,
        "original_name" VARCHAR,
        "mime_type" VARCHAR,
        "original_size" BIGINT,
        "original_sha256_hash" VARCHAR,
        "content" VARCHAR USING COMPRESSION zstd,
        "document_date" TIMESTAMPTZ,
        "notes" VARCHAR,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "created_by" VARCHAR,
        "is_deleted" BOOLEAN,
        "deleted_at" TIMESTAMPTZ,
        "deleted_by" VARCHAR,
        "purged_at" TIMESTAMPTZ,
        "_content_synced_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd
    )""",
    """CREATE TABLE IF NOT EXISTS tags (
        "id" VARCHAR,
        "organization_id" VARCHAR,
        "name" VARCHAR,
        "normalized_name" VARCHAR,
        "color" VARCHAR,
        "description" VARCHAR,
        "documents_count" BIGINT,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "is_removed" BOOLEAN,
        "removed_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd,
        PRIMARY KEY (id)
    )""",
    """CREATE TABLE IF NOT EXISTS document_tags (
        "document_id" VARCHAR,
        "tag_id" VARCHAR,
        "organization_id" VARCHAR,
        "_synced_at" TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS document_activity (
        "id" VARCHAR,
        "document_id" VARCHAR,
        "organization_id" VARCHAR,
        "created_at" TIMESTAMPTZ,
        "event" VARCHAR,
        "updated_fields" VARCHAR[],
        "event_data" JSON USING COMPRESSION zstd,
        "user_id" VARCHAR,
        "user_name" VARCHAR,
        "tag_id" VARCHAR,
        "tag_name" VARCHAR,
        "_synced_at" TIMESTAMPTZ,
        "_raw" JSON USING COMPRESSION zstd
    )""",
    """CREATE TABLE IF NOT EXISTS custom_property_definitions (
        "id" VARCHAR,
        "organization_id" VARCHAR,
        "name" VARCHAR,
        "key" VARCHAR,
        "description" VARCHAR,
        "type" VARCHAR,
        "config" JSON,
        "display_order" INTEGER,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "is_removed" BOOLEAN,
        "removed_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd,
        PRIMARY KEY (id)
    )""",
    """CREATE TABLE IF NOT EXISTS custom_property_options (
        "id" VARCHAR,
        "property_definition_id" VARCHAR,
        "organization_id" VARCHAR,
        "name" VARCHAR,
        "key" VARCHAR,
        "display_order" INTEGER,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "is_removed" BOOLEAN,
        "removed_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd,
        PRIMARY KEY (id)
    )""",
    """CREATE TABLE IF NOT EXISTS document_custom_property_values (
        "document_id" VARCHAR,
        "property_key" VARCHAR,
        "property_definition_id" VARCHAR,
        "organization_id" VARCHAR,
        "property_name" VARCHAR,
        "property_type" VARCHAR,
        "text_value" VARCHAR,
        "number_value" DOUBLE,
        "date_value" TIMESTAMPTZ,
        "boolean_value" BOOLEAN,
        "option_ids" VARCHAR[],
        "option_names" VARCHAR[],
        "user_ids" VARCHAR[],
        "related_document_ids" VARCHAR[],
        "raw_value" JSON,
        "_synced_at" TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS organization_statistics (
        "organization_id" VARCHAR,
        "snapshot_at" TIMESTAMPTZ,
        "run_id" VARCHAR,
        "documents_count" BIGINT,
        "documents_size" BIGINT,
        "deleted_documents_count" BIGINT,
        "deleted_documents_size" BIGINT,
        "total_documents_count" BIGINT,
        "total_documents_size" BIGINT,
        PRIMARY KEY (organization_id, snapshot_at)
    )""",
    """CREATE TABLE IF NOT EXISTS tagging_rule_applications (
        "task_id" VARCHAR,
        "organization_id" VARCHAR,
        "tagging_rule_id" VARCHAR,
        "tagging_rule_name" VARCHAR,
        "rule_hash" VARCHAR,
        "reason" VARCHAR,
        "applied_at" TIMESTAMPTZ,
        PRIMARY KEY (task_id)
    )""",
    """CREATE TABLE IF NOT EXISTS _papra_schema_version (
        version INTEGER NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL,
        package_version VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS _papra_sync_state (
        stream VARCHAR NOT NULL,
        organization_id VARCHAR NOT NULL,
        state JSON,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (stream, organization_id)
    )""",
    """CREATE TABLE IF NOT EXISTS _papra_sync_runs (
        run_id VARCHAR PRIMARY KEY,
        mode VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL,
        status VARCHAR NOT NULL,
        organizations VARCHAR[],
        requests BIGINT,
        retries BIGINT,
        duration_seconds DOUBLE,
        error VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS _papra_sync_run_streams (
        run_id VARCHAR NOT NULL,
        stream VARCHAR NOT NULL,
        inserted BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        unchanged BIGINT NOT NULL,
        trashed BIGINT NOT NULL,
        restored BIGINT NOT NULL,
        purged BIGINT NOT NULL,
        removed BIGINT NOT NULL,
        requests BIGINT NOT NULL,
        retries BIGINT NOT NULL,
        duration_seconds DOUBLE NOT NULL,
        PRIMARY KEY (run_id, stream)
    )""",
)

# Version 2: documents without its PRIMARY KEY, whose index DuckDB holds in memory for a whole
# write. DuckDB cannot drop a constraint, so the table is copied (by column name); the views
# depend on it and are dropped first, then recreated after the upgrade.
_V2_DOCUMENTS_WITHOUT_KEY = (
    """CREATE TABLE IF NOT EXISTS _papra_documents_v2 (
        "id" VARCHAR,
        "organization_id" VARCHAR,
        "name" VARCHAR,
        "original_name" VARCHAR,
        "mime_type" VARCHAR,
        "original_size" BIGINT,
        "original_sha256_hash" VARCHAR,
        "content" VARCHAR USING COMPRESSION zstd,
        "document_date" TIMESTAMPTZ,
        "notes" VARCHAR,
        "created_at" TIMESTAMPTZ,
        "updated_at" TIMESTAMPTZ,
        "created_by" VARCHAR,
        "is_deleted" BOOLEAN,
        "deleted_at" TIMESTAMPTZ,
        "deleted_by" VARCHAR,
        "purged_at" TIMESTAMPTZ,
        "_content_synced_at" TIMESTAMPTZ,
        "_first_seen_at" TIMESTAMPTZ,
        "_last_changed_at" TIMESTAMPTZ,
        "_synced_at" TIMESTAMPTZ,
        "_hash" VARCHAR,
        "_raw" JSON USING COMPRESSION zstd
    )""",
    "INSERT INTO _papra_documents_v2 BY NAME SELECT * FROM documents",
    "DROP VIEW IF EXISTS v_documents",
    "DROP VIEW IF EXISTS v_tag_usage",
    "DROP VIEW IF EXISTS v_storage_daily",
    "DROP VIEW IF EXISTS v_activity_daily",
    "DROP VIEW IF EXISTS v_document_custom_property_values",
    "DROP TABLE documents",
    "ALTER TABLE _papra_documents_v2 RENAME TO documents",
)

# Version 3: the daily report tables, created until then by the first report run (IF NOT
# EXISTS: a file that already has them keeps them and their rows).
_V3_REPORT_TABLES = (
    """CREATE TABLE IF NOT EXISTS report_daily_documents (
        day DATE NOT NULL,
        organization_id VARCHAR NOT NULL,
        documents_uploaded BIGINT NOT NULL,
        bytes_added BIGINT NOT NULL,
        documents_trashed BIGINT NOT NULL,
        documents_restored BIGINT NOT NULL,
        tag_applications BIGINT NOT NULL,
        activity_events BIGINT NOT NULL,
        live_documents BIGINT NOT NULL,
        live_bytes BIGINT NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (day, organization_id)
    )""",
    """CREATE TABLE IF NOT EXISTS report_daily_activity (
        day DATE NOT NULL,
        organization_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        events BIGINT NOT NULL,
        documents BIGINT NOT NULL,
        computed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (day, organization_id, event)
    )""",
)

# Version 4: views only. Live views leave out organizations that are gone and values of
# removed definitions, and group days and format dates in UTC whatever the reader's TimeZone
# (views are recreated after every upgrade, so a view change needs a version of its own).
_V4_VIEWS_ONLY: tuple[str, ...] = ()

# Version 5: values a sync could not type (a shape a later Papra sends): the record is kept with
# the typed column empty, and each such value is listed here, and counted per run and stream.
_V5_UNTYPED_VALUES = (
    """CREATE TABLE _papra_untyped_values (
        document_id VARCHAR NOT NULL,
        organization_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        raw_value JSON,
        reason VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        found_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (document_id, field)
    )""",
    "ALTER TABLE _papra_sync_run_streams ADD COLUMN untyped BIGINT NOT NULL DEFAULT 0",
)

# Version 6: views only. A date value's display_value is written as Papra writes it for years
# outside 0..9999 (a sign and six digits), not as strftime's bare five-digit or negative year.
_V6_VIEWS_ONLY: tuple[str, ...] = ()

# Version 7: tagging rules the pipeline evaluates itself (`papra-pipeline rules apply`): one row
# per document-tag addition, written as ``pending`` before its batch request is sent and made
# ``applied`` once Papra accepted it, so a run killed in between is resumed, never repeated. No
# PRIMARY KEY: a row per document and tag, like document_tags (the apply keeps pairs unique).
_V7_TAGGING_RULE_ADDITIONS = (
    """CREATE TABLE tagging_rule_additions (
        "run_id" VARCHAR NOT NULL,
        "rule_name" VARCHAR NOT NULL,
        "rule_hash" VARCHAR NOT NULL,
        "organization_id" VARCHAR NOT NULL,
        "document_id" VARCHAR NOT NULL,
        "tag_id" VARCHAR NOT NULL,
        "status" VARCHAR NOT NULL,
        "planned_at" TIMESTAMPTZ NOT NULL,
        "applied_at" TIMESTAMPTZ
    )""",
)

# Version N is MIGRATIONS[N - 1]; append new versions at the end.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _V1_INITIAL,
    _V2_DOCUMENTS_WITHOUT_KEY,
    _V3_REPORT_TABLES,
    _V4_VIEWS_ONLY,
    _V5_UNTYPED_VALUES,
    _V6_VIEWS_ONLY,
    _V7_TAGGING_RULE_ADDITIONS,
)
SCHEMA_VERSION = len(MIGRATIONS)
