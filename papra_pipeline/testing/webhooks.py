"""Webhooks of the fake Papra: registrations, and deliveries sent the way Papra sends them.

Papra fires a webhook from the same use cases that write a document's activity, except the
restore (see ``tests/fixtures/papra-samples/webhooks/README.md``): an upload or a dedup-restore
gives ``document:created`` (and the text extraction, later, ``document:updated`` with the full
``content``), a PATCH ``document:updated`` with the patched fields, a trash
``document:deleted``, a tag link ``document:tag:added`` / ``removed``. Custom-property changes,
restores, purges and tag-deletion cascades write no activity but a restore, and send nothing.
So ``FakePapra`` hands every activity entry to :meth:`FakeWebhooks.document_event`.

Like Papra, each delivery is one attempt from a pool of 10 senders, with no retry and no
ordering; the outcome is kept in :attr:`FakeWebhooks.sent` (Papra's ``webhook_deliveries``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from papra_pipeline.testing.common import ID_ALPHABET, PapraError, iso

if TYPE_CHECKING:
    from papra_pipeline.testing.models import Document
    from papra_pipeline.testing.state import FakeState

EVENTS = (
    "document:created",
    "document:deleted",
    "document:updated",
    "document:tag:added",
    "document:tag:removed",
)
_EVENT_OF_ACTIVITY = {
    "created": "document:created",
    "updated": "document:updated",
    "deleted": "document:deleted",
    "tagged": "document:tag:added",
    "untagged": "document:tag:removed",
}
# What undici's fetch sends besides Papra's own headers (recorded deliveries).
_FETCH_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
    "accept-language": "*",
    "sec-fetch-mode": "cors",
    "user-agent": "papra-webhook-client",
    "content-type": "application/json",
}
_PATCH_FIELDS = ("name", "content", "documentDate", "notes")
SENDERS = 10  # Papra runs up to 10 deliveries at once


def webhook_not_found() -> PapraError:
    return PapraError(404, "webhooks.not_found", "Webhook not found")


@dataclass
class Hook:
    id: str
    organization_id: str
    created_by: str
    created_at: int
    name: str
    url: str
    secret: str | None
    enabled: bool
    events: dict[str, tuple[str, int]]  # event name -> (row id, created at)
    updated_at: int = 0
    last_triggered_at: int | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at or self.created_at),
            "name": self.name,
            "url": self.url,
            "enabled": self.enabled,
            "createdBy": self.created_by,
            "organizationId": self.organization_id,
        }

    def event_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "id": row_id,
                "createdAt": iso(created),
                "updatedAt": iso(created),
                "webhookId": self.id,
                "eventName": name,
            }
            for name, (row_id, created) in sorted(self.events.items())
        ]


@dataclass
class SentDelivery:
    """One delivery attempt: what was sent and what came of it (status, or the error)."""

    webhook_id: str
    url: str
    event: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class FakeWebhooks:
    """Registered webhooks per organization and the pool that delivers their events.

    ``allowed_hostnames`` is Papra's ``WEBHOOK_URL_ALLOWED_HOSTNAMES``: without it, URLs on
    private, loopback or reserved addresses are refused (400 ``webhooks.ssrf_unsafe_url``).
    ``transport`` lets tests deliver in-process; ``wall_clock`` gives Unix seconds (Papra signs
    with the real time, which receivers compare with theirs).
    """

    def __init__(self, state: FakeState, seed: int = 0) -> None:
        self._state = state
        self.hooks: dict[str, Hook] = {}
        self.allowed_hostnames: set[str] = set()
        self.ssrf_protection = True
        self.transport: httpx.BaseTransport | None = None
        self.wall_clock = time.time
        self.sent: list[SentDelivery] = []
        self._rng = random.Random(f"webhooks-{seed}")
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- management

    def _hook(self, org_id: str, webhook_id: str) -> Hook:
        hook = self.hooks.get(webhook_id)
        if hook is None or hook.organization_id != org_id:
            raise webhook_not_found()
        return hook

    def check_url(self, url: str) -> None:
        if not self.ssrf_protection:
            return
        host = (httpx.URL(url).host or "").lower()
        if host in self.allowed_hostnames:
            return
        if host in ("localhost", "localhost.") or host.endswith(".localhost"):
            unsafe = True
        else:
            try:
                address = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                return  # a name: the fake resolves nothing, so it counts as public
            unsafe = not address.is_global
        if unsafe:
            raise PapraError(
                400,
                "webhooks.ssrf_unsafe_url",
                "The provided URL is not safe to perform requests to",
            )

    def create(
        self,
        org_id: str,
        *,
        name: str,
        url: str,
        events: list[str],
        secret: str | None = None,
        enabled: bool = True,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        state = self._state
        with state.lock:
            uid = user_id or state.user_id
            state.org(org_id, uid)
            self.check_url(url)
            now = state.now()
            hook = Hook(
                id=state.ids.new("wbh"),
                organization_id=org_id,
                created_by=uid,
                created_at=now,
                name=name,
                url=url,
                secret=secret,
                enabled=enabled,
                events={e: (state.ids.new("wbh_ev"), state.now()) for e in dict.fromkeys(events)},
            )
            self.hooks[hook.id] = hook
            return hook.to_api()

    def list(self, org_id: str, *, user_id: str | None = None) -> list[dict[str, Any]]:
        state = self._state
        with state.lock:
            state.org(org_id, user_id)
            return [
                {
                    **hook.to_api(),
                    "events": hook.event_rows(),
                    "lastTriggeredAt": iso(hook.last_triggered_at),
                }
                for hook in self.hooks.values()
                if hook.organization_id == org_id
            ]

    def get(self, org_id: str, webhook_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        state = self._state
        with state.lock:
            state.org(org_id, user_id)
            hook = self._hook(org_id, webhook_id)
            return {**hook.to_api(), "events": sorted(hook.events)}

    def update(
        self, org_id: str, webhook_id: str, *, user_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """PUT: any of name, url, secret, enabled. Papra 26.6.1 answers 500 to ``events``."""
        state = self._state
        with state.lock:
            state.org(org_id, user_id)
            hook = self._hook(org_id, webhook_id)
            if "events" in fields:
                raise PapraError(500, "internal.error", "An error occurred")
            if "url" in fields:
                self.check_url(fields["url"])
            for key in ("name", "url", "secret", "enabled"):
                if key in fields:
                    setattr(hook, key, fields[key])
            return hook.to_api()

    def delete(self, org_id: str, webhook_id: str, *, user_id: str | None = None) -> None:
        state = self._state
        with state.lock:
            state.org(org_id, user_id)
            self._hook(org_id, webhook_id)
            del self.hooks[webhook_id]

    # ---------------------------------------------------------------- deliveries

    def document_event(
        self, doc: Document, activity: str, tag_id: str | None, event_data: dict | None
    ) -> None:
        """Queue the deliveries for one activity entry (called under the state lock)."""
        event = _EVENT_OF_ACTIVITY.get(activity)
        hooks = [
            h
            for h in self.hooks.values()
            if h.organization_id == doc.organization_id and h.enabled and event in h.events
        ]
        if event is None or not hooks:
            return
        data: dict[str, Any] = {"documentId": doc.id, "organizationId": doc.organization_id}
        if event == "document:created":
            created = iso(doc.created_at)
            data.update(name=doc.name, createdAt=created, updatedAt=created)
        elif event == "document:updated":
            fields = (event_data or {}).get("updatedFields") or []
            values = {
                "name": doc.name,
                "content": doc.content,
                "documentDate": iso(doc.document_date),
                "notes": doc.notes,
            }
            data.update({f: values[f] for f in _PATCH_FIELDS if f in fields})
        elif event.startswith("document:tag:"):
            tag = self._state.organizations[doc.organization_id].tags.get(tag_id or "")
            data.update(tagId=tag_id, tagName=tag.name if tag else None)
        triggered = self._state.now()
        for hook in hooks:
            hook.last_triggered_at = triggered
            self._send(hook, event, data)

    def _send(self, hook: Hook, event: str, data: dict[str, Any]) -> None:
        seconds = self.wall_clock()
        body = json.dumps(
            {"data": data, "type": event, "timestamp": iso(int(seconds * 1000))},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        delivery_id = "msg_" + "".join(self._rng.choices(ID_ALPHABET, k=24))
        headers = {**_FETCH_HEADERS, "webhook-id": delivery_id}
        headers["webhook-timestamp"] = str(int(seconds))
        if hook.secret:
            message = f"{delivery_id}.{int(seconds)}.".encode() + body
            digest = hmac.new(hook.secret.encode(), message, hashlib.sha256).digest()
            headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
        delivery = SentDelivery(hook.id, hook.url, event, headers, body)
        with self._lock:
            self.sent.append(delivery)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="fake-papra-webhook")
            self._pool.submit(self._deliver, delivery)

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    transport=self.transport,
                    timeout=10.0,
                    follow_redirects=False,  # Papra: redirect "manual"
                    limits=httpx.Limits(max_connections=SENDERS),
                )
            return self._http

    def _deliver(self, delivery: SentDelivery) -> None:
        try:
            self.check_url(delivery.url)  # Papra checks again when sending
            response = self._client().post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
            delivery.status = response.status_code
        except PapraError as exc:
            delivery.error = exc.code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        finally:
            delivery.done.set()

    def wait(self, timeout: float = 60.0) -> list[SentDelivery]:
        """Wait until every queued delivery was attempted; returns all deliveries so far."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [d for d in self.sent if not d.done.is_set()]
            if not pending:
                with self._lock:
                    return list(self.sent)
            if not pending[0].done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{len(pending)} webhook deliveries still in flight")

    def close(self) -> None:
        """Stop the senders (waiting for those in flight) and close their connections."""
        with self._lock:
            pool, http = self._pool, self._http
            self._pool = self._http = None
        if pool is not None:
            pool.shutdown(wait=True)
        if http is not None:
            http.close()
