"""Tags of the fake Papra and their links to documents (a mixin of ``FakeState``)."""

from __future__ import annotations

from typing import Any

from papra_pipeline.testing.common import PapraError, internal_error
from papra_pipeline.testing.models import Document, Organization, Tag


class TagState:
    """Tags and tag links: the ``FakeState`` methods for them."""

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
