"""In-memory records of the fake Papra server and their API (camelCase JSON) shapes.

Records keep timestamps as epoch milliseconds and are serialized on demand; documents use
``__slots__`` and may share their text with other documents so 100k of them stay small.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from papra_pipeline.testing.common import iso

# The fake imports no other layer, so it lists the types itself (a test keeps the list equal
# to the client's PROPERTY_TYPES).
CUSTOM_PROPERTY_TYPES = (
    "text",
    "number",
    "date",
    "boolean",
    "select",
    "multi_select",
    "user_relation",
    "document_relation",
)
PERMISSIONS = tuple(
    f"{resource}:{action}"
    for resource in ("organizations", "documents", "tags", "custom-properties")
    for action in ("create", "read", "update", "delete")
)


@dataclass(slots=True)
class User:
    id: str
    created_at: int
    email: str
    name: str
    password: str

    def to_api(self) -> dict:
        return {
            "name": self.name,
            "email": self.email,
            "emailVerified": False,
            "image": None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "twoFactorEnabled": False,
            "id": self.id,
        }


@dataclass(slots=True)
class ApiKey:
    id: str
    created_at: int
    name: str
    key_hash: str
    prefix: str
    user_id: str
    permissions: list[str]

    def to_api(self, *, with_hash: bool) -> dict:
        out = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "name": self.name,
            "keyHash": self.key_hash,
            "prefix": self.prefix,
            "userId": self.user_id,
            "lastUsedAt": None,
            "expiresAt": None,
            "permissions": list(self.permissions),
            "allOrganizations": True,
        }
        if not with_hash:
            del out["keyHash"]
            out["organizations"] = []
        return out


@dataclass(slots=True)
class Session:
    id: str
    token: str
    user_id: str
    created_at: int
    expires_at: int
    user_agent: str


@dataclass(slots=True)
class Member:
    id: str
    created_at: int
    user_id: str
    role: str


@dataclass(slots=True)
class Tag:
    id: str
    created_at: int
    organization_id: str
    name: str
    normalized_name: str
    color: str
    description: str | None
    doc_ids: set[str] = field(default_factory=set)

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "organizationId": self.organization_id,
            "name": self.name,
            "normalizedName": self.normalized_name,
            "color": self.color,
            "description": self.description,
        }


@dataclass(slots=True)
class SelectOption:
    id: str
    created_at: int
    definition_id: str
    name: str
    key: str
    display_order: int

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "propertyDefinitionId": self.definition_id,
            "name": self.name,
            "key": self.key,
            "displayOrder": self.display_order,
        }


@dataclass(slots=True)
class PropertyDefinition:
    id: str
    created_at: int
    organization_id: str
    name: str
    key: str
    description: str | None
    type: str
    display_order: int
    options: list[SelectOption] = field(default_factory=list)

    def to_api(self, *, with_options: bool) -> dict:
        out = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "organizationId": self.organization_id,
            "name": self.name,
            "key": self.key,
            "description": self.description,
            "type": self.type,
            "config": None,
            "displayOrder": self.display_order,
        }
        if with_options:
            out["options"] = [o.to_api() for o in self.options]
        return out

    def option(self, option_id: str) -> SelectOption | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(slots=True)
class Activity:
    id: str
    created_at: int
    document_id: str
    event: str
    event_data: dict | None
    user_id: str | None
    tag_id: str | None


@dataclass(slots=True)
class RuleCondition:
    id: str
    created_at: int
    rule_id: str
    field: str
    operator: str
    value: str
    # Not settable through Papra's API (always false there); the fake's tests may set it.
    is_case_sensitive: bool = False

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "taggingRuleId": self.rule_id,
            "field": self.field,
            "operator": self.operator,
            "value": self.value,
            "isCaseSensitive": self.is_case_sensitive,
        }


@dataclass(slots=True)
class RuleAction:
    id: str
    created_at: int
    rule_id: str
    tag_id: str


@dataclass(slots=True)
class TaggingRule:
    id: str
    created_at: int
    organization_id: str
    name: str
    description: str | None
    enabled: bool
    condition_match_mode: str
    conditions: list[RuleCondition] = field(default_factory=list)
    actions: list[RuleAction] = field(default_factory=list)


class Document:
    """A document row. ``content`` may be stored as parts shared with other documents."""

    __slots__ = (
        "id",
        "created_at",
        "created_iso",
        "organization_id",
        "created_by",
        "original_name",
        "original_size",
        "sha256",
        "name",
        "mime_type",
        "_content",
        "_data",
        "document_date",
        "notes",
        "deleted_at",
        "deleted_by",
        "is_deleted",
        "tag_ids",
        "cp_values",
        "activities",
        "extraction_text",
    )

    def __init__(
        self,
        *,
        id: str,
        created_at: int,
        organization_id: str,
        created_by: str | None,
        name: str,
        mime_type: str,
        size: int,
        sha256: str,
        content: str | tuple[str, ...] = "",
        data: bytes | None = None,
        extraction_text: str | tuple[str, ...] | None = None,
    ) -> None:
        self.id = id
        self.created_at = created_at
        self.created_iso = iso(created_at)
        self.organization_id = organization_id
        self.created_by = created_by
        self.original_name = name
        self.original_size = size
        self.sha256 = sha256
        self.name = name
        self.mime_type = mime_type
        self._content = content
        self._data = data
        self.extraction_text = extraction_text
        self.document_date: int | None = None
        self.notes: str | None = None
        self.deleted_at: int | None = None
        self.deleted_by: str | None = None
        self.is_deleted = False
        self.tag_ids: list[str] = []
        self.cp_values: dict[str, object] = {}
        self.activities: list[Activity] = []

    @property
    def content(self) -> str:
        value = self._content
        return value if isinstance(value, str) else "".join(value)

    @content.setter
    def content(self, value: str | tuple[str, ...]) -> None:
        self._content = value

    @property
    def data(self) -> bytes:
        """The original file bytes; generated documents are their own text."""
        if self._data is not None:
            return self._data
        text = self.extraction_text if self.extraction_text is not None else self._content
        return (text if isinstance(text, str) else "".join(text)).encode()

    def sort_key(self) -> tuple[int, str]:
        return (self.created_at, self.id)

    def base_api(self, *, with_content: bool) -> dict:
        out = {
            "id": self.id,
            "createdAt": self.created_iso,
            "updatedAt": self.created_iso,
            "organizationId": self.organization_id,
            "createdBy": self.created_by,
            "originalName": self.original_name,
            "originalSize": self.original_size,
            "originalSha256Hash": self.sha256,
            "name": self.name,
            "mimeType": self.mime_type,
        }
        if with_content:
            out["content"] = self.content
        out["documentDate"] = iso(self.document_date)
        out["notes"] = self.notes
        out["deletedAt"] = iso(self.deleted_at)
        out["deletedBy"] = self.deleted_by
        out["isDeleted"] = self.is_deleted
        return out


def _doc_key(doc: Document) -> tuple[int, str]:
    return (doc.created_at, doc.id)


class SortedDocs:
    """Documents kept in (createdAt, id) order so default listings are plain slices."""

    def __init__(self) -> None:
        self.items: list[Document] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, doc: Document) -> None:
        items = self.items
        if not items or _doc_key(items[-1]) < _doc_key(doc):
            items.append(doc)
        else:
            bisect.insort(items, doc, key=_doc_key)

    def remove(self, doc: Document) -> None:
        index = bisect.bisect_left(self.items, _doc_key(doc), key=_doc_key)
        if index < len(self.items) and self.items[index] is doc:
            del self.items[index]


@dataclass
class Organization:
    id: str
    created_at: int
    name: str
    deleted_at: int | None = None
    deleted_by: str | None = None
    scheduled_purge_at: int | None = None
    members: dict[str, Member] = field(default_factory=dict)
    members_before_delete: dict[str, Member] = field(default_factory=dict)
    settings: dict = field(
        default_factory=lambda: {"isEnabled": False, "canCreateNewTags": False, "maxTags": 5}
    )
    all_docs: SortedDocs = field(default_factory=SortedDocs)
    active: SortedDocs = field(default_factory=SortedDocs)
    sha_index: dict[str, Document] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    definitions: dict[str, PropertyDefinition] = field(default_factory=dict)
    rules: dict[str, TaggingRule] = field(default_factory=dict)
    _sorted_definitions: list[PropertyDefinition] | None = None

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "name": self.name,
            "customerId": None,
            "deletedAt": iso(self.deleted_at),
            "deletedBy": self.deleted_by,
            "scheduledPurgeAt": iso(self.scheduled_purge_at),
        }

    def sorted_definitions(self) -> list[PropertyDefinition]:
        """Definitions by displayOrder then createdAt; cached because every list item needs it."""
        if self._sorted_definitions is None:
            self._sorted_definitions = sorted(
                self.definitions.values(), key=lambda d: (d.display_order, d.created_at, d.id)
            )
        return self._sorted_definitions

    def definitions_changed(self) -> None:
        self._sorted_definitions = None

    def definition_by_key(self, key: str) -> PropertyDefinition | None:
        return next((d for d in self.definitions.values() if d.key == key), None)
