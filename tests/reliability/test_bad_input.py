"""Wrong URLs, proxy pages, non-JSON, weak keys, unknown organizations, odd names, huge text,
fields from a later Papra and a newer warehouse: a clear error or a faithful copy, and the
warehouse never corrupted."""

from __future__ import annotations

import json

import duckdb
import httpx
import pytest

from papra_pipeline.client import PapraClient, PapraError
from papra_pipeline.sync import SyncError, SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse, WarehouseError
from tests.reliability.conftest import cli_env, in_process_client, internal_state, record, run_cli
from tests.sync.helpers import assert_matches_server, table_fingerprints

FULL = SyncOptions(mode="full")


@pytest.fixture
def synced(fake, tmp_path):
    """A warehouse holding one good sync, and its fingerprints to compare against."""
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with in_process_client(fake) as client:
        sync(client, warehouse, FULL)
    return warehouse, (table_fingerprints(warehouse), internal_state(warehouse))


def one_error(done) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr, (
        done.stderr[-800:])
    return lines[0]


def test_bad_servers_and_keys_fail_with_one_clear_line(fake, synced):
    warehouse, before = synced
    messages = {}
    with serve(fake) as url:
        env = cli_env(fake, url, warehouse.path, PAPRA_MAX_RETRIES="0")
        cases = {
            "wrong path": {"PAPRA_API_URL": url + "/not-papra"},
            "limited key": {"PAPRA_API_KEY": fake.create_api_key(
                ["organizations:read", "tags:read", "custom-properties:read"])},
            "unknown key": {"PAPRA_API_KEY": "ppapi_" + "U" * 64},
        }
        for name, extra in cases.items():
            messages[name] = one_error(run_cli(["sync", "--full"], {**env, **extra}))
        fake.faults.add("proxy_html")  # a reverse proxy's login page, 200 text/html, always
        messages["proxy login page"] = one_error(run_cli(["sync"], env))
        fake.faults.clear()
        messages["unknown organization"] = one_error(
            run_cli(["sync", "--organization", "org_doesnotexist000000000000"], env))
    # Nothing listening (in process, without retries: the CLI backs off for seconds).
    with PapraClient("http://127.0.0.1:9", fake.api_key, max_retries=0) as client, \
            pytest.raises(PapraError) as refused:
        sync(client, warehouse, FULL)
    messages["nothing listens"] = str(refused.value)
    assert "127.0.0.1:9" in messages["nothing listens"]
    assert "404" in messages["wrong path"] or "not" in messages["wrong path"].lower()
    assert "documents:read" in messages["limited key"]
    assert "401" in messages["unknown key"] or "key" in messages["unknown key"].lower()
    assert "html" in messages["proxy login page"].lower()
    assert "org_doesnotexist" in messages["unknown organization"]
    assert (table_fingerprints(warehouse), internal_state(warehouse)) == before
    record("bad_input_messages", **messages)


def test_non_json_bodies_fail_clearly_after_retries(fake, synced):
    warehouse, before = synced
    fake.faults.add("truncate")  # every GET body cut in half, for good
    with in_process_client(fake, max_retries=2) as client, pytest.raises(PapraError) as failed:
        sync(client, warehouse, FULL)
    assert "expected JSON" in str(failed.value)
    assert (table_fingerprints(warehouse), internal_state(warehouse)) == before


def test_an_unknown_organization_id_is_named(fake, synced):
    warehouse, before = synced
    options = SyncOptions(mode="full", organization_ids=("org_nope",))
    with in_process_client(fake) as client, pytest.raises(SyncError, match="org_nope"):
        sync(client, warehouse, options)
    assert (table_fingerprints(warehouse), internal_state(warehouse)) == before


ODD_NAMES = [
    "facture-\U0001F4C4\U0001F600-ok.pdf",          # emoji, astral plane
    "\u05d7\u05e9\u05d1\u05d5\u05e0\u05d9\u05ea \u0641\u0627\u062a\u0648\u0631\u0629.pdf",  # RTL
    "\u202emirrored\u202c-name.txt",                # right-to-left override
    "nul\x00inside.txt",                            # NUL character
    "x" * 251 + ".pdf",                             # 255 characters
    "e\u0301-combining and \u00e9 precomposed.txt",  # not normalized
]


def test_odd_names_huge_text_are_stored_faithfully(fake, tmp_path):
    org = fake.list_organizations()[0]["id"]
    huge = ("lorem ipsum dolor \U0001F600 " * 300_000)[:5_000_000]  # ~5 MB of text
    ids = {}
    for n, name in enumerate(ODD_NAMES):
        ids[fake.upload_document(org, name, f"odd {n} \x00 \u202e", extract=True)["id"]] = name
    big = fake.upload_document(org, "huge.txt", huge, extract=True)["id"]
    fake.update_document(org, big, notes="\x00\U0001F600" * 1000)
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with in_process_client(fake) as client:
        sync(client, warehouse, FULL)
    with warehouse.read() as con:
        stored = dict(con.execute(
            "SELECT id, name FROM documents WHERE id IN (SELECT unnest(?))", [list(ids)]
        ).fetchall())
        content, notes = con.execute(
            "SELECT content, notes FROM documents WHERE id = ?", [big]).fetchall()[0]
    assert stored == ids
    assert content == huge and notes == "\x00\U0001F600" * 1000
    assert_matches_server(fake, warehouse)
    record("odd_input", names=len(ODD_NAMES), huge_content_chars=len(huge))


def test_fields_from_a_later_papra_are_kept_in_raw(fake, tmp_path):
    """Every JSON object of every answer gains unknown fields, as a later Papra might send."""

    def later_papra(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response

        def grow(value):
            if isinstance(value, dict):
                grown = {k: grow(v) for k, v in value.items()}
                if "id" in grown:
                    grown["futureField"] = {"nested": [1, "two"], "flag": True}
                return grown
            if isinstance(value, list):
                return [grow(v) for v in value]
            return value

        body = json.dumps(grow(json.loads(response.content))).encode()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, content=body, headers=headers)

    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with PapraClient("http://papra.test", fake.api_key,
                     transport=httpx.MockTransport(later_papra)) as client:
        sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)
    with warehouse.read() as con:
        for table in ("documents", "tags", "organizations", "document_activity"):
            missing = con.execute(
                f"SELECT count(*) FROM {table} WHERE json_extract(_raw, '$.futureField') IS NULL"
            ).fetchall()[0][0]
            assert missing == 0, table


def test_a_warehouse_from_a_newer_schema_is_refused_untouched(fake, synced):
    warehouse, before = synced
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("INSERT INTO _papra_schema_version VALUES (999, now(), '99.0')")
    size = warehouse.path.stat().st_size
    with in_process_client(fake) as client, pytest.raises(WarehouseError, match="newer"):
        sync(client, warehouse, FULL)
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        assert con.execute("SELECT max(version) FROM _papra_schema_version").fetchall() == [(999,)]
        runs = con.execute("SELECT count(*) FROM _papra_sync_runs").fetchall()[0][0]
    assert runs == before[1][-1][0]  # not even a failed-run row was added
    assert warehouse.path.stat().st_size == size
