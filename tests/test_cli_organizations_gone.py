"""``papra-pipeline sync`` after an organization is deleted in Papra."""

from __future__ import annotations

import pytest

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve


@pytest.fixture
def one_organization_gone(monkeypatch, capsys, tmp_path):
    """Two organizations synced, then the first deleted in Papra; yields (gone, kept)."""
    fake = FakePapra()
    populate(fake, organizations=2, documents=40, tags=3, custom_properties=2, seed=5)
    gone, kept = sorted(org["id"] for org in fake.list_organizations())
    with serve(fake) as base_url:
        monkeypatch.setenv("PAPRA_API_URL", base_url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
        assert main(["sync"]) == 0
        fake.delete_organization(gone)
        capsys.readouterr()
        yield gone, kept


def test_quick_sync_names_a_deleted_organization_and_syncs_the_others(
    one_organization_gone, capsys
):
    gone, kept = one_organization_gone
    assert main(["sync", "--quick"]) == 0

    out, err = capsys.readouterr()
    assert "quick sync of 1 organization(s)" in out
    assert f"Organization {gone} is gone" in out
    assert kept not in out


def test_sync_of_a_named_organization_that_is_gone_skips_it_and_a_typo_stays_an_error(
    one_organization_gone, capsys
):
    """``--organization`` naming an organization the warehouse holds but Papra no longer
    shows is skipped like one that disappears during a run; one the warehouse never knew is
    probably a typo, and stays an error."""
    gone, kept = one_organization_gone
    for mode in ("--full", "--quick"):
        assert main(["sync", mode, "--organization", gone, "--organization", kept]) == 0
        out, _ = capsys.readouterr()
        assert "sync of 1 organization(s)" in out
        assert f"Organization {gone} is gone" in out

    typo = "org_" + "x" * 24
    assert main(["sync", "--full", "--organization", typo]) != 0
    out, err = capsys.readouterr()
    assert f"{typo} is not visible to this API key" in out + err
