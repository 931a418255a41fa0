"""Fault injection: make chosen requests fail the way networks, proxies and servers do.

A fault is chosen *before* the request reaches the fake's state, so a faulted request
changes nothing (``slow`` is the exception: it only delays a normal answer, and ``truncate``
only applies to GETs, which change nothing either).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

FAULT_KINDS = ("429", "500", "502", "503", "slow", "drop", "timeout", "truncate", "proxy_html")

PROXY_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    '<form method="post" action="/oauth2/sign_in"><h1>Please sign in</h1>'
    '<input name="username"><input name="password" type="password">'
    "<button>Sign in</button></form></body></html>"
)


class DropConnection(Exception):
    """Raised by the fake to ask the loopback server to close the socket unanswered."""


class HangConnection(Exception):
    """Raised by the fake to ask the loopback server to hang, then close unanswered."""


@dataclass
class FaultRule:
    kind: str
    probability: float | None = None
    on_requests: frozenset[int] = frozenset()
    route: str | None = None
    times: int | None = None
    retry_after: int = 1
    delay: float = 0.2
    status: int = 200
    seen: int = 0
    fired: int = 0

    def matches_route(self, method: str, route: str | None) -> bool:
        if self.kind == "truncate" and method != "GET":
            return False
        if self.route is None:
            return True
        if route is None:
            return False
        return self.route == route if " " in self.route else route.split(" ", 1)[1] == self.route


class Faults:
    """Registry of fault rules for one fake (``fake.faults``)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        #: Injected fault counts by kind.
        self.injected: Counter[str] = Counter()
        #: How long a loopback "timeout" keeps the socket open before closing it.
        self.hang_seconds = 5.0

    def add(
        self,
        kind: str,
        *,
        probability: float | None = None,
        on_requests: Iterable[int] | None = None,
        route: str | None = None,
        times: int | None = None,
        retry_after: int = 1,
        delay: float = 0.2,
        status: int = 200,
    ) -> FaultRule:
        """Inject ``kind`` on matching requests.

        ``route`` is a route template (``"GET /api/organizations/{org}/documents"`` or just
        the path part); ``on_requests`` lists 1-based positions among matching requests;
        ``probability`` draws from the seeded RNG; with neither, every match is faulted.
        ``times`` caps the number of injections. ``retry_after`` is the 429 Retry-After,
        ``delay`` the ``slow`` delay and ``status`` the ``proxy_html`` status (200 or 502).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        rule = FaultRule(
            kind,
            probability,
            frozenset(on_requests or ()),
            route,
            times,
            retry_after,
            delay,
            status,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.injected.clear()

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def pick(self, method: str, route: str | None) -> FaultRule | None:
        """The first rule that fires for this request; every matching rule counts it."""
        chosen = None
        with self._lock:
            for rule in self.rules:
                if not rule.matches_route(method, route):
                    continue
                rule.seen += 1
                if chosen is not None or (rule.times is not None and rule.fired >= rule.times):
                    continue
                if rule.on_requests:
                    fire = rule.seen in rule.on_requests
                elif rule.probability is not None:
                    fire = self._rng.random() < rule.probability
                else:
                    fire = True
                if fire:
                    rule.fired += 1
                    self.injected[rule.kind] += 1
                    chosen = rule
        return chosen


def fault_response(rule: FaultRule) -> httpx.Response:
    """The canned response of a status-type fault (429/500/502/503/proxy_html)."""
    if rule.kind == "429":
        body = b'{"error":{"message":"Too many requests","code":"server.too_many_requests"}}'
        return httpx.Response(
            429,
            content=body,
            headers={"content-type": "application/json", "retry-after": str(rule.retry_after)},
        )
    if rule.kind == "500":
        body = b'{"error":{"message":"An error occurred","code":"internal.error"}}'
        return httpx.Response(500, content=body, headers={"content-type": "application/json"})
    if rule.kind in ("502", "503"):
        title = "502 Bad Gateway" if rule.kind == "502" else "503 Service Temporarily Unavailable"
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return httpx.Response(
            int(rule.kind), content=html.encode(), headers={"content-type": "text/html"}
        )
    return httpx.Response(
        rule.status,
        content=PROXY_LOGIN_PAGE.encode(),
        headers={"content-type": "text/html; charset=utf-8"},
    )


def truncate(response: httpx.Response) -> httpx.Response:
    """Same status and headers, body cut in half (what a dropped proxy stream looks like)."""
    body = response.content
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return httpx.Response(response.status_code, content=body[: len(body) // 2], headers=headers)
