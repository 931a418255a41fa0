"""State of the fake Papra server: ``FakeState``, and the lookups every resource shares.

Every operation is what one Papra use case does (upload with sha256 dedup, trash,
tagging, custom-property values, tagging rules...); each resource's operations live in its
``*_state`` mixin. The HTTP handlers in the ``*_routes`` modules call the same methods, so
tests can arrange data in Python and observe it over HTTP, or the reverse. All public
methods take the state lock and return plain dicts in the API's camelCase shape.
"""

from __future__ import annotations

import threading

from papra_pipeline.testing.account_state import SESSION_TTL_MS, AccountState, hash_token
from papra_pipeline.testing.common import (
    ClockFn,
    FakeClock,
    IdFactory,
    PapraError,
    not_in_organization,
    to_ms,
)
from papra_pipeline.testing.custom_property_state import CustomPropertyState
from papra_pipeline.testing.document_state import SORT_FIELDS, DocumentState, extract_text
from papra_pipeline.testing.models import (
    PERMISSIONS,
    Activity,
    ApiKey,
    Document,
    Organization,
    PropertyDefinition,
    Session,
    Tag,
    User,
)
from papra_pipeline.testing.organization_state import RETENTION_DAYS, OrganizationState
from papra_pipeline.testing.tag_state import TagState
from papra_pipeline.testing.tagging_rule_state import RULE_OPERATORS, TaggingRuleState, rule_matches

__all__ = [
    "RETENTION_DAYS",
    "RULE_OPERATORS",
    "SESSION_TTL_MS",
    "SORT_FIELDS",
    "FakeState",
    "extract_text",
    "hash_token",
    "rule_matches",
]


def _doc_not_found() -> PapraError:
    return PapraError(404, "document.not_found", "Document not found.")


def _tag_not_found() -> PapraError:
    return PapraError(404, "tags.not_found", "Tag not found")


def _cpd_not_found() -> PapraError:
    return PapraError(
        404, "custom_property_definition.not_found", "Custom property definition not found."
    )


class FakeState(
    AccountState,
    OrganizationState,
    DocumentState,
    TagState,
    CustomPropertyState,
    TaggingRuleState,
):
    """Users, keys, sessions, organizations and everything inside them, behind one lock."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: ClockFn | None = None,
        email: str = "tester@example.com",
        password: str = "fake-password",
        user_name: str = "Test User",
    ) -> None:
        self.lock = threading.RLock()
        self.clock: ClockFn = clock or FakeClock()
        self.ids = IdFactory(seed)
        self.users: dict[str, User] = {}
        self.api_keys: dict[str, ApiKey] = {}  # by key hash
        self.sessions: dict[str, Session] = {}  # by token
        self.organizations: dict[str, Organization] = {}
        self.docs_by_id: dict[str, Document] = {}
        self._pending_extraction: dict[str, Document] = {}
        self.email = email
        self.password = password
        self.user_id = self.create_user(user_name, email, password)["id"]
        self.api_key = self.create_api_key(PERMISSIONS, name="all-permissions key")

    # ----------------------------------------------------------------- helpers

    def now(self) -> int:
        return to_ms(self.clock())

    def _user(self, user_id: str | None) -> str:
        return user_id or self.user_id

    def org(self, org_id: str, user_id: str | None = None) -> Organization:
        """The organization if the user is a member of it, else 403 like Papra."""
        org = self.organizations.get(org_id)
        if org is None or org.deleted_at is not None or self._user(user_id) not in org.members:
            raise not_in_organization()
        return org

    def _doc(self, org: Organization, doc_id: str) -> Document:
        doc = self.docs_by_id.get(doc_id)
        if doc is None or doc.organization_id != org.id:
            raise _doc_not_found()
        return doc

    def _tag(self, org: Organization, tag_id: str) -> Tag:
        tag = org.tags.get(tag_id)
        if tag is None:
            raise _tag_not_found()
        return tag

    def _definition(self, org: Organization, cpd_id: str) -> PropertyDefinition:
        cpd = org.definitions.get(cpd_id)
        if cpd is None:
            raise _cpd_not_found()
        return cpd

    def _log(
        self,
        doc: Document,
        event: str,
        user_id: str | None,
        *,
        tag_id: str | None = None,
        event_data: dict | None = None,
    ) -> None:
        doc.activities.append(
            Activity(
                self.ids.new("doc_act"), self.now(), doc.id, event, event_data, user_id, tag_id
            )
        )
