"""Papra webhooks: managing them (session only) and reading the deliveries Papra sends.

Papra signs each delivery like Standard Webhooks but with its own key rule (section 9 of the API
notes): ``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key = the secret's UTF-8 bytes,
message = webhook-id + "." + webhook-timestamp + "." + raw body)). It makes one attempt per
delivery, without retry or ordering, and sends nothing for restores, purges, custom-property
changes or tag-deletion cascades: a delivery is a hint naming a document to re-read, never
the record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _checks as check
from .errors import PapraResponseError
from .models import JSONTooDeepError, _get, _obj, _ts, decode_json, parse_timestamp

WEBHOOK_EVENTS = (
    "document:created",
    "document:deleted",
    "document:updated",
    "document:tag:added",
    "document:tag:removed",
)
"""Every event Papra can deliver (``packages/webhooks/src/webhooks.constants.ts``)."""

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
"""How far a delivery's ``webhook-timestamp`` may be from now; Papra itself checks nothing."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as Papra answers it; the secret is never sent back.

    ``events`` is ``None`` in create and update answers, which omit it; the list sends event
    rows and the single GET sends names, both read here as names.
    """

    id: str
    organization_id: str
    name: str
    url: str
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    events: tuple[str, ...] | None
    last_triggered_at: datetime | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Webhook:
        m = "Webhook"
        _obj(data, m)
        events = data.get("events")
        names: tuple[str, ...] | None = None
        if events is not None:
            if not isinstance(events, list):
                raise PapraResponseError(f"{m}: field 'events' is not a list")
            names = tuple(
                _get(_obj(e, "Webhook event"), "eventName", "Webhook event", str)
                if isinstance(e, dict)
                else _event_name(e, m)
                for e in events
            )
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str),
            url=_get(data, "url", m, str),
            enabled=_get(data, "enabled", m, bool),
            created_by=_get(data, "createdBy", m, str, required=False),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            events=names,
            last_triggered_at=_ts(data, "lastTriggeredAt", m, required=False),
            raw=data,
        )


def _event_name(value: Any, model: str) -> str:
    if not isinstance(value, str):
        raise PapraResponseError(f"{model}: an event is {type(value).__name__}, expected string")
    return value


def check_webhook_fields(
    *,
    name: str | None,
    url: str | None,
    secret: str | None,
    events: Sequence[str] | None,
) -> dict[str, Any]:
    """The JSON body of a create or update, checked against Papra's schema first."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = check.text(name, "webhook name", min_len=1, max_len=128)
    if url is not None:
        body["url"] = check.text(url, "webhook url", min_len=1, max_len=2048)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be an http(s) URL, got {url!r}")
    if secret is not None:
        body["secret"] = check.text(secret, "webhook secret", min_len=1, max_len=256)
    if events is not None:
        if isinstance(events, str) or not events:
            raise ValueError("events must be a non-empty list of event names")
        for event in events:
            check.choice(event, "event", WEBHOOK_EVENTS)
        body["events"] = list(dict.fromkeys(events))
    return body


class WebhookMethods:
    """The webhook routes, mixed into ``PapraClient`` (which provides ``_call``). Papra serves
    them only to a logged-in session (``PAPRA_EMAIL``/``PAPRA_PASSWORD``) and answers 401 to
    every API key."""

    def list_webhooks(self, org_id: str) -> tuple[Webhook, ...]:
        return self._call("list_webhooks", org_id)

    def get_webhook(self, org_id: str, webhook_id: str) -> Webhook:
        return self._call("get_webhook", org_id, webhook_id)

    def create_webhook(
        self,
        org_id: str,
        *,
        name: str,
        url: str,
        secret: str | None = None,
        events: Sequence[str] = WEBHOOK_EVENTS,
        enabled: bool = True,
    ) -> Webhook:
        """Create a webhook; Papra refuses a URL resolving to a private or loopback address
        (``PapraUnsafeWebhookUrlError``) unless its host is in WEBHOOK_URL_ALLOWED_HOSTNAMES."""
        body = check_webhook_fields(name=name, url=url, secret=secret, events=events)
        body["enabled"] = bool(enabled)
        return self._call("create_webhook", org_id, json_body=body)

    def update_webhook(
        self,
        org_id: str,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        secret: str | None = None,
        enabled: bool | None = None,
        events: Sequence[str] | None = None,
    ) -> Webhook:
        """Change the given fields (``None`` leaves one as it is).

        Papra 26.6.1 answers 500 to an update that carries ``events``; to change them, delete
        the webhook and create it again.
        """
        body = check_webhook_fields(name=name, url=url, secret=secret, events=events)
        if enabled is not None:
            body["enabled"] = bool(enabled)
        if not body:
            raise ValueError("update_webhook needs at least one field to change")
        return self._call("update_webhook", org_id, webhook_id, json_body=body)

    def delete_webhook(self, org_id: str, webhook_id: str) -> None:
        self._call("delete_webhook", org_id, webhook_id)


