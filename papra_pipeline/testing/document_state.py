"""Documents of the fake Papra: upload with sha256 dedup, extraction, listing, trash, purge,
activity and batch operations (a mixin of ``FakeState``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from papra_pipeline.testing.common import PapraError, iso, parse_js_date
from papra_pipeline.testing.models import Activity, Document, Organization
from papra_pipeline.testing.search import compile_query

SORT_FIELDS = ("createdAt", "updatedAt", "name", "documentDate")


def extract_text(data: bytes) -> str:
    """Stand-in for Papra's extractors: bytes that decode as UTF-8 are their own text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


class DocumentState:
    """Documents: the ``FakeState`` methods for them."""

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
