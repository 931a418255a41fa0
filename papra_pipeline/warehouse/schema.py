"""The warehouse schema: public tables and views.

Tables are declared once as data (:class:`Table`), which the bulk merges and the documentation
read. Their DDL is the frozen SQL of the migrations (:mod:`migrations`); a test checks that
replaying every migration gives exactly the declared columns and keys. Public table and view
names are an interface: analysts write SQL against them, so renaming one needs a migration and
a note in the README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A warehouse table: its columns (name, DuckDB type), primary key and merge behaviour.

    ``hashed`` tables carry a ``_hash`` of the record as Papra sent it; a merge rewrites a row
    only when that hash changes, so re-syncing unchanged data writes nothing.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    hashed: bool = True
    description: str = ""
    # DuckDB keeps a PRIMARY KEY's index in memory during a transaction: for tables with a row
    # per document and property or activity entry, a first sync of 100,000 documents exhausted
    # the write's memory, and on documents a sync changing 200,000 of them did (the index
    # grows with every row deleted and inserted again). Their keys are kept unique by the
    # merges (and checked by the Dagster asset checks) instead.
    enforce_key: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def column_type(self, column: str) -> str:
        return dict(self.columns)[column]


# Bookkeeping columns every synced entity table carries.
_TRACKING = (
    ("_first_seen_at", "TIMESTAMPTZ"),
    ("_last_changed_at", "TIMESTAMPTZ"),
    ("_synced_at", "TIMESTAMPTZ"),
    ("_hash", "VARCHAR"),
    ("_raw", "JSON"),
)
# Entities that Papra deletes outright (tags, definitions, options, organizations) are kept and
# flagged, never deleted from the warehouse.
_REMOVAL = (("is_removed", "BOOLEAN"), ("removed_at", "TIMESTAMPTZ"))

ORGANIZATIONS = Table(
    "organizations",
    (
        ("id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("customer_id", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        ("deleted_at", "TIMESTAMPTZ"),
        ("deleted_by", "VARCHAR"),
        ("scheduled_purge_at", "TIMESTAMPTZ"),
        *_REMOVAL,
        *_TRACKING,
    ),
    key=("id",),
    description="One row per organization the API key has seen; is_removed once it is gone.",
)

DOCUMENTS = Table(
    "documents",
    (
        ("id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("original_name", "VARCHAR"),
        ("mime_type", "VARCHAR"),
        ("original_size", "BIGINT"),
        ("original_sha256_hash", "VARCHAR"),
        ("content", "VARCHAR"),
        ("document_date", "TIMESTAMPTZ"),
        ("notes", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        ("created_by", "VARCHAR"),
        ("is_deleted", "BOOLEAN"),
        ("deleted_at", "TIMESTAMPTZ"),
        ("deleted_by", "VARCHAR"),
        ("purged_at", "TIMESTAMPTZ"),
        ("_content_synced_at", "TIMESTAMPTZ"),
        *_TRACKING,
    ),
    key=("id",),
    enforce_key=False,
    description=(
        "One row per document ever seen, live, trashed (is_deleted) or purged (purged_at). "
        "_raw is the record as Papra sent it, without content (stored in its own column)."
    ),
)

TAGS = Table(
    "tags",
    (
        ("id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("normalized_name", "VARCHAR"),
        ("color", "VARCHAR"),
        ("description", "VARCHAR"),
        ("documents_count", "BIGINT"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        *_REMOVAL,
        *_TRACKING,
    ),
    key=("id",),
    description="One row per tag; is_removed once Papra no longer lists it.",
)

DOCUMENT_TAGS = Table(
    "document_tags",
    (
        ("document_id", "VARCHAR"),
        ("tag_id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("_synced_at", "TIMESTAMPTZ"),
    ),
    key=("document_id", "tag_id"),
    hashed=False,
    enforce_key=False,
    description="One row per tag currently on a document (rebuilt when the document changes).",
)

DOCUMENT_ACTIVITY = Table(
    "document_activity",
    (
        ("id", "VARCHAR"),
        ("document_id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("event", "VARCHAR"),
        ("updated_fields", "VARCHAR[]"),
        ("event_data", "JSON"),
        ("user_id", "VARCHAR"),
        ("user_name", "VARCHAR"),
        ("tag_id", "VARCHAR"),
        ("tag_name", "VARCHAR"),
        ("_synced_at", "TIMESTAMPTZ"),
        ("_raw", "JSON"),
    ),
    key=("id",),
    hashed=False,
    enforce_key=False,
    description=(
        "One row per activity entry (created, updated, deleted, restored, tagged, untagged). "
        "Kept after Papra purges the document."
    ),
)

CUSTOM_PROPERTY_DEFINITIONS = Table(
    "custom_property_definitions",
    (
        ("id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("key", "VARCHAR"),
        ("description", "VARCHAR"),
        ("type", "VARCHAR"),
        ("config", "JSON"),
        ("display_order", "INTEGER"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        *_REMOVAL,
        *_TRACKING,
    ),
    key=("id",),
    description="One row per custom-property definition; is_removed once deleted in Papra.",
)

CUSTOM_PROPERTY_OPTIONS = Table(
    "custom_property_options",
    (
        ("id", "VARCHAR"),
        ("property_definition_id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("key", "VARCHAR"),
        ("display_order", "INTEGER"),
        ("created_at", "TIMESTAMPTZ"),
        ("updated_at", "TIMESTAMPTZ"),
        *_REMOVAL,
        *_TRACKING,
    ),
    key=("id",),
    description="One row per select / multi-select option; is_removed once Papra drops it.",
)

DOCUMENT_CUSTOM_PROPERTY_VALUES = Table(
    "document_custom_property_values",
    (
        ("document_id", "VARCHAR"),
        ("property_key", "VARCHAR"),
        ("property_definition_id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("property_name", "VARCHAR"),
        ("property_type", "VARCHAR"),
        ("text_value", "VARCHAR"),
        ("number_value", "DOUBLE"),
        ("date_value", "TIMESTAMPTZ"),
        ("boolean_value", "BOOLEAN"),
        ("option_ids", "VARCHAR[]"),
        ("option_names", "VARCHAR[]"),
        ("user_ids", "VARCHAR[]"),
        ("related_document_ids", "VARCHAR[]"),
        ("raw_value", "JSON"),
        ("_synced_at", "TIMESTAMPTZ"),
    ),
    key=("document_id", "property_key"),
    hashed=False,
    enforce_key=False,
    description=(
        "One row per document and custom property that has a value, with a typed column per "
        "value shape and the raw value (rebuilt when the document changes)."
    ),
)

ORGANIZATION_STATISTICS = Table(
    "organization_statistics",
    (
        ("organization_id", "VARCHAR"),
        ("snapshot_at", "TIMESTAMPTZ"),
        ("run_id", "VARCHAR"),
        ("documents_count", "BIGINT"),
        ("documents_size", "BIGINT"),
        ("deleted_documents_count", "BIGINT"),
        ("deleted_documents_size", "BIGINT"),
        ("total_documents_count", "BIGINT"),
        ("total_documents_size", "BIGINT"),
    ),
    key=("organization_id", "snapshot_at"),
    hashed=False,
    description="Append-only snapshots of Papra's six statistics counters per organization.",
)

TAGGING_RULE_APPLICATIONS = Table(
    "tagging_rule_applications",
    (
        ("task_id", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("tagging_rule_id", "VARCHAR"),
        ("tagging_rule_name", "VARCHAR"),
        ("rule_hash", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("applied_at", "TIMESTAMPTZ"),
    ),
    key=("task_id",),
    hashed=False,
    description="One row per tagging-rule apply request sent to Papra, with its task id.",
)

TAGGING_RULE_ADDITIONS = Table(
    "tagging_rule_additions",
    (
        ("run_id", "VARCHAR"),
        ("rule_name", "VARCHAR"),
        ("rule_hash", "VARCHAR"),
        ("organization_id", "VARCHAR"),
        ("document_id", "VARCHAR"),
        ("tag_id", "VARCHAR"),
        ("status", "VARCHAR"),
        ("planned_at", "TIMESTAMPTZ"),
        ("applied_at", "TIMESTAMPTZ"),
    ),
    key=("run_id", "rule_name", "document_id", "tag_id"),
    hashed=False,
    enforce_key=False,
    description=(
        "One row per tag a rule of PAPRA_TAGGING_RULES added to a document through the API "
        "key (`papra-pipeline rules apply`): status applied once Papra accepted it, pending "
        "while its request is in flight (a run killed meanwhile is resumed by the next)."
    ),
)

PUBLIC_TABLES = (
    ORGANIZATIONS,
    DOCUMENTS,
    TAGS,
    DOCUMENT_TAGS,
    DOCUMENT_ACTIVITY,
    CUSTOM_PROPERTY_DEFINITIONS,
    CUSTOM_PROPERTY_OPTIONS,
    DOCUMENT_CUSTOM_PROPERTY_VALUES,
    ORGANIZATION_STATISTICS,
    TAGGING_RULE_APPLICATIONS,
    TAGGING_RULE_ADDITIONS,
)
TABLES = {table.name: table for table in PUBLIC_TABLES}


def _utc_day(column: str) -> str:
    """The UTC calendar day of a TIMESTAMPTZ. A plain cast to DATE takes the day in the reading
    session's TimeZone, so a reader in Los Angeles would get other days than the reports."""
    return f"CAST(timezone('UTC', {column}) AS DATE)"


