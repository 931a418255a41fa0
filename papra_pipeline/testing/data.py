"""Deterministic, realistic data for the fake: organizations full of extracted documents.

Built for volume (100k documents in seconds): records are inserted directly rather than
through the validating operations, document texts share a pool of bodies, and the clock
jumps minutes between uploads so ``createdAt`` spreads over months like a real archive.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

from papra_pipeline.testing.models import Activity, Document, Tag

if TYPE_CHECKING:
    from papra_pipeline.testing.fake import FakePapra

KINDS = (
    ("invoice", "Invoice", "application/pdf", "pdf"),
    ("receipt", "Receipt", "image/png", "png"),
    ("contract", "Contract", "application/pdf", "pdf"),
    ("bank-statement", "Bank statement", "application/pdf", "pdf"),
    ("payslip", "Payslip", "application/pdf", "pdf"),
    ("insurance-policy", "Insurance policy", "application/pdf", "pdf"),
    ("tax-notice", "Tax notice", "application/pdf", "pdf"),
    ("utility-bill", "Utility bill", "application/pdf", "pdf"),
    ("medical-report", "Medical report", "image/jpeg", "jpg"),
    ("meeting-notes", "Meeting notes", "text/plain", "txt"),
)
VENDORS = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "soylent",
    "tyrell",
    "vandelay",
    "bakery-dupont",
    "edf",
    "orange",
    "axa",
    "bnp",
    "ikea",
)
TAG_NAMES = (
    "Invoices",
    "Receipts",
    "Contracts",
    "Tax",
    "Insurance",
    "Bank",
    "Utilities",
    "Medical",
    "Travel",
    "Car",
    "House",
    "Work",
    "Personal",
    "Archive",
    "Important",
    "To do",
    "2023",
    "2024",
    "2025",
    "Family",
    "Pets",
    "Education",
    "Subscriptions",
    "Warranty",
)
WORDS = (
    "amount",
    "total",
    "payment",
    "due",
    "date",
    "account",
    "reference",
    "customer",
    "service",
    "period",
    "balance",
    "agreement",
    "party",
    "clause",
    "renewal",
    "delivery",
    "order",
    "quantity",
    "price",
    "tax",
    "rate",
    "net",
    "gross",
    "insurance",
    "coverage",
    "premium",
    "claim",
    "policy",
    "statement",
    "transfer",
    "deposit",
    "withdrawal",
    "salary",
    "employer",
    "contribution",
    "meeting",
    "budget",
    "review",
    "project",
    "lease",
    "landlord",
    "electricity",
    "water",
    "internet",
    "subscription",
    "warranty",
    "repair",
    "appointment",
    "prescription",
)
PROPERTIES = (
    ("Amount", "number", None),
    ("Reference", "text", None),
    ("Due date", "date", None),
    ("Paid", "boolean", None),
    ("Status", "select", ["Open", "Closed", "Pending"]),
    ("Labels", "multi_select", ["Red", "Green", "Blue", "Yellow"]),
    ("Owner", "user_relation", None),
    ("Related documents", "document_relation", None),
    ("Vendor", "text", None),
    ("VAT", "number", None),
)
BODY_POOL_SIZE = 64


def _bodies(rng: random.Random, text_bytes: int) -> list[tuple[str, bytes]]:
    """Shared document bodies (text, utf-8 bytes): most of the bytes of every document."""
    out = []
    for _ in range(BODY_POOL_SIZE):
        words, size = [], 0
        while size < text_bytes:
            word = rng.choice(WORDS)
            words.append(word)
            size += len(word) + 1
        text = " ".join(words)[: max(text_bytes, 0)]
        out.append((text, text.encode()))
    return out


def populate(
    fake: FakePapra,
    *,
    organizations: int = 2,
    documents: int = 2000,
    tags: int = 50,
    custom_properties: int = 10,
    activity_per_document: int = 3,
    text_bytes: int = 2000,
    trashed_fraction: float = 0.02,
    seed: int = 0,
) -> dict:
    """Fill ``fake`` and return a summary.

    ``documents`` is the total, spread round-robin over ``organizations``; ``tags`` and
    ``custom_properties`` are per organization. Documents are already extracted, carry 0-3
    tags, custom-property values of all eight types and ``activity_per_document`` activity
    entries (created / updated / tagged); ``trashed_fraction`` of them end in the trash.
    """
    rng = random.Random(seed)
    bodies = _bodies(rng, text_bytes)
    advance = getattr(fake.clock, "advance", None)
    with fake.lock:
        user_id = fake.user_id
        orgs = [
            fake.organizations[fake.create_organization(f"Generated Org {i + 1}")["id"]]
            for i in range(organizations)
        ]
        for org in orgs:
            for i in range(tags):
                name = TAG_NAMES[i % len(TAG_NAMES)]
                name = name if i < len(TAG_NAMES) else f"{name} {i // len(TAG_NAMES) + 1}"
                tag = Tag(
                    fake.ids.new("tag"),
                    fake.now(),
                    org.id,
                    name,
                    name.lower(),
                    f"#{rng.randrange(0x1000000):06X}",
                    None,
                )
                org.tags[tag.id] = tag
            for i in range(custom_properties):
                name, kind, options = PROPERTIES[i % len(PROPERTIES)]
                if i >= len(PROPERTIES):
                    name = f"{name} {i // len(PROPERTIES) + 1}"
                fake.create_custom_property(
                    org.id,
                    name,
                    kind,
                    [{"name": o} for o in options or []],
                    display_order=i % 3,
                )
        trashed_total = 0
        for index in range(documents):
            org = orgs[index % len(orgs)]
            if advance is not None:
                advance(rng.randint(60_000, 3_600_000))
            doc = _new_document(fake, org, index, rng, bodies, user_id)
            _add_tags_and_activity(fake, org, doc, rng, activity_per_document, user_id)
            _add_values(org, doc, rng, user_id)
            if rng.random() < trashed_fraction:
                doc.is_deleted = True
                doc.deleted_at = fake.now()
                doc.deleted_by = user_id
                trashed_total += 1
            fake._insert(org, doc)
        return {
            "organizations": [o.id for o in orgs],
            "documents": documents,
            "trashed": trashed_total,
            "tags": tags * len(orgs),
            "custom_properties": custom_properties * len(orgs),
        }


def _new_document(
    fake: FakePapra, org, index: int, rng: random.Random, bodies: list, user_id: str
) -> Document:
    slug, title, mime, ext = KINDS[rng.randrange(len(KINDS))]
    vendor = rng.choice(VENDORS)
    year = rng.choice((2022, 2023, 2024, 2025))
    header = (
        f"{title} {vendor.upper()} {year}-{index:06d}\n"
        f"Customer reference REF-{rng.randrange(10**6):06d}\n"
        f"Total amount: {rng.randint(5, 5000)}.{rng.randrange(100):02d} EUR\n"
    )
    body_text, body_bytes = bodies[rng.randrange(len(bodies))]
    digest = hashlib.sha256(header.encode())
    digest.update(body_bytes)
    doc = Document(
        id=fake.ids.new("doc"),
        created_at=fake.now(),
        organization_id=org.id,
        created_by=user_id,
        name=f"{slug}-{vendor}-{year}-{index:06d}.{ext}",
        mime_type=mime,
        size=len(header.encode()) + len(body_bytes),
        sha256=digest.hexdigest(),
        content=(header, body_text),
    )
    if rng.random() < 0.6:
        doc.document_date = doc.created_at - rng.randint(0, 90) * 86_400_000
    if rng.random() < 0.1:
        doc.notes = f"Filed by the generator ({vendor})"
    return doc


def _add_tags_and_activity(
    fake: FakePapra, org, doc: Document, rng: random.Random, count: int, user_id: str
) -> None:
    tag_ids = list(org.tags)
    linked = rng.sample(tag_ids, k=min(len(tag_ids), rng.randint(0, 3)))
    events: list[tuple[str, dict | None, str | None, str | None]] = [
        ("created", None, user_id, None),
        ("updated", {"updatedFields": ["content"]}, None, None),
    ]
    events += [("tagged", None, user_id, t) for t in linked]
    while len(events) < count:
        events.append(("updated", {"updatedFields": ["name"]}, user_id, None))
    for event, data, actor, tag_id in events[:count]:
        doc.activities.append(
            Activity(fake.ids.new("doc_act"), fake.now(), doc.id, event, data, actor, tag_id)
        )
    for tag_id in linked:
        doc.tag_ids.append(tag_id)
        org.tags[tag_id].doc_ids.add(doc.id)


def _add_values(org, doc: Document, rng: random.Random, user_id: str) -> None:
    for cpd in org.definitions.values():
        if rng.random() < 0.5:
            continue
        kind = cpd.type
        if kind == "number":
            doc.cp_values[cpd.id] = round(rng.uniform(1, 5000), 2)
        elif kind == "text":
            doc.cp_values[cpd.id] = f"REF-{rng.randrange(10**6):06d}"
        elif kind == "date":
            doc.cp_values[cpd.id] = doc.created_at + rng.randint(1, 60) * 86_400_000
        elif kind == "boolean":
            doc.cp_values[cpd.id] = rng.random() < 0.5
        elif kind == "select":
            doc.cp_values[cpd.id] = rng.choice(cpd.options).id
        elif kind == "multi_select":
            chosen = rng.sample(cpd.options, k=rng.randint(1, len(cpd.options)))
            doc.cp_values[cpd.id] = [o.id for o in sorted(chosen, key=lambda o: o.display_order)]
        elif kind == "user_relation":
            doc.cp_values[cpd.id] = [user_id]
        elif org.all_docs.items:
            doc.cp_values[cpd.id] = [rng.choice(org.all_docs.items[-50:]).id]
