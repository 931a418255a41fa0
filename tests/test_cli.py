"""The papra-pipeline command end to end, over real HTTP on loopback and real DuckDB files."""

from __future__ import annotations

import re

import pytest

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from tests.lockholder import duckdb_file_held_by_another_process


@pytest.fixture(scope="module")
def fake():
    fake = FakePapra()
    populate(fake, organizations=2, documents=120, tags=5, custom_properties=8, seed=3)
    return fake


@pytest.fixture
def papra(fake, monkeypatch, tmp_path):
    """A loopback fake Papra, with the environment a user would set."""
    with serve(fake) as base_url:
        monkeypatch.setenv("PAPRA_API_URL", base_url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
        monkeypatch.delenv("PAPRA_EMAIL", raising=False)
        monkeypatch.delenv("PAPRA_PASSWORD", raising=False)
        yield base_url


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_sync_prints_progress_and_a_summary_then_a_no_op(papra, capsys, tmp_path):
    assert main(["sync"]) == 0
    out, err = capsys.readouterr()
    assert "documents" in err and " page" in err  # progress lines
    assert "full sync of 2 organization(s)" in out
    assert main(["sync", "--full"]) == 0
    assert " 0 rows written" in capsys.readouterr().out
    assert (tmp_path / "papra.duckdb").exists()


def test_quick_sync_and_organization_subset(fake, papra, capsys):
    org = fake.list_organizations()[0]["id"]
    assert main(["sync", "--organization", org, "--no-content"]) == 0
    assert "full sync of 1 organization(s)" in capsys.readouterr().out
    assert main(["sync", "--quick"]) == 0
    assert "quick sync of 1 organization(s)" in capsys.readouterr().out


def test_an_unknown_key_fails_with_one_line_and_no_secret(papra, monkeypatch, capsys, tmp_path):
    bad_key = "ppapi_" + "Z" * 64
    monkeypatch.setenv("PAPRA_API_KEY", bad_key)
    assert main(["sync"]) == 1
    out, err = capsys.readouterr()
    line = one_error_line(err)
    assert "401" in line or "API key" in line
    assert bad_key not in out + err
    db = tmp_path / "papra.duckdb"
    if db.exists():  # the schema may be created before the first request; never any data
        with Warehouse(db).read() as con:
            assert con.execute("SELECT count(*) FROM documents").fetchall() == [(0,)]
            runs = con.execute("SELECT status FROM _papra_sync_runs").fetchall()
        assert runs in ([], [("failed",)])


def test_a_key_without_a_permission_names_the_permission(fake, papra, monkeypatch, capsys):
    limited = fake.create_api_key(["organizations:read", "tags:read", "custom-properties:read"])
    monkeypatch.setenv("PAPRA_API_KEY", limited)
    assert main(["sync"]) == 1
    assert "documents:read" in one_error_line(capsys.readouterr().err)


def test_a_refused_key_points_at_the_command_that_shows_its_permissions(
    papra, monkeypatch, capsys
):
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_" + "Z" * 64)
    assert main(["sync"]) == 1
    assert "papra-pipeline doctor" in one_error_line(capsys.readouterr().err)


def test_an_unreachable_server_is_one_clear_line(papra, monkeypatch, capsys):
    monkeypatch.setenv("PAPRA_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    assert main(["sync"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "127.0.0.1:9" in line or "connect" in line.lower()


def test_a_missing_key_says_how_to_get_one(papra, monkeypatch, capsys):
    monkeypatch.delenv("PAPRA_API_KEY")
    with pytest.raises(SystemExit, match="PAPRA_API_KEY is not set"):
        main(["sync"])


def test_a_locked_warehouse_fails_cleanly_and_keeps_the_data(papra, capsys, tmp_path):
    db = tmp_path / "papra.duckdb"
    assert main(["sync"]) == 0
    capsys.readouterr()
    with duckdb_file_held_by_another_process(Warehouse(db).private_path):  # another sync
        assert main(["sync", "--lock-timeout", "0.5"]) == 1
        assert "locked by process" in one_error_line(capsys.readouterr().err)
    assert main(["sync"]) == 0


def test_a_run_failing_on_the_lock_does_not_take_the_lock_to_record_itself(
    papra, capsys, caplog, tmp_path
):
    """Recording the failure would open the file another writer holds (and, with no lock
    timeout, could fail that writer in turn); the run says so in the log instead."""
    db = tmp_path / "papra.duckdb"
    assert main(["sync"]) == 0
    with duckdb_file_held_by_another_process(Warehouse(db).private_path):
        with caplog.at_level("INFO", logger="papra_pipeline.sync"):
            assert main(["sync", "--lock-timeout", "0.2"]) == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "papra_pipeline.sync"]
    assert any(m.startswith("failed run not recorded in the run log") for m in messages)
    assert not any("could not record the failed run" in m for m in messages), messages
    with Warehouse(db).read_private() as con:
        assert con.execute("SELECT status FROM _papra_sync_runs").fetchall() == [("succeeded",)]


def test_doctor_lists_every_check(papra, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "Papra reachable",
        "server version",
        "permission documents:read",
        "organizations visible",
        "tagging rules",
        "writable",
    ):
        assert expected in out, out
    assert "[FAIL]" not in out


def test_doctor_flags_a_missing_permission(fake, papra, monkeypatch, capsys):
    monkeypatch.setenv("PAPRA_API_KEY", fake.create_api_key(["organizations:read"]))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] permission documents:read" in out


def test_demo_syncs_and_prints_analytics(tmp_path, capsys):
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--documents", "150"]) == 0
    out, err = capsys.readouterr()
    # A story, not Dagster's event log: progress, the sync's table, a summary.
    assert "documents" in err and " page" in err
    assert "full sync of 2 organization(s)" in err
    passed = re.search(r"(\d+) of (\d+) checks passed", err)
    assert passed and passed[1] == passed[2], err
    assert " - DEBUG - " not in err and "STEP_START" not in err
    for title in (
        "Rows per table",
        "Documents per tag",
        "Storage added by month",
        "Total of each number custom property",
    ):
        assert title in out
    assert db.exists()


def test_full_verify_brings_a_text_edit_the_document_list_cannot_show(
    monkeypatch, capsys, tmp_path
):
    fake = FakePapra()
    populate(fake, organizations=1, documents=30, tags=3, custom_properties=2, seed=5)
    org = fake.list_organizations()[0]["id"]
    doc = fake.documents(org, include_deleted=False)[0]["id"]
    db = tmp_path / "verify.duckdb"
    monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
    monkeypatch.setenv("PAPRA_REVERIFY_DAYS", "0")
    with serve(fake) as base_url:
        monkeypatch.setenv("PAPRA_API_URL", base_url)
        assert main(["sync", "--db", str(db)]) == 0
        fake.update_document(org, doc, content="corrected OCR text")
        assert main(["sync", "--db", str(db)]) == 0
        assert " 0 rows written" in capsys.readouterr().out

        assert main(["sync", "--full", "--verify", "--db", str(db)]) == 0

        # the text and the activity entry of its edit
        assert " 2 rows written" in capsys.readouterr().out
        assert main(["sync", "--quick", "--verify", "--db", str(db)]) == 1
    assert "needs a full sync" in one_error_line(capsys.readouterr().err)
    with Warehouse(db).read() as con:
        text = con.execute("SELECT content FROM documents WHERE id = ?", [doc]).fetchall()
    assert text == [("corrected OCR text",)]