def _papra_iso(column: str) -> str:
    """A TIMESTAMPTZ as Papra writes it (JavaScript's ``toISOString``), in UTC: four year digits
    for years 0 to 9999, else a sign and six digits (``+033658-09-27T01:46:40.000Z``)."""
    utc = f"timezone('UTC', {column})"
    return f"""CASE WHEN year({utc}) BETWEEN 0 AND 9999
                   THEN strftime({utc}, '%Y-%m-%dT%H:%M:%S.%gZ')
                   ELSE CASE WHEN year({utc}) < 0 THEN '-' ELSE '+' END
                        || lpad(CAST(abs(year({utc})) AS VARCHAR), 6, '0')
                        || strftime({utc}, '-%m-%dT%H:%M:%S.%gZ')
               END"""


def _organization_present(alias: str) -> str:
    """Whether the row's organization is still there: rows of one that is gone from Papra
    (deleted, or the key's user left it) stay in the tables but leave every live view."""
    return f"""NOT EXISTS (SELECT 1 FROM organizations o
                       WHERE o.id = {alias}.organization_id AND o.is_removed)"""


VIEWS = {
    "v_documents": """
        SELECT d.id, d.organization_id, o.name AS organization_name, d.name, d.original_name,
               d.mime_type, d.original_size, d.document_date, d.notes, d.created_at,
               d.created_by, d.content,
               coalesce(tn.tag_names, []::VARCHAR[]) AS tag_names
        FROM documents d
        LEFT JOIN organizations o ON o.id = d.organization_id
        LEFT JOIN (
            SELECT dt.document_id, list(t.name ORDER BY t.name) AS tag_names
            FROM document_tags dt JOIN tags t ON t.id = dt.tag_id
            GROUP BY dt.document_id
        ) tn ON tn.document_id = d.id
        WHERE NOT d.is_deleted AND d.purged_at IS NULL AND o.is_removed IS NOT TRUE
    """,
    "v_tag_usage": f"""
        SELECT t.id AS tag_id, t.organization_id, t.name, t.color, t.is_removed,
               count(d.id) AS live_documents,
               coalesce(sum(d.original_size), 0) AS live_bytes
        FROM tags t
        LEFT JOIN document_tags dt ON dt.tag_id = t.id
        LEFT JOIN documents d
               ON d.id = dt.document_id AND NOT d.is_deleted AND d.purged_at IS NULL
        WHERE {_organization_present("t")}
        GROUP BY ALL
    """,
    "v_storage_daily": f"""
        WITH present AS (
            SELECT * FROM documents d WHERE {_organization_present("d")}
        ), added AS (
            SELECT organization_id, {_utc_day("created_at")} AS day,
                   count(*) AS documents_added, sum(original_size) AS bytes_added
            FROM present GROUP BY ALL
        ), removed AS (
            SELECT organization_id,
                   {_utc_day("coalesce(deleted_at, purged_at)")} AS day,
                   count(*) AS documents_removed, sum(original_size) AS bytes_removed
            FROM present WHERE is_deleted OR purged_at IS NOT NULL GROUP BY ALL
        ), days AS (
            SELECT organization_id, day FROM added UNION SELECT organization_id, day FROM removed
        )
        SELECT days.organization_id, days.day,
               coalesce(a.documents_added, 0) AS documents_added,
               coalesce(a.bytes_added, 0) AS bytes_added,
               coalesce(r.documents_removed, 0) AS documents_removed,
               coalesce(r.bytes_removed, 0) AS bytes_removed,
               sum(coalesce(a.documents_added, 0) - coalesce(r.documents_removed, 0))
                   OVER w AS live_documents,
               sum(coalesce(a.bytes_added, 0) - coalesce(r.bytes_removed, 0)) OVER w AS live_bytes
        FROM days
        LEFT JOIN added a USING (organization_id, day)
        LEFT JOIN removed r USING (organization_id, day)
        WINDOW w AS (PARTITION BY days.organization_id ORDER BY days.day)
    """,
    "v_activity_daily": f"""
        SELECT organization_id, {_utc_day("created_at")} AS day, event, count(*) AS events
        FROM document_activity a WHERE {_organization_present("a")} GROUP BY ALL
    """,
    "v_document_custom_property_values": f"""
        SELECT v.document_id, v.organization_id, v.property_key, v.property_name,
               v.property_type,
               CASE v.property_type
                   WHEN 'text' THEN v.text_value
                   WHEN 'number' THEN CAST(v.number_value AS VARCHAR)
                   WHEN 'date' THEN {_papra_iso("v.date_value")}
                   WHEN 'boolean' THEN CAST(v.boolean_value AS VARCHAR)
                   WHEN 'select' THEN v.option_names[1]
                   WHEN 'multi_select' THEN array_to_string(v.option_names, ', ')
                   WHEN 'user_relation' THEN array_to_string(v.user_ids, ', ')
                   WHEN 'document_relation' THEN array_to_string(v.related_document_ids, ', ')
                   ELSE CAST(v.raw_value AS VARCHAR)
               END AS display_value
        FROM document_custom_property_values v
        JOIN documents d ON d.id = v.document_id
        LEFT JOIN custom_property_definitions p ON p.id = v.property_definition_id
        WHERE NOT d.is_deleted AND d.purged_at IS NULL AND {_organization_present("d")}
          AND p.is_removed IS NOT TRUE
    """,
}


def view_ddl() -> list[str]:
    return [f"CREATE OR REPLACE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]
