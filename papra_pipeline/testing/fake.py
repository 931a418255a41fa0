"""``FakePapra``: the stateful fake server as one object (state + HTTP handler + tooling)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from papra_pipeline.testing import app
from papra_pipeline.testing import webhook_routes as _webhook_routes  # noqa: F401 (registers routes)
from papra_pipeline.testing.common import ClockFn
from papra_pipeline.testing.faults import (
    DropConnection,
    Faults,
    HangConnection,
    fault_response,
    truncate,
)
from papra_pipeline.testing.models import Document
from papra_pipeline.testing.state import FakeState
from papra_pipeline.testing.webhooks import FakeWebhooks


@dataclass
class RequestRecord:
    """One request as seen by the fake; ``status`` is None until answered (or if dropped)."""

    method: str
    path: str
    route: str | None
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    fault: str | None = None


Hook = Callable[[RequestRecord], None]


class FakePapra(FakeState):
    """A faithful in-memory Papra server for tests, the demo and benchmarks.

    Use ``handle`` (an ``httpx`` handler), ``transport()`` for an in-process client, or
    ``papra_pipeline.testing.serve`` for real HTTP on loopback. ``auto_extract=True`` makes
    pending content extractions finish before the next request, like a fast real server.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: ClockFn | None = None,
        email: str = "tester@example.com",
        password: str = "fake-password",
        user_name: str = "Test User",
        auto_extract: bool = False,
    ) -> None:
        super().__init__(
            seed=seed, clock=clock, email=email, password=password, user_name=user_name
        )
        self.auto_extract = auto_extract
        self.faults = Faults(seed)
        self.requests: list[RequestRecord] = []
        self._hooks: list[Hook] = []
        self._limiter = app.SignInLimiter()
        #: Set by ``serve``: an in-process "timeout" raises, a loopback one hangs.
        self.loopback = False
        #: Registered webhooks and their deliveries (none are sent until one is registered).
        self.webhooks = FakeWebhooks(self, seed)

    def _log(
        self,
        doc: Document,
        event: str,
        user_id: str | None,
        *,
        tag_id: str | None = None,
        event_data: dict | None = None,
    ) -> None:
        """Papra fires its webhooks from the use cases that write activity (all but restore)."""
        super()._log(doc, event, user_id, tag_id=tag_id, event_data=event_data)
        self.webhooks.document_event(doc, event, tag_id, event_data)

    def transport(self) -> httpx.BaseTransport:
        return httpx.MockTransport(self.handle)

    def add_hook(self, fn: Hook) -> None:
        """Run ``fn(record)`` before each request is handled (and before faults apply)."""
        self._hooks.append(fn)

    def clear_hooks(self) -> None:
        self._hooks.clear()

    def request_count(self, route_template: str | None = None) -> int:
        with self.lock:
            if route_template is None:
                return len(self.requests)
            return sum(1 for r in self.requests if r.route == route_template)

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        route, _ = app.match_route(request.method, request.url.path)
        record = RequestRecord(
            request.method,
            request.url.path,
            route.key if route else None,
            dict(request.url.params.items()),
        )
        with self.lock:
            self.requests.append(record)
        for hook in list(self._hooks):
            hook(record)
        rule = self.faults.pick(request.method, record.route)
        if rule is not None:
            record.fault = rule.kind
            if rule.kind == "slow":
                time.sleep(rule.delay)
            elif rule.kind == "drop":
                if self.loopback:
                    raise DropConnection()
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            elif rule.kind == "timeout":
                if self.loopback:
                    raise HangConnection()
                raise httpx.ReadTimeout("Injected read timeout", request=request)
            elif rule.kind != "truncate":
                response = fault_response(rule)
                record.status = response.status_code
                return response
        request.read()
        with self.lock:
            if self.auto_extract and self.has_pending_extraction():
                self.extract_pending()
            response = app.respond(self, self._limiter, request)
        if rule is not None and rule.kind == "truncate":
            response = truncate(response)
        record.status = response.status_code
        return response
