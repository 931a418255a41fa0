"""Shared fixtures: a fresh fake with one organization and an authenticated client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from papra_pipeline.testing import FakePapra

BASE_URL = "http://papra.test"


def client_for(fake: FakePapra, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token or fake.api_key}"}
    return httpx.Client(transport=fake.transport(), base_url=BASE_URL, headers=headers)


@pytest.fixture
def fake() -> FakePapra:
    return FakePapra(seed=1)


@pytest.fixture
def org_id(fake: FakePapra) -> str:
    return fake.create_organization("Fixture Org")["id"]


@pytest.fixture
def client(fake: FakePapra) -> Iterator[httpx.Client]:
    with client_for(fake) as c:
        yield c
