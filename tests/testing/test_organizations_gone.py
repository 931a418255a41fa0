"""An organization that is deleted, or that the key's user leaves, answers like Papra's."""

from __future__ import annotations

import httpx
import pytest

from papra_pipeline.testing import FakePapra
from tests.client.conftest import load_sample

ROUTES = ("", "/documents", "/documents/deleted", "/documents/statistics", "/tags")


@pytest.mark.parametrize(
    "leave",
    [
        # The owner deletes it (sample 026): members are removed at once.
        lambda fake, org: fake.delete_organization(org),
        # The key's user leaves it (or is removed): the organization lives on for others.
        lambda fake, org: fake.remove_member(org),
    ],
    ids=["deleted", "user-left"],
)
def test_every_route_answers_403_not_in_organization_and_the_list_drops_it(
    fake: FakePapra, org_id: str, client: httpx.Client, leave
) -> None:
    kept = fake.create_organization("Kept Org")["id"]
    leave(fake, org_id)

    # Status and body as recorded from a real Papra after a delete (027) and for an
    # organization the user is not part of (241).
    expected = {
        name: (sample["status"], sample["body"])
        for name in ("027_organizations_get_after_delete", "241_error_other_users_org_documents")
        for sample in [load_sample(name)]
    }
    for path in ROUTES:
        response = client.get(f"/api/organizations/{org_id}{path}")
        assert (response.status_code, response.json()) in expected.values(), path
    listed = [org["id"] for org in client.get("/api/organizations").json()["organizations"]]
    assert listed == [kept]
