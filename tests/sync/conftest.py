"""Fixtures for sync tests: a populated fake Papra, a client on its in-process transport, and
a real DuckDB file per test."""

from __future__ import annotations

import pytest

from papra_pipeline.testing import FakePapra, populate
from papra_pipeline.warehouse import Warehouse
from tests.sync.helpers import logged_in_client


@pytest.fixture
def fake() -> FakePapra:
    fake = FakePapra()
    # 2 organizations of 130 documents: more than one page each, small enough to be quick.
    populate(fake, organizations=2, documents=260, tags=8, custom_properties=8, seed=7)
    return fake


@pytest.fixture
def client(fake):
    with logged_in_client(fake) as client:
        yield client


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "papra.duckdb", lock_timeout=1)
