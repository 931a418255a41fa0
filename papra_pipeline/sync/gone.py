"""Organizations that disappear between two looks at Papra.

Deleting an organization, or its user leaving it, takes it from the API key at once: every
route answers 403 ``user.not_in_organization``. Runs that take their organizations from the
warehouse (quick syncs, statistics snapshots) or from an earlier listing (probes) skip such an
organization with a warning and carry on with the others; the next full sync, which lists
organizations, marks it removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from papra_pipeline.client import PapraOrganizationAccessError

log = logging.getLogger("papra_pipeline.sync")

T = TypeVar("T")


def gone_message(organization_id: str) -> str:
    return (
        f"Organization {organization_id} is gone from Papra (deleted, or the API key's user "
        "left it): skipped; the next full sync marks it removed."
    )


def unless_gone(organization_id: str, request: Callable[[], T]) -> T | None:
    """The request's answer, or ``None`` (with a warning) when the organization is gone.

    Use it for the first request a run makes of an organization, before anything of it is
    kept: later requests failing the same way are a race that fails the run, and the next run
    skips the organization.
    """
    try:
        return request()
    except PapraOrganizationAccessError:
        log.warning(gone_message(organization_id))
        return None
