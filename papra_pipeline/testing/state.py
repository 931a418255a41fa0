"""State and business rules of the fake Papra server.

Every operation here is what one Papra use case does (upload with sha256 dedup, trash,
tagging, custom-property values, tagging rules...). The HTTP handlers in ``app.py`` call the
same methods, so tests can arrange data in Python and observe it over HTTP, or the reverse.
All public methods take the state lock and return plain dicts in the API's camelCase shape.
"""

from __future__ import annotations

import base64
import hashlib
import math
import threading
from collections.abc import Iterable
from typing import Any

from papra_pipeline.testing.common import (
    DAY_MS,
    ClockFn,
    FakeClock,
    IdFactory,
    PapraError,
    internal_error,
    iso,
    not_in_organization,
    parse_js_date,
    property_key,
    to_ms,
)
from papra_pipeline.testing.models import (
    CUSTOM_PROPERTY_TYPES,
    PERMISSIONS,
    Activity,
    ApiKey,
    Document,
    Member,
    Organization,
    PropertyDefinition,
    RuleAction,
    RuleCondition,
    SelectOption,
    Session,
    Tag,
    TaggingRule,
    User,
)
from papra_pipeline.testing.search import compile_query

SESSION_TTL_MS = 7 * DAY_MS
RETENTION_DAYS = 30
SORT_FIELDS = ("createdAt", "updatedAt", "name", "documentDate")
RULE_OPERATORS = ("equal", "not_equal", "contains", "not_contains", "starts_with", "ends_with")


def _doc_not_found() -> PapraError:
    return PapraError(404, "document.not_found", "Document not found.")


def _tag_not_found() -> PapraError:
    return PapraError(404, "tags.not_found", "Tag not found")


def _cpd_not_found() -> PapraError:
    return PapraError(
        404, "custom_property_definition.not_found", "Custom property definition not found."
    )


def _rule_not_found() -> PapraError:
    return PapraError(404, "tagging-rules.not-found", "Tagging rule not found")


def _invalid_value() -> PapraError:
    return PapraError(
        400,
        "custom_property_value.invalid",
        "The provided value is invalid for this property type.",
    )


def hash_token(token: str) -> str:
    """Papra stores sha256(token) as base64url."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def extract_text(data: bytes) -> str:
    """Stand-in for Papra's extractors: bytes that decode as UTF-8 are their own text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def rule_matches(rule: TaggingRule, doc: Document) -> bool:
    """Tagging-rule conditions are case-insensitive; no condition means "always"."""
    if not rule.conditions:
        return True
    results = []
    for cond in rule.conditions:
        subject = (doc.name if cond.field == "name" else doc.content).lower()
        value = cond.value.lower()
        results.append(
            {
                "equal": subject == value,
                "not_equal": subject != value,
                "contains": value in subject,
                "not_contains": value not in subject,
                "starts_with": subject.startswith(value),
                "ends_with": subject.endswith(value),
            }[cond.operator]
        )
    return any(results) if rule.condition_match_mode == "any" else all(results)


