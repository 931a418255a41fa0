"""Organizations of the fake Papra: create, rename, soft delete, restore (a ``FakeState`` mixin)."""

from __future__ import annotations

from papra_pipeline.testing.common import DAY_MS, PapraError
from papra_pipeline.testing.models import Member, Organization

RETENTION_DAYS = 30


class OrganizationState:
    """Organizations: the ``FakeState`` methods for them."""

    def create_organization(self, name: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            owner = self._user(user_id)
            now = self.now()
            org = Organization(self.ids.new("org"), now, name)
            org.members[owner] = Member(self.ids.new("org_mem"), self.now(), owner, "owner")
            self.organizations[org.id] = org
            return org.to_api()

    def list_organizations(self, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            uid = self._user(user_id)
            return [
                o.to_api()
                for o in self.organizations.values()
                if o.deleted_at is None and uid in o.members
            ]

    def rename_organization(self, org_id: str, name: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            org.name = name
            return org.to_api()

    def delete_organization(self, org_id: str, *, user_id: str | None = None) -> None:
        """Soft delete: members are removed at once, a purge is scheduled in 30 days."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            if org.members[uid].role != "owner":
                raise PapraError(
                    403,
                    "user.not_organization_owner",
                    "You are not the owner of this organization.",
                )
            org.deleted_at = self.now()
            org.deleted_by = uid
            org.scheduled_purge_at = org.deleted_at + RETENTION_DAYS * DAY_MS
            org.members_before_delete = org.members
            org.members = {}

    def remove_member(self, org_id: str, user_id: str | None = None) -> None:
        """The user leaves the organization (or an admin removes them): from then on every
        route of it answers 403 ``user.not_in_organization`` to that user's API keys, as for a
        deleted organization, and the organization list no longer shows it."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            del org.members[uid]

    def deleted_organizations(self, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            uid = self._user(user_id)
            return [
                o.to_api()
                for o in self.organizations.values()
                if o.deleted_at is not None and o.deleted_by == uid
            ]

    def restore_organization(self, org_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            org = self.organizations.get(org_id)
            if org is None or org.deleted_at is None or org.deleted_by != self._user(user_id):
                raise PapraError(404, "organization.not_found", "Organization not found.")
            org.deleted_at = org.deleted_by = org.scheduled_purge_at = None
            org.members = org.members_before_delete
            org.members_before_delete = {}
