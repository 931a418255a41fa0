"""Values a real Papra sends that Python cannot type: dates past year 9999 or before year 1,
and shapes a later Papra may send. None of them may stop a sync; each is stored exactly."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from papra_pipeline.cli import format_summary
from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from tests.sync.helpers import assert_matches_server

FULL = SyncOptions(mode="full")
QUICK = SyncOptions(mode="quick")

# What a user typed into Papra -> what Papra answers (samples 300-306) and the instant in
# microseconds since 1970 (DuckDB's epoch_us of the same text).
FIVE_DIGIT_YEAR = ("20244-05-01", "+020244-05-01T00:00:00.000Z", 576_682_156_800_000_000)
YEAR_ZERO = ("0000-01-01", "0000-01-01T00:00:00.000Z", -62_167_219_200_000_000)
NEGATIVE_YEAR = ("-000500-06-15", "-000500-06-15T00:00:00.000Z", -77_931_417_600_000_000)
NUMBER = (1e15, "+033658-09-27T01:46:40.000Z", 10**18)  # a date property set from a number


def _date_property(fake, org: str) -> dict:
    return next(d for d in fake.list_custom_properties(org) if d["type"] == "date")


def _stored_dates(warehouse, ids: list[str], property_key: str) -> dict[str, tuple]:
    """Per document: (document_date in µs, documentDate in _raw, date value in µs, raw_value)."""
    with warehouse.read() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """SELECT d.id, epoch_us(d.document_date), d._raw ->> 'documentDate',
                      epoch_us(v.date_value), v.raw_value
               FROM documents d LEFT JOIN document_custom_property_values v
                 ON v.document_id = d.id AND v.property_key = ?
               WHERE d.id IN (SELECT unnest(?))""",
            [property_key, ids],
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_dates_outside_pythons_years_are_stored_as_the_same_instant(fake, client, warehouse):
    """List items, trash items (read in detail) and custom-property values, full and quick."""
    org = fake.list_organizations()[0]["id"]
    due = _date_property(fake, org)
    docs = [d["id"] for d in fake.documents(org, include_deleted=False)[:8]]
    shapes = [  # (documentDate, date property): every shape in each place
        (FIVE_DIGIT_YEAR, YEAR_ZERO),
        (YEAR_ZERO, NUMBER),
        (NEGATIVE_YEAR, FIVE_DIGIT_YEAR),
        (FIVE_DIGIT_YEAR, NEGATIVE_YEAR),
    ]
    cases = dict(zip(docs, shapes + shapes, strict=True))
    for doc_id, (date, value) in cases.items():
        fake.update_document(org, doc_id, documentDate=date[0])
        fake.set_custom_property_value(org, doc_id, due["id"], value[0])
    for doc_id in docs[4:]:  # trash items: listed without properties, read in detail
        fake.trash_document(org, doc_id)

    result = sync(client, warehouse, FULL)

    expected = {
        doc_id: (date[2], date[1], value[2], json.dumps(value[1]))
        for doc_id, (date, value) in cases.items()
    }
    assert _stored_dates(warehouse, docs, due["key"]) == expected
    assert result.untyped == []
    assert_matches_server(fake, warehouse)
    with warehouse.read() as con:
        con.execute("SET TimeZone = 'UTC'")
        shown = con.execute(
            "SELECT document_date::VARCHAR FROM documents WHERE id = ?", [docs[2]]
        ).fetchall()
    assert shown == [("0501-06-15 (BC) 00:00:00+00",)]  # year -500 is 501 BC
    with warehouse.read() as con:  # the views read them too
        shown = con.execute(
            """SELECT display_value FROM v_document_custom_property_values
               WHERE document_id = ? AND property_key = ?""", [docs[1], due["key"]]).fetchall()
        dated = con.execute("SELECT count(*) FROM v_documents WHERE document_date < '0001-01-01'"
                            ).fetchall()
    assert shown[0][0].lstrip("+0").startswith("33658-09-27T01:46:40")
    assert dated == [(2,)]  # year 0 and year -500, live

    # A quick sync reads an upload with such a date, and changes nothing else.
    new = fake.upload_document(org, "far-future.txt", "text", extract=True)["id"]
    fake.update_document(org, new, documentDate=NEGATIVE_YEAR[0])
    fake.set_custom_property_value(org, new, due["id"], NUMBER[0])
    sync(client, warehouse, QUICK)
    assert _stored_dates(warehouse, [new], due["key"]) == {
        new: (NEGATIVE_YEAR[2], NEGATIVE_YEAR[1], NUMBER[2], json.dumps(NUMBER[1]))
    }
    assert _stored_dates(warehouse, docs, due["key"]) == expected


def _later_papra(fake, rewrite):
    """A transport answering like ``fake``, with each document payload passed to ``rewrite``."""

    def handle(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response
        body = json.loads(response.content)
        if isinstance(body, dict):
            for document in body.get("documents") or [body.get("document")]:
                if isinstance(document, dict):
                    rewrite(document)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, content=json.dumps(body), headers=headers)

    return httpx.MockTransport(handle)


@pytest.fixture
def odd(fake):
    """Four documents of the first organization whose values a later Papra sends in shapes
    this client cannot type; one of them is in the trash."""
    org = fake.list_organizations()[0]["id"]
    docs = [d["id"] for d in fake.documents(org, include_deleted=False)[:4]]
    amount = next(d for d in fake.list_custom_properties(org) if d["type"] == "number")
    for doc_id in docs:
        fake.set_custom_property_value(org, doc_id, amount["id"], 12.5)
    fake.trash_document(org, docs[3])
    shapes = {
        docs[0]: {"documentDate": {"calendar": "hebrew", "date": "5785-01-01"}},
        docs[1]: {"amount": "12.50"},  # a number as a string
        docs[2]: {"geo": {"lat": 48.85, "lon": 2.35}},  # a property type of a later Papra
        docs[3]: {"documentDate": "in two weeks"},
    }

    def rewrite(document: dict) -> None:
        shape = shapes.get(document.get("id"), {})
        if "documentDate" in shape:
            document["documentDate"] = shape["documentDate"]
        for prop in document.get("customProperties") or ():
            if prop["key"] == "amount" and "amount" in shape:
                prop["value"] = shape["amount"]
        if "geo" in shape and document.get("customProperties") is not None:
            document["customProperties"].append(
                {"key": "place", "name": "Place", "type": "geo_point", "displayOrder": 9,
                 "value": shape["geo"]}
            )

    return org, docs, amount["key"], rewrite


def _client(transport, fake) -> PapraClient:
    return PapraClient("http://papra.test", fake.api_key, transport=transport,
                       sleep=lambda seconds: None)


def test_values_a_later_papra_may_send_never_stop_the_sync(fake, warehouse, odd):
    org, docs, amount, rewrite = odd
    with _client(_later_papra(fake, rewrite), fake) as client:
        result = sync(client, warehouse, FULL)

    expected = {
        (docs[0], "documentDate"): {"calendar": "hebrew", "date": "5785-01-01"},
        (docs[1], f"customProperties.{amount}"): "12.50",
        (docs[2], "customProperties.place"): {"lat": 48.85, "lon": 2.35},
        (docs[3], "documentDate"): "in two weeks",
    }
    assert {(u.document_id, u.field): u.value for u in result.untyped} == expected
    assert all(u.organization_id == org and u.reason for u in result.untyped)
    with warehouse.read() as con:
        documents = dict(con.execute(
            """SELECT id, (document_date IS NULL, _raw -> 'documentDate')
               FROM documents WHERE id IN (?, ?)""", [docs[0], docs[3]]).fetchall())
        values = dict(con.execute(
            """SELECT document_id || '.' || property_key,
                      (number_value, text_value, date_value, raw_value)
               FROM document_custom_property_values
               WHERE document_id IN (?, ?) AND property_key IN (?, 'place')""",
            [docs[1], docs[2], amount]).fetchall())
        listed = {
            (doc_id, name): json.loads(raw)
            for doc_id, name, raw in con.execute(
                "SELECT document_id, field, raw_value FROM _papra_untyped_values").fetchall()
        }
        logged = dict(con.execute(
            "SELECT stream, untyped FROM _papra_sync_run_streams WHERE run_id = ?",
            [result.run_id]).fetchall())
    # The record is kept, the typed column empty, the value exactly as Papra sent it.
    assert documents == {
        docs[0]: (True, json.dumps(expected[docs[0], "documentDate"], separators=(",", ":"))),
        docs[3]: (True, '"in two weeks"'),
    }
    assert values == {
        f"{docs[1]}.{amount}": (None, None, None, '"12.50"'),
        f"{docs[2]}.place": (None, None, None, '{"lat":48.85,"lon":2.35}'),
        f"{docs[2]}.{amount}": (12.5, None, None, "12.5"),
    }
    assert listed == expected
    assert (logged["documents"], logged["document_custom_property_values"]) == (2, 2)
    summary = format_summary(result)
    for doc_id, name in expected:
        assert f"{doc_id} {name}" in summary

    # Every run lists them until Papra sends values the client can type.
    with _client(_later_papra(fake, rewrite), fake) as client:
        again = sync(client, warehouse, FULL)
    assert again.streams["documents"].updated == 0
    assert {(u.document_id, u.field) for u in again.untyped} == set(expected)

    with _client(fake.transport(), fake) as client:
        fixed = sync(client, warehouse, FULL)
    assert fixed.untyped == []
    with warehouse.read() as con:
        assert con.execute("SELECT count(*) FROM _papra_untyped_values").fetchall() == [(0,)]
    assert_matches_server(fake, warehouse)


def test_a_response_that_is_not_papras_still_fails_the_run(fake, warehouse, odd):
    """Only what no document can be without is fatal: here, list items without an id."""
    org, docs, amount, _ = odd

    def drop_id(document: dict) -> None:
        if document.get("id") == docs[1]:
            del document["id"]

    with _client(_later_papra(fake, drop_id), fake) as client, \
            pytest.raises(Exception, match="id"):
        sync(client, warehouse, FULL)


def test_lone_surrogates_are_stored_replaced_and_named(fake, client, warehouse):
    """A JavaScript string can hold half of a UTF-16 pair and Papra sends it (escaped in its
    JSON). UTF-8 and DuckDB's JSON cannot hold one: it is stored as U+FFFD, the run goes on,
    and the document is named with what Papra sent."""
    org = fake.list_organizations()[0]["id"]
    doc_id = fake.documents(org, include_deleted=False)[0]["id"]
    text = next(d for d in fake.list_custom_properties(org) if d["type"] == "text")
    fake.update_document(org, doc_id, name="half \ud800 pair.txt", notes="note \udfff",
                         content="text \udc00 here")
    tag = fake.create_tag(org, "tag \ud83d", "#112233")
    fake.tag_document(org, doc_id, tag["id"])
    fake.set_custom_property_value(org, doc_id, text["id"], "ref \ud800")

    result = sync(client, warehouse, FULL)

    with warehouse.read() as con:
        stored = con.execute(
            "SELECT name, notes, content, _raw ->> 'name' FROM documents WHERE id = ?", [doc_id]
        ).fetchall()
        tag_name = con.execute("SELECT name FROM tags WHERE id = ?", [tag["id"]]).fetchall()
        value = con.execute(
            """SELECT text_value, raw_value FROM document_custom_property_values
               WHERE document_id = ? AND property_key = ?""", [doc_id, text["key"]]).fetchall()
    assert stored == [("half \ufffd pair.txt", "note \ufffd", "text \ufffd here",
                       "half \ufffd pair.txt")]
    assert tag_name == [("tag \ufffd",)]
    assert value == [("ref \ufffd", '"ref \ufffd"')]
    named = {(u.document_id, u.field): u.value for u in result.untyped}
    # Documents that link to it by a relation property carry its name too.
    assert {v for (d, _), v in named.items() if d != doc_id} <= {"half \\ud800 pair.txt"}
    assert {k: v for k, v in named.items() if k[0] == doc_id} == {
        (doc_id, "name"): "half \\ud800 pair.txt",
        (doc_id, "notes"): "note \\udfff",
        (doc_id, f"tags.{tag['id']}.name"): "tag \\ud83d",
        (doc_id, f"tags.{tag['id']}.normalizedName"): "tag \\ud83d",
        (doc_id, f"customProperties.{text['key']}.value"): "ref \\ud800",
    }
    assert f"{doc_id} name" in format_summary(result)


def _recorded(name: str) -> dict:
    path = Path(__file__).resolve().parent.parent / "fixtures" / "papra-samples" / name
    return json.loads(path.read_text())["body"]["document"]


def test_display_value_writes_dates_as_papra_does_outside_years_0_to_9999(
    fake, client, warehouse
):
    """JavaScript's toISOString: four digits for years 0 to 9999, else a sign and six."""
    year_zero = _recorded("302_documents_get_extended_year_dates.json")
    far_and_negative = _recorded("306_documents_get_negative_year_and_numeric_date.json")

    def date_value(document: dict) -> str:
        return next(p["value"] for p in document["customProperties"] if p["type"] == "date")

    papra_wrote = {  # what a user typed (samples 301, 305, 304) -> what Papra answered
        "0000-01-01": date_value(year_zero),
        1e15: date_value(far_and_negative),
        "-000500-06-15": far_and_negative["documentDate"],  # the same form for any date
    }
    assert list(papra_wrote.values()) == [
        "0000-01-01T00:00:00.000Z",
        "+033658-09-27T01:46:40.000Z",
        "-000500-06-15T00:00:00.000Z",
    ]
    org = fake.list_organizations()[0]["id"]
    due = _date_property(fake, org)
    docs = [d["id"] for d in fake.documents(org, include_deleted=False)[:3]]
    for doc_id, typed in zip(docs, papra_wrote, strict=True):
        fake.set_custom_property_value(org, doc_id, due["id"], typed)

    sync(client, warehouse, FULL)

    with warehouse.read() as con:
        con.execute("SET TimeZone = 'America/Los_Angeles'")  # the reader's zone changes nothing
        shown = dict(
            con.execute(
                """SELECT document_id, display_value FROM v_document_custom_property_values
                   WHERE property_key = ? AND document_id IN (SELECT unnest(?))""",
                [due["key"], docs],
            ).fetchall()
        )
    assert shown == dict(zip(docs, papra_wrote.values(), strict=True))