class FakeState:
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

    # ------------------------------------------------------- users, keys, sessions

    def create_user(self, name: str, email: str, password: str) -> dict:
        with self.lock:
            user = User(self.ids.new("usr"), self.now(), email, name, password)
            self.users[user.id] = user
            return user.to_api()

    def create_api_key(
        self, permissions: Iterable[str], *, name: str = "api key", user_id: str | None = None
    ) -> str:
        """Create a key for a user (default: the default user) and return its token."""
        with self.lock:
            return self._create_api_key(list(permissions), name, self._user(user_id))[1]

    def _create_api_key(
        self, permissions: list[str], name: str, user_id: str
    ) -> tuple[ApiKey, str]:
        token = "ppapi_" + self.ids.token(64)
        key = ApiKey(
            self.ids.new("ak"),
            self.now(),
            name,
            hash_token(token),
            token[:11],
            user_id,
            permissions,
        )
        self.api_keys[key.key_hash] = key
        return key, token

    def api_key_for_token(self, token: str) -> ApiKey | None:
        return self.api_keys.get(hash_token(token))

    def delete_api_key(self, key_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            for key_hash, key in list(self.api_keys.items()):
                if key.id == key_id and key.user_id == self._user(user_id):
                    del self.api_keys[key_hash]

    def sign_in(self, email: str, password: str, user_agent: str = "") -> tuple[User, Session]:
        with self.lock:
            user = next((u for u in self.users.values() if u.email == email), None)
            if user is None or user.password != password:
                raise PapraError(
                    401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password", wrapped=False
                )
            now = self.now()
            session = Session(
                self.ids.new("auth_ses"),
                self.ids.token(32),
                user.id,
                now,
                now + SESSION_TTL_MS,
                user_agent,
            )
            self.sessions[session.token] = session
            return user, session

    def expire_sessions(self) -> None:
        """Invalidate every session so session clients must sign in again."""
        with self.lock:
            self.sessions.clear()

    # ----------------------------------------------------------- organizations

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

    # --------------------------------------------------------------- documents

    def upload_document(
        self,
        org_id: str,
        name: str,
        content: str | bytes,
        mime_type: str = "text/plain",
        extract: bool = False,
        *,
        user_id: str | None = None,
    ) -> dict:
        """Upload like ``POST /documents``: 409 for an active duplicate, dedup-restore of a
        trashed one, and ``content`` left "" until extraction (at once if ``extract``)."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            data = content.encode() if isinstance(content, str) else bytes(content)
            sha = hashlib.sha256(data).hexdigest()
            existing = org.sha_index.get(sha)
            if existing is not None:
                if not existing.is_deleted:
                    raise PapraError(409, "document.already_exists", "Document already exists.")
                doc = self._dedup_restore(org, existing, name, uid)
            else:
                doc = Document(
                    id=self.ids.new("doc"),
                    created_at=self.now(),
                    organization_id=org.id,
                    created_by=uid,
                    name=name,
                    mime_type=mime_type,
                    size=len(data),
                    sha256=sha,
                    data=data,
                    extraction_text=content if isinstance(content, str) else None,
                )
                self._insert(org, doc)
                self._log(doc, "created", uid)
                self._pending_extraction[doc.id] = doc
            response = doc.base_api(with_content=True)
            if extract:
                self._extract(doc)
            return response

    def _insert(self, org: Organization, doc: Document) -> None:
        self.docs_by_id[doc.id] = doc
        org.all_docs.add(doc)
        if not doc.is_deleted:
            org.active.add(doc)
        org.sha_index[doc.sha256] = doc

    def _dedup_restore(self, org: Organization, doc: Document, name: str, uid: str) -> Document:
        """Re-uploading a trashed file brings the same document back with its tags removed."""
        doc.is_deleted = False
        doc.deleted_at = doc.deleted_by = None
        doc.name = doc.original_name = name
        for tag_id in doc.tag_ids:
            org.tags[tag_id].doc_ids.discard(doc.id)
        doc.tag_ids = []
        org.active.add(doc)
        self._log(doc, "created", uid)
        self._run_enabled_rules(org, doc)
        return doc

    def _extract(self, doc: Document) -> None:
        self._pending_extraction.pop(doc.id, None)
        if doc.extraction_text is not None:
            doc.content = doc.extraction_text
        else:
            doc.content = extract_text(doc.data)
        doc.extraction_text = None
        self._log(doc, "updated", None, event_data={"updatedFields": ["content"]})
        org = self.organizations[doc.organization_id]
        self._run_enabled_rules(org, doc)

    def extract_pending(self) -> int:
        """Finish the background extraction of every pending upload; returns how many."""
        with self.lock:
            pending = [d for d in self._pending_extraction.values() if d.id in self.docs_by_id]
            self._pending_extraction.clear()
            for doc in pending:
                self._extract(doc)
            return len(pending)

    def has_pending_extraction(self) -> bool:
        return bool(self._pending_extraction)

    def get_document(self, org_id: str, doc_id: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            return self.document_detail(org, self._doc(org, doc_id), with_content=True)

    def document_detail(self, org: Organization, doc: Document, *, with_content: bool) -> dict:
        out = doc.base_api(with_content=with_content)
        out["tags"] = [org.tags[t].to_api() for t in doc.tag_ids]
        out["customProperties"] = [
            {
                "key": cpd.key,
                "name": cpd.name,
                "type": cpd.type,
                "displayOrder": cpd.display_order,
                "value": self._render_value(cpd, doc.cp_values.get(cpd.id)),
            }
            for cpd in org.sorted_definitions()
        ]
        return out

    def documents(self, org_id: str, include_deleted: bool = True) -> list[dict]:
        """Every document of an org with content, tags and custom properties (for assertions)."""
        with self.lock:
            org = self.organizations[org_id]
            return [
                self.document_detail(org, d, with_content=True)
                for d in org.all_docs.items
                if include_deleted or not d.is_deleted
            ]

    def list_documents(
        self,
        org_id: str,
        *,
        search_query: str = "",
        sort_field: str = "createdAt",
        sort_order: str = "desc",
        page_index: int = 0,
        page_size: int = 100,
        user_id: str | None = None,
    ) -> dict:
        """One page of non-trashed documents; default orders are slices of a sorted list."""
        with self.lock:
            org = self.org(org_id, user_id)
            base = org.active.items
            predicate = compile_query(search_query, org, self, self.now()) if search_query else None
            if predicate is not None:
                base = [d for d in base if predicate(d)]
            count = len(base)
            offset = page_index * page_size
            desc = sort_order == "desc"
            if sort_field in ("createdAt", "updatedAt"):
                if desc:
                    end = max(count - offset, 0)
                    page = base[max(end - page_size, 0) : end][::-1]
                else:
                    page = base[offset : offset + page_size]
            else:
                if sort_field == "name":

                    def key(d: Document) -> tuple:
                        return (d.name.lower(), d.created_at, d.id)
                else:

                    def key(d: Document) -> tuple:
                        has_date = d.document_date is not None
                        return (has_date, d.document_date or 0, d.created_at, d.id)

                page = sorted(base, key=key, reverse=desc)[offset : offset + page_size]
            return {
                "documents": [self.document_detail(org, d, with_content=False) for d in page],
                "documentsCount": count,
            }

    def list_deleted_documents(
        self, org_id: str, *, page_index: int = 0, page_size: int = 100, user_id: str | None = None
    ) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            trashed = [d for d in org.all_docs.items if d.is_deleted]
            trashed.sort(key=lambda d: d.deleted_at or 0, reverse=True)
            offset = page_index * page_size
            return {
                "documents": [
                    d.base_api(with_content=True) for d in trashed[offset : offset + page_size]
                ],
                "documentsCount": len(trashed),
            }

    def statistics(self, org_id: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            active = [d.original_size for d in org.active.items]
            deleted = [d.original_size for d in org.all_docs.items if d.is_deleted]
            return {
                "documentsCount": len(active),
                "documentsSize": sum(active),
                "deletedDocumentsCount": len(deleted),
                "deletedDocumentsSize": sum(deleted),
                "totalDocumentsCount": len(active) + len(deleted),
                "totalDocumentsSize": sum(active) + sum(deleted),
            }

    def document_file(
        self, org_id: str, doc_id: str, *, user_id: str | None = None
    ) -> tuple[str, bytes]:
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            return doc.name, doc.data

    def document_bytes(self, org_id: str, doc_id: str, *, user_id: str | None = None) -> bytes:
        """The stored file, e.g. to re-upload it and trigger dedup-restore."""
        return self.document_file(org_id, doc_id, user_id=user_id)[1]

    def update_document(
        self, org_id: str, doc_id: str, *, user_id: str | None = None, **fields: Any
    ) -> dict:
        """PATCH semantics: name/content/documentDate/notes; never touches updatedAt."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            doc = self._doc(org, doc_id)
            unknown = set(fields) - {"name", "content", "documentDate", "notes"}
            if unknown or not fields:
                raise ValueError(f"update_document needs PATCH fields, got {sorted(fields)}")
            if "name" in fields:
                doc.name = fields["name"]
            if "content" in fields:
                doc.content = fields["content"]
                self._pending_extraction.pop(doc.id, None)
                doc.extraction_text = None
            if "documentDate" in fields:
                value = fields["documentDate"]
                doc.document_date = None if value is None else parse_js_date(value)
            if "notes" in fields:
                doc.notes = fields["notes"]
            order = [f for f in ("name", "content", "documentDate", "notes") if f in fields]
            self._log(doc, "updated", uid, event_data={"updatedFields": order})
            return doc.base_api(with_content=True)

    def trash_document(self, org_id: str, doc_id: str, *, user_id: str | None = None) -> None:
        """Soft delete; trashing again resets deletedAt and logs again, like Papra."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            self._trash(org, self._doc(org, doc_id), uid)

    def _trash(self, org: Organization, doc: Document, uid: str) -> None:
        if not doc.is_deleted:
            org.active.remove(doc)
        doc.is_deleted = True
        doc.deleted_at = self.now()
        doc.deleted_by = uid
        self._log(doc, "deleted", uid)

    def restore_document(self, org_id: str, doc_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            doc = self._doc(org, doc_id)
            if not doc.is_deleted:
                raise PapraError(
                    400, "document.not_deleted", "Document is not deleted, cannot restore."
                )
            doc.is_deleted = False
            doc.deleted_at = doc.deleted_by = None
            org.active.add(doc)
            self._log(doc, "restored", uid)

    def purge_document(self, org_id: str, doc_id: str, *, user_id: str | None = None) -> None:
        """Hard delete of a trashed document: no tombstone, its activity disappears too."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            if not doc.is_deleted:
                raise PapraError(
                    400, "document.not_deleted", "Document is not deleted, cannot restore."
                )
            self._purge(org, doc)

    def _purge(self, org: Organization, doc: Document) -> None:
        del self.docs_by_id[doc.id]
        org.all_docs.remove(doc)
        org.sha_index.pop(doc.sha256, None)
        self._pending_extraction.pop(doc.id, None)
        for tag_id in doc.tag_ids:
            org.tags[tag_id].doc_ids.discard(doc.id)
        relations = [c.id for c in org.definitions.values() if c.type == "document_relation"]
        for other in org.all_docs.items:
            for cpd_id in relations:
                values = other.cp_values.get(cpd_id)
                if values and doc.id in values:
                    remaining = [v for v in values if v != doc.id]
                    if remaining:
                        other.cp_values[cpd_id] = remaining
                    else:
                        del other.cp_values[cpd_id]

    def empty_trash(self, org_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            for doc in [d for d in org.all_docs.items if d.is_deleted]:
                self._purge(org, doc)

    def activities(
        self,
        org_id: str,
        doc_id: str,
        *,
        page_index: int = 0,
        page_size: int = 100,
        user_id: str | None = None,
    ) -> list[dict]:
        """Newest first; an unknown document simply has no activity."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self.docs_by_id.get(doc_id)
            if doc is None or doc.organization_id != org.id:
                return []
            ordered = sorted(doc.activities, key=lambda a: a.created_at, reverse=True)
            offset = page_index * page_size
            return [self._activity_api(org, a) for a in ordered[offset : offset + page_size]]

    def _activity_api(self, org: Organization, act: Activity) -> dict:
        user = self.users.get(act.user_id) if act.user_id else None
        tag = org.tags.get(act.tag_id) if act.tag_id else None
        return {
            "id": act.id,
            "createdAt": iso(act.created_at),
            "documentId": act.document_id,
            "event": act.event,
            "eventData": act.event_data,
            "userId": user.id if user else None,
            "tagId": tag.id if tag else None,
            "user": {"id": user.id, "name": user.name} if user else None,
            "tag": (
                {"id": tag.id, "name": tag.name, "color": tag.color, "description": tag.description}
                if tag
                else None
            ),
        }

    def resolve_batch_filter(self, org: Organization, flt: dict) -> list[Document]:
        """Batch filters: explicit ids (all must belong to the org) or a search query."""
        if "documentIds" in flt:
            docs = []
            for doc_id in flt["documentIds"]:
                doc = self.docs_by_id.get(doc_id)
                if doc is None or doc.organization_id != org.id:
                    raise PapraError(
                        400,
                        "documents.batch.documents_not_from_organization",
                        "Some documents do not belong to this organization.",
                    )
                docs.append(doc)
            return docs
        predicate = compile_query(flt["query"], org, self, self.now()) if flt["query"] else None
        return [d for d in org.active.items if predicate is None or predicate(d)]

    def batch_trash(self, org_id: str, flt: dict, *, user_id: str | None = None) -> None:
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            for doc in self.resolve_batch_filter(org, flt):
                if not doc.is_deleted:
                    self._trash(org, doc, uid)

    def batch_tags(
        self,
        org_id: str,
        flt: dict,
        add: list[str],
        remove: list[str],
        *,
        user_id: str | None = None,
    ) -> None:
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            for tag_id in [*add, *remove]:
                self._tag(org, tag_id)
            for doc in self.resolve_batch_filter(org, flt):
                for tag_id in add:
                    if tag_id not in doc.tag_ids:
                        self._link(org, doc, tag_id, uid)
                for tag_id in remove:
                    if tag_id in doc.tag_ids:
                        self._unlink(org, doc, tag_id, uid)

    # -------------------------------------------------------------------- tags

    def create_tag(
        self,
        org_id: str,
        name: str,
        color: str = "#AABBCC",
        description: str | None = None,
        *,
        user_id: str | None = None,
    ) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            self._check_tag_name(org, name, None)
            tag = Tag(
                self.ids.new("tag"),
                self.now(),
                org.id,
                name,
                name.lower(),
                color.upper(),
                description,
            )
            org.tags[tag.id] = tag
            return tag.to_api()

    def _check_tag_name(self, org: Organization, name: str, tag_id: str | None) -> None:
        lowered = name.lower()
        if any(t.normalized_name == lowered and t.id != tag_id for t in org.tags.values()):
            raise PapraError(409, "tags.already_exists", "Tag already exists")

    def list_tags(self, org_id: str, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            org = self.org(org_id, user_id)
            out = []
            for tag in sorted(org.tags.values(), key=lambda t: (t.created_at, t.id), reverse=True):
                item = tag.to_api()
                item["documentsCount"] = sum(
                    1 for d in tag.doc_ids if not self.docs_by_id[d].is_deleted
                )
                out.append(item)
            return out

    def update_tag(
        self, org_id: str, tag_id: str, *, user_id: str | None = None, **fields: Any
    ) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            tag = self._tag(org, tag_id)
            if not fields:
                raise internal_error()  # Papra runs an empty SQL UPDATE and crashes
            if "name" in fields:
                self._check_tag_name(org, fields["name"], tag.id)
                tag.name = fields["name"]
                tag.normalized_name = tag.name.lower()
            if "color" in fields:
                tag.color = fields["color"].upper()
            if "description" in fields:
                tag.description = fields["description"]
            return tag.to_api()

    def delete_tag(self, org_id: str, tag_id: str, *, user_id: str | None = None) -> None:
        """Links vanish by FK cascade: no activity, no event."""
        with self.lock:
            org = self.org(org_id, user_id)
            tag = self._tag(org, tag_id)
            for doc_id in tag.doc_ids:
                self.docs_by_id[doc_id].tag_ids.remove(tag_id)
            for rule in org.rules.values():
                rule.actions = [a for a in rule.actions if a.tag_id != tag_id]
            del org.tags[tag_id]

    def _link(self, org: Organization, doc: Document, tag_id: str, uid: str | None) -> None:
        doc.tag_ids.append(tag_id)
        org.tags[tag_id].doc_ids.add(doc.id)
        self._log(doc, "tagged", uid, tag_id=tag_id)

    def _unlink(self, org: Organization, doc: Document, tag_id: str, uid: str | None) -> None:
        if tag_id in doc.tag_ids:
            doc.tag_ids.remove(tag_id)
            org.tags[tag_id].doc_ids.discard(doc.id)
        self._log(doc, "untagged", uid, tag_id=tag_id)

    def tag_document(
        self, org_id: str, doc_id: str, tag_id: str, *, user_id: str | None = None
    ) -> None:
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            doc = self._doc(org, doc_id)
            self._tag(org, tag_id)
            if tag_id in doc.tag_ids:
                raise PapraError(409, "documents.already_has_tag", "Document already has tag")
            self._link(org, doc, tag_id, uid)

    def untag_document(
        self, org_id: str, doc_id: str, tag_id: str, *, user_id: str | None = None
    ) -> None:
        """Succeeds (and logs ``untagged``) even when the document did not have the tag."""
        with self.lock:
            uid = self._user(user_id)
            org = self.org(org_id, uid)
            doc = self._doc(org, doc_id)
            self._tag(org, tag_id)
            self._unlink(org, doc, tag_id, uid)

    # ------------------------------------------------------- custom properties

    def create_custom_property(
        self,
        org_id: str,
        name: str,
        type: str,
        options: list | None = None,
        *,
        description: str | None = None,
        display_order: int = 0,
        user_id: str | None = None,
    ) -> dict:
        """Returns the definition with its options (the HTTP route strips them)."""
        with self.lock:
            org = self.org(org_id, user_id)
            if type not in CUSTOM_PROPERTY_TYPES:
                raise PapraError(400, "unsupported_custom_property_type", "Unsupported type.")
            key = property_key(name)
            if any(d.name == name or d.key == key for d in org.definitions.values()):
                raise PapraError(
                    409,
                    "custom_property_definition.already_exists",
                    "A custom property definition with this name or key already exists in this "
                    "organization.",
                )
            cpd = PropertyDefinition(
                self.ids.new("cpd"),
                self.now(),
                org.id,
                name,
                key,
                description,
                type,
                display_order,
            )
            if type in ("select", "multi_select"):
                for index, option in enumerate(options or []):
                    option_name = option["name"] if isinstance(option, dict) else str(option)
                    cpd.options.append(self._new_option(cpd, option_name, index))
            org.definitions[cpd.id] = cpd
            org.definitions_changed()
            return cpd.to_api(with_options=True)

    def _new_option(self, cpd: PropertyDefinition, name: str, order: int) -> SelectOption:
        return SelectOption(
            self.ids.new("cpso"), self.now(), cpd.id, name, property_key(name), order
        )

    def list_custom_properties(self, org_id: str, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            org = self.org(org_id, user_id)
            return [d.to_api(with_options=True) for d in org.sorted_definitions()]

    def get_custom_property(self, org_id: str, cpd_id: str, *, user_id: str | None = None) -> dict:
        with self.lock:
            org = self.org(org_id, user_id)
            return self._definition(org, cpd_id).to_api(with_options=True)

    def update_custom_property(
        self, org_id: str, cpd_id: str, *, user_id: str | None = None, **fields: Any
    ) -> dict:
        """PUT semantics: ``options`` is a full replacement; removed options lose their values.

        Like Papra, a body with nothing but ``options`` (or only unknown keys) is a 500.
        """
        with self.lock:
            org = self.org(org_id, user_id)
            cpd = self._definition(org, cpd_id)
            invalid = PapraError(
                400,
                "custom_property_definition.invalid_update",
                "The provided update data is invalid for this property type.",
            )
            name = fields.get("name")
            bad_name = not isinstance(name, str) or not 1 <= len(name.strip()) <= 255
            if "name" in fields and bad_name:
                raise invalid
            if (
                "description" in fields
                and fields["description"] is not None
                and (
                    not isinstance(fields["description"], str) or len(fields["description"]) > 1000
                )
            ):
                raise invalid
            order = fields.get("displayOrder")
            if "displayOrder" in fields and (
                not isinstance(order, int) or isinstance(order, bool) or order < 0
            ):
                raise invalid
            options = fields.get("options") if cpd.type in ("select", "multi_select") else None
            if options is not None:
                if (
                    not isinstance(options, list)
                    or not options
                    or not all(
                        isinstance(o, dict) and isinstance(o.get("name"), str) for o in options
                    )
                ):
                    raise invalid
                known = {o.id for o in cpd.options}
                if any("id" in o and o["id"] not in known for o in options):
                    raise PapraError(
                        400,
                        "custom_property_select_option.unknown_id",
                        "One or more option IDs do not belong to this property.",
                    )
            if not {"name", "description", "displayOrder"} & set(fields):
                raise internal_error()  # "No values to set" in Papra
            if "name" in fields:
                cpd.name = name.strip()
                cpd.key = property_key(cpd.name)
            if "description" in fields:
                cpd.description = fields["description"]
            if "displayOrder" in fields:
                cpd.display_order = order
            if options is not None:
                self._replace_options(org, cpd, options)
            org.definitions_changed()
            return cpd.to_api(with_options=True)

    def _replace_options(self, org: Organization, cpd: PropertyDefinition, options: list) -> None:
        by_id = {o.id: o for o in cpd.options}
        new_options = []
        for index, spec in enumerate(options):
            option = by_id.get(spec.get("id", ""))
            if option is None:
                option = self._new_option(cpd, spec["name"], index)
            else:
                option.name, option.key, option.display_order = (
                    spec["name"],
                    property_key(spec["name"]),
                    index,
                )
            new_options.append(option)
        kept = {o.id for o in new_options}
        cpd.options = new_options
        for doc in org.all_docs.items:
            stored = doc.cp_values.get(cpd.id)
            if stored is None:
                continue
            if isinstance(stored, list):
                remaining = [v for v in stored if v in kept]
                if remaining:
                    doc.cp_values[cpd.id] = remaining
                else:
                    del doc.cp_values[cpd.id]
            elif stored not in kept:
                del doc.cp_values[cpd.id]

    def delete_custom_property(
        self, org_id: str, cpd_id: str, *, user_id: str | None = None
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            self._definition(org, cpd_id)
            del org.definitions[cpd_id]
            org.definitions_changed()
            for doc in org.all_docs.items:
                doc.cp_values.pop(cpd_id, None)

    def set_custom_property_value(
        self, org_id: str, doc_id: str, cpd_id: str, value: Any, *, user_id: str | None = None
    ) -> None:
        """Set a value given in the API input shape; logs no activity, changes no updatedAt."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            cpd = self._definition(org, cpd_id)
            stored = self._validate_value(org, cpd, value)
            if stored is None:
                doc.cp_values.pop(cpd.id, None)
            else:
                doc.cp_values[cpd.id] = stored

    def _validate_value(self, org: Organization, cpd: PropertyDefinition, value: Any) -> Any:
        kind = cpd.type
        if kind == "text":
            if not isinstance(value, str) or len(value) > 10_000:
                raise _invalid_value()
            return value
        if kind == "number":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise _invalid_value()
            return value
        if kind == "date":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _invalid_value()
            ms = parse_js_date(value)
            if ms is None:
                raise _invalid_value()
            return ms
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _invalid_value()
            return value
        if kind == "select":
            if not isinstance(value, str):
                raise _invalid_value()
            if cpd.option(value) is None:
                raise PapraError(
                    400,
                    "custom_property_select_option.not_found",
                    "The provided value is not a valid option for this select property.",
                )
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid_value()
        if kind == "multi_select":
            if any(cpd.option(v) is None for v in value):
                raise PapraError(
                    400,
                    "custom_property_select_option.not_found",
                    "The provided value is not a valid option for this select property.",
                )
            order = {o.id: o.display_order for o in cpd.options}
            value = sorted(dict.fromkeys(value), key=lambda v: order[v])
        elif kind == "user_relation":
            if any(v not in org.members for v in value):
                raise PapraError(
                    400,
                    "custom_property_value.user_not_found",
                    "One or more provided user IDs are not members of this organization.",
                )
        else:
            if any(
                v not in self.docs_by_id or self.docs_by_id[v].organization_id != org.id
                for v in value
            ):
                raise PapraError(
                    400,
                    "custom_property_value.related_document_not_found",
                    "One or more provided document IDs do not belong to this organization.",
                )
        return list(dict.fromkeys(value)) or None

    def _render_value(self, cpd: PropertyDefinition, stored: Any) -> Any:
        if stored is None:
            return None
        kind = cpd.type
        if kind == "date":
            return iso(stored)
        if kind == "select":
            option = cpd.option(stored)
            return {"optionId": option.id, "name": option.name} if option else None
        if kind == "multi_select":
            names = {o.id: o.name for o in cpd.options}
            return [{"optionId": v, "name": names[v]} for v in stored if v in names]
        if kind == "user_relation":
            return [
                {"userId": u.id, "name": u.name, "email": u.email}
                for u in (self.users[v] for v in stored if v in self.users)
            ]
        if kind == "document_relation":
            return [
                {"documentId": v, "name": self.docs_by_id[v].name}
                for v in stored
                if v in self.docs_by_id
            ]
        return stored

    def document_custom_properties(
        self, org_id: str, doc_id: str, *, user_id: str | None = None
    ) -> list[dict]:
        """Only properties that have a value, by definition id (as Papra's query returns them)."""
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            out = []
            for cpd_id in sorted(doc.cp_values):
                cpd = org.definitions[cpd_id]
                out.append(
                    {
                        "propertyDefinitionId": cpd.id,
                        "key": cpd.key,
                        "name": cpd.name,
                        "type": cpd.type,
                        "value": self._render_value(cpd, doc.cp_values[cpd_id]),
                    }
                )
            return out

    def clear_custom_property_value(
        self, org_id: str, doc_id: str, cpd_id: str, *, user_id: str | None = None
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            doc = self._doc(org, doc_id)
            self._definition(org, cpd_id)
            doc.cp_values.pop(cpd_id, None)

    # ------------------------------------------------------------ tagging rules

    def create_tagging_rule(
        self,
        org_id: str,
        name: str,
        conditions: list[dict] | None = None,
        tag_ids: list[str] | None = None,
        enabled: bool = True,
        condition_match_mode: str = "all",
        description: str | None = None,
        *,
        user_id: str | None = None,
    ) -> str:
        with self.lock:
            org = self.org(org_id, user_id)
            rule = TaggingRule(
                self.ids.new("tr"),
                self.now(),
                org.id,
                name,
                description,
                enabled,
                condition_match_mode,
            )
            self._set_rule_parts(org, rule, conditions or [], tag_ids or [])
            org.rules[rule.id] = rule
            return rule.id

    def _set_rule_parts(
        self, org: Organization, rule: TaggingRule, conditions: list[dict], tag_ids: list[str]
    ) -> None:
        for tag_id in tag_ids:
            self._tag(org, tag_id)
        for cond in conditions:
            if cond["field"] not in ("name", "content") or cond["operator"] not in RULE_OPERATORS:
                raise ValueError(f"unsupported tagging-rule condition {cond!r}")
        rule.conditions = [
            RuleCondition(
                self.ids.new("trc"), self.now(), rule.id, c["field"], c["operator"], c["value"]
            )
            for c in conditions
        ]
        rule.actions = [RuleAction(self.ids.new("tra"), self.now(), rule.id, t) for t in tag_ids]

    def update_tagging_rule(
        self,
        org_id: str,
        rule_id: str,
        *,
        name: str | None = None,
        conditions: list[dict] | None = None,
        tag_ids: list[str] | None = None,
        enabled: bool | None = None,
        condition_match_mode: str | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            rule = org.rules.get(rule_id)
            if rule is None:
                raise _rule_not_found()
            if name is not None:
                rule.name = name
            if description is not None:
                rule.description = description
            if enabled is not None:
                rule.enabled = enabled
            if condition_match_mode is not None:
                rule.condition_match_mode = condition_match_mode
            self._set_rule_parts(
                org,
                rule,
                conditions
                if conditions is not None
                else [
                    {"field": c.field, "operator": c.operator, "value": c.value}
                    for c in rule.conditions
                ],
                tag_ids if tag_ids is not None else [a.tag_id for a in rule.actions],
            )

    def delete_tagging_rule(self, org_id: str, rule_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            if org.rules.pop(rule_id, None) is None:
                raise _rule_not_found()

    def tagging_rule_api(self, org: Organization, rule: TaggingRule) -> dict:
        return {
            "id": rule.id,
            "createdAt": iso(rule.created_at),
            "updatedAt": iso(rule.created_at),
            "organizationId": rule.organization_id,
            "name": rule.name,
            "description": rule.description,
            "enabled": rule.enabled,
            "conditionMatchMode": rule.condition_match_mode,
            "conditions": [c.to_api() for c in rule.conditions],
            "actions": [
                {
                    "id": a.id,
                    "createdAt": iso(a.created_at),
                    "updatedAt": iso(a.created_at),
                    "taggingRuleId": a.rule_id,
                    "tagId": a.tag_id,
                    "tag": org.tags[a.tag_id].to_api() if a.tag_id in org.tags else None,
                }
                for a in rule.actions
            ],
        }

    def list_tagging_rules(self, org_id: str, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            org = self.org(org_id, user_id)
            rules = sorted(org.rules.values(), key=lambda r: (r.created_at, r.id))
            return [self.tagging_rule_api(org, r) for r in rules]

    def apply_tagging_rule(self, org_id: str, rule_id: str, *, user_id: str | None = None) -> str:
        """Apply one rule (even a disabled one) to every non-trashed document, synchronously."""
        with self.lock:
            org = self.org(org_id, user_id)
            rule = org.rules.get(rule_id)
            if rule is None:
                raise _rule_not_found()
            for doc in list(org.active.items):
                self._apply_rule(org, rule, doc)
            return self.ids.bare()

    def _apply_rule(self, org: Organization, rule: TaggingRule, doc: Document) -> None:
        if rule_matches(rule, doc):
            for action in rule.actions:
                if action.tag_id in org.tags and action.tag_id not in doc.tag_ids:
                    self._link(org, doc, action.tag_id, None)

    def _run_enabled_rules(self, org: Organization, doc: Document) -> None:
        for rule in sorted(org.rules.values(), key=lambda r: (r.created_at, r.id)):
            if rule.enabled:
                self._apply_rule(org, rule, doc)
