"""``papra-pipeline sync --quick`` after an organization is deleted in Papra."""

from __future__ import annotations

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve


def test_quick_sync_names_a_deleted_organization_and_syncs_the_others(
    monkeypatch, capsys, tmp_path
):
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

        assert main(["sync", "--quick"]) == 0

    out, err = capsys.readouterr()
    assert "quick sync of 1 organization(s)" in out
    assert f"Organization {gone} is gone" in out
    assert kept not in out
