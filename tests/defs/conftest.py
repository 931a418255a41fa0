"""Fixtures for the Dagster layer: a populated fake Papra served over loopback HTTP, a DuckDB
file per test, the definitions bound to both, and a throwaway Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from papra_pipeline.defs import Settings, build_definitions
from papra_pipeline.defs.resources import PapraResource, WarehouseResource
from papra_pipeline.testing import FakePapra, populate, serve

DOCUMENTS = 120
ORGANIZATIONS = 2


@pytest.fixture
def fake() -> FakePapra:
    fake = FakePapra()
    populate(
        fake, organizations=ORGANIZATIONS, documents=DOCUMENTS, tags=6, custom_properties=8,
        activity_per_document=2, text_bytes=200, seed=3,
    )
    return fake


@pytest.fixture
def papra_url(fake: FakePapra) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def papra(fake: FakePapra, papra_url: str) -> PapraResource:
    """API key and login: everything, tagging rules included."""
    return PapraResource(
        base_url=papra_url, api_key=fake.api_key, email=fake.email, password=fake.password,
        max_retries=0, timeout=10,
    )


@pytest.fixture
def warehouse(tmp_path) -> WarehouseResource:
    return WarehouseResource(path=str(tmp_path / "papra.duckdb"))


@pytest.fixture
def settings() -> Settings:
    return Settings(reports_start_date="2025-12-01")


@pytest.fixture
def defs(papra: PapraResource, warehouse: WarehouseResource, settings: Settings) -> dg.Definitions:
    return build_definitions({"papra": papra, "warehouse": warehouse}, settings)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def run_job(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, **kwargs):
    return defs.resolve_job_def(name).execute_in_process(instance=instance, **kwargs)


def materializations(result) -> dict[str, dict[str, object]]:
    """Metadata values of every materialization of a run, by asset key."""
    return {
        event.asset_key.to_user_string(): {k: v.value for k, v in event.metadata.items()}
        for event in result.get_asset_materialization_events()
        for event in [event.event_specific_data.materialization]
    }


def check_results(result) -> dict[tuple[str, str], object]:
    evaluations = result.get_asset_check_evaluations()
    return {(e.asset_key.to_user_string(), e.check_name): e for e in evaluations}