# ---------------------------------------------------------------------------- deliveries


class InvalidDeliveryError(ValueError):
    """A request to the receiver that is not a genuine, fresh, well-formed Papra delivery.

    ``status`` is what the receiver answers: 401 for a missing or wrong signature or a stale
    timestamp (nothing about the request can be trusted), 400 for a signed but unusable body.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery: which document changed, how, and when Papra sent it."""

    id: str  # webhook-id, new for every delivery
    timestamp: int  # webhook-timestamp, Unix seconds
    event: str
    document_id: str
    organization_id: str
    occurred_at: datetime  # the body's ISO timestamp
    data: dict = field(repr=False, compare=False)
    body: bytes = field(repr=False, compare=False)


def signature(secret: str, delivery_id: str, timestamp: str | int, body: bytes) -> str:
    """The ``webhook-signature`` header Papra sends for this delivery."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_matches(
    secret: str, delivery_id: str, timestamp: str, body: bytes, header: str
) -> bool:
    """Whether any ``v1,`` signature in ``header`` (space-separated, as Standard Webhooks
    allows during secret rotation) signs this delivery; compared in constant time."""
    expected = signature(secret, delivery_id, timestamp, body).partition(",")[2].encode()
    found = False
    for candidate in header.split():
        version, _, value = candidate.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early exit: every candidate costs the same comparison.
        found |= hmac.compare_digest(value.encode(), expected)
    return found


def parse_delivery(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> Delivery:
    """Verify and read one delivery, or raise ``InvalidDeliveryError`` saying why.

    The signature is checked before anything else, so an unsigned request is never parsed;
    then the timestamp (a captured delivery replayed later is refused), then the body.
    ``headers`` may use any case (an ``httpx.Headers`` or Starlette's work as they are).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    delivery_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    header = lowered.get("webhook-signature", "")
    if not (delivery_id and timestamp and header):
        raise InvalidDeliveryError(
            401, "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    if not signature_matches(secret, delivery_id, timestamp, body, header):
        raise InvalidDeliveryError(401, "signature does not match (wrong secret or altered body)")
    # Digits only, and few: int() of 4,300 digits works, but the float arithmetic below fails.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidDeliveryError(401, "webhook-timestamp is not Unix seconds")
    sent = int(timestamp)
    skew = (time.time() if now is None else now) - sent
    if abs(skew) > tolerance_seconds:
        raise InvalidDeliveryError(
            401,
            f"webhook-timestamp is {abs(skew):.0f} s {'old' if skew > 0 else 'ahead'} "
            f"(more than {tolerance_seconds} s): a replay, or a clock out of step",
        )
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidDeliveryError(
            400, f"content-type must be application/json, got {content_type!r}"
        )
    try:
        payload = decode_json(body)
    except JSONTooDeepError:
        raise InvalidDeliveryError(400, "body is JSON nested too deep") from None
    except ValueError:
        raise InvalidDeliveryError(400, "body is not JSON") from None
    return _read_payload(payload, delivery_id, sent, body)


def _read_payload(payload: Any, delivery_id: str, sent: int, body: bytes) -> Delivery:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise InvalidDeliveryError(400, "body must be an object with a 'data' object")
    event = payload.get("type")
    if event not in WEBHOOK_EVENTS:
        raise InvalidDeliveryError(400, f"unknown event type {str(event)[:60]!r}")
    data = payload["data"]
    ids = [data.get(key) for key in ("documentId", "organizationId")]
    if not all(isinstance(value, str) and value for value in ids):
        raise InvalidDeliveryError(400, "data must name a documentId and an organizationId")
    if not all(_is_unicode(value) for value in ids):  # JSON allows an escaped lone surrogate
        raise InvalidDeliveryError(400, "documentId or organizationId is not valid Unicode")
    try:
        occurred_at = parse_timestamp(payload.get("timestamp"), "Delivery", "timestamp")
    except PapraResponseError:
        raise InvalidDeliveryError(400, "body timestamp is not an ISO date") from None
    return Delivery(delivery_id, sent, event, ids[0], ids[1], occurred_at, data, body)


def _is_unicode(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
