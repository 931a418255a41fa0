"""The live views on rows written straight into a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from papra_pipeline.warehouse import Warehouse

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_values_of_a_removed_definition_leave_the_live_view(tmp_path):
    """A quick sync learns that a definition is gone before the full sync rereads the
    documents that held its values: until then they are stored, but not live."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    document = {"id": "d1", "organization_id": "o", "is_deleted": False, "_hash": "h"}
    definitions = [
        {"id": p, "organization_id": "o", "key": key, "type": "text", "_hash": "h"}
        for p, key in (("p_amount", "amount"), ("p_status", "status"))
    ]
    values = [
        {"document_id": "d1", "property_key": key, "property_definition_id": p,
         "organization_id": "o", "property_type": "text", "text_value": key}
        for p, key in (("p_amount", "amount"), ("p_status", "status"))
    ]
    with warehouse.write() as session:
        session.upsert("documents", pd.DataFrame([document]), NOW)
        session.upsert("custom_property_definitions", pd.DataFrame(definitions), NOW)
        session.replace_children(
            "document_custom_property_values", "document_id", ["d1"], pd.DataFrame(values), NOW
        )
        session.mark_removed("custom_property_definitions", "organization_id", "o", ["p_status"],
                             NOW)

    with warehouse.read() as con:
        live = con.execute(
            "SELECT property_key, display_value FROM v_document_custom_property_values"
        ).fetchall()
        stored = con.execute("SELECT count(*) FROM document_custom_property_values").fetchall()
    assert live == [("status", "status")]
    assert stored == [(2,)]
