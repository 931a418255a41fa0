"""`papra-pipeline rules plan | apply | import` against a fake Papra on loopback, with only
the API key in the environment (the login only for `import`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse

BATCH_ROUTE = "POST /api/organizations/{org}/documents/batch/tags"
RULES = """
rules:
  - name: Contracts
    conditions:
      - {field: name, operator: contains, value: contract}
    tags: [Contracts]
  - name: Big text files
    match: any
    conditions:
      - {field: size, operator: greater_than, value: 2 KB}
      - {field: mime_type, operator: starts_with, value: TEXT/}
    tags: [Archive]
  - name: Both
    conditions:
      - {field: content, operator: contains, value: e}
      - {field: document_date, operator: is_not_set}
    tags: [Contracts, Archive, Urgent]
"""


def _fake() -> FakePapra:
    fake = FakePapra()
    populate(fake, organizations=2, documents=80, tags=0, custom_properties=2, seed=5)
    for org in fake.organizations:
        for name in ("Contracts", "Archive", "Urgent"):
            fake.create_tag(org, name, "#123456")
    return fake


@pytest.fixture
def fake() -> FakePapra:
    return _fake()


@pytest.fixture
def papra(fake, monkeypatch, tmp_path):
    """A loopback fake Papra, the API key and a rules file in the environment; synced."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    with serve(fake) as base_url:
        monkeypatch.setenv("PAPRA_API_URL", base_url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
        monkeypatch.setenv("PAPRA_TAGGING_RULES", str(rules))
        monkeypatch.delenv("PAPRA_EMAIL", raising=False)
        monkeypatch.delenv("PAPRA_PASSWORD", raising=False)
        assert main(["sync"]) == 0
        yield base_url


def _tags(fake: FakePapra) -> set[tuple[str, str]]:
    return {
        (doc["id"], tag["id"])
        for org in fake.organizations
        for doc in fake.documents(org)
        for tag in doc["tags"]
    }


def _planned(out: str) -> int:
    return sum(1 for line in out.splitlines() if line.startswith("  doc_"))


def test_plan_sends_nothing_then_apply_tags_exactly_what_it_listed(fake, papra, tmp_path, capsys):
    capsys.readouterr()
    fake.reset_requests()
    assert main(["rules", "plan"]) == 0
    plan = capsys.readouterr()
    assert fake.request_count() == 0
    assert "rule 'Contracts' in org_" in plan.out and "nothing was sent" in plan.err

    before = _tags(fake)
    assert main(["rules", "apply"]) == 0
    applied = capsys.readouterr().out
    added = _tags(fake) - before
    with Warehouse(tmp_path / "papra.duckdb").read() as con:
        recorded = set(
            con.execute(
                "SELECT document_id, tag_id FROM tagging_rule_additions WHERE status = 'applied'"
            ).fetchall()
        )
        pending = con.execute(
            "SELECT count(*) FROM tagging_rule_additions WHERE status <> 'applied'"
        ).fetchall()
    assert added and recorded == added and pending == [(0,)]
    # Every document the plan listed received its tags, and nothing else did.
    assert {doc for doc, _ in added} == {
        line.strip() for line in plan.out.splitlines() if line.startswith("  doc_")
    }
    assert f"Added {len(added)} tag(s)" in applied

    fake.reset_requests()
    assert main(["rules", "apply"]) == 0
    assert fake.request_count(BATCH_ROUTE) == 0
    assert "Added 0 tag(s)" in capsys.readouterr().out


def test_apply_refuses_a_key_without_documents_update_before_sending(
    fake, papra, monkeypatch, capsys
):
    key = fake.create_api_key(["organizations:read", "documents:read", "tags:read"], name="ro")
    monkeypatch.setenv("PAPRA_API_KEY", key)
    fake.reset_requests()
    assert main(["rules", "apply"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the API key 'ro' lacks documents:update")
    assert fake.request_count(BATCH_ROUTE) == 0


def test_doctor_says_which_permission_tagging_rules_need(fake, papra, monkeypatch, capsys):
    key = fake.create_api_key(
        ["organizations:read", "documents:read", "tags:read", "custom-properties:read"]
    )
    monkeypatch.setenv("PAPRA_API_KEY", key)
    assert main(["doctor"]) == 1  # PAPRA_TAGGING_RULES is set: the permission is needed
    out = capsys.readouterr().out
    assert "[FAIL] permission documents:update (tagging rules with the API key)" in out
    assert "PAPRA_EMAIL and PAPRA_PASSWORD" in out
    monkeypatch.delenv("PAPRA_TAGGING_RULES")
    assert main(["doctor"]) == 0
    assert "[--]   permission documents:update" in capsys.readouterr().out


def test_a_bad_rules_file_stops_with_one_line_before_any_request(papra, fake, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("operator: is_not_set", "operator: is_missing"))
    capsys.readouterr()
    fake.reset_requests()
    assert main(["rules", "apply", "--rules", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {bad}: rule 'Both': conditions[2].operator: unknown operator 'is_missing' for "
        "document_date (known: equal, not_equal, greater_than, greater_or_equal, less_than, "
        "less_or_equal, is_set, is_not_set)"
    )
    assert fake.request_count() == 0


def test_import_writes_papras_rules_in_the_files_form(fake, papra, monkeypatch, tmp_path, capsys):
    org = next(iter(fake.organizations))
    tag = next(t for t in fake.organizations[org].tags.values() if t.name == "Urgent")
    fake.create_tagging_rule(
        org,
        "Papra rule",
        [{"field": "name", "operator": "ends_with", "value": ".PDF"}],
        [tag.id],
        condition_match_mode="any",
    )
    with pytest.raises(SystemExit, match="PAPRA_EMAIL and PAPRA_PASSWORD"):
        main(["rules", "import"])  # no login
    monkeypatch.setenv("PAPRA_EMAIL", fake.email)
    monkeypatch.setenv("PAPRA_PASSWORD", fake.password)
    target = tmp_path / "imported.yaml"
    assert main(["rules", "import", "--organization", org, "--output", str(target)]) == 0
    assert target.read_text() == textwrap.dedent(
        f"""\
        rules:
        - name: Papra rule
          match: any
          organizations:
          - {org}
          conditions:
          - field: name
            operator: ends_with
            value: .PDF
          tags:
          - Urgent
        """
    )
    monkeypatch.delenv("PAPRA_EMAIL")
    monkeypatch.delenv("PAPRA_PASSWORD")
    assert main(["rules", "plan", "--rules", str(target)]) == 0


# Kill the apply from inside: right after Papra accepted its Nth batch request, before that
# is recorded as applied (each accepted request is written at once here, not every 2 s).
KILLED_APPLY = textwrap.dedent("""
    import os, signal, sys
    from papra_pipeline.client import PapraClient
    from papra_pipeline.sync import rules

    rules.SETTLE_SECONDS = 0

    after = int(sys.argv[1])
    original = PapraClient.batch_update_document_tags
    calls = []

    def killing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == after:
            os.kill(os.getpid(), signal.SIGKILL)

    PapraClient.batch_update_document_tags = killing
    from papra_pipeline.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def test_a_kill_during_apply_applies_nothing_twice_and_records_only_what_was_applied(
    fake, papra, tmp_path
):
    before = _tags(fake)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_APPLY, "2", "rules", "apply"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    on_papra = _tags(fake)
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with warehouse.read_private() as con:
        status = dict(
            con.execute(
                "SELECT status, count(*) FROM tagging_rule_additions GROUP BY ALL"
            ).fetchall()
        )
        recorded = set(
            con.execute(
                "SELECT document_id, tag_id FROM tagging_rule_additions WHERE status = 'applied'"
            ).fetchall()
        )
    assert status.get("applied") and status.get("pending")  # one request accepted, unrecorded
    assert recorded <= on_papra - before

    assert main(["rules", "apply"]) == 0
    added = _tags(fake) - before
    with warehouse.read() as con:
        rows = con.execute(
            "SELECT document_id, tag_id, status FROM tagging_rule_additions"
        ).fetchall()
    assert {(doc, tag) for doc, tag, _ in rows} == added
    assert {s for _, _, s in rows} == {"applied"}
    tagged = Counter(
        (act.document_id, act.tag_id)
        for doc in fake.docs_by_id.values()
        for act in doc.activities
        if act.event == "tagged"
    )
    assert all(tagged[pair] == 1 for pair in added)
