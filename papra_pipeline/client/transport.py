"""The HTTP transport under ``PapraClient``: one cookieless httpx client, retries with
backoff, error mapping, secret scrubbing and the lazy session login.

Kept apart from the endpoint methods so that ``client.py`` reads as the list of Papra routes
and this module as the one place that decides how a request travels and when it is repeated.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, NamedTuple, TypeVar

import httpx

from papra_pipeline.settings import Settings

from .. import __version__
from ._errormap import SESSION_ENV_HINT, error_from_response, parse_retry_after, scrub
from ._routes import ROUTES, Route
from .errors import (
    PapraAuthenticationError,
    PapraConnectionError,
    PapraError,
    PapraResponseError,
    PapraSessionRequiredError,
    PapraTimeoutError,
)
from .models import JSONTooDeepError, SessionUser, decode_json

logger = logging.getLogger("papra_pipeline.client")

T = TypeVar("T")

DEFAULT_BASE_URL = Settings.api_url
DEFAULT_USER_AGENT = f"papra-pipeline/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CA_HINT = (
    "If Papra's certificate comes from a private CA, set SSL_CERT_FILE to a PEM file of the "
    "CA certificates to trust"
)
SESSION_COOKIE = "better-auth.session_token"
_NO_BODY = object()


class _Reply(NamedTuple):
    """A 2xx response and its decoded JSON (None when the route's body is not read)."""

    response: httpx.Response
    data: Any


class ClientStats:
    """Thread-safe request counters: total attempts, retries, attempts per route template."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.by_endpoint: dict[str, int] = {}

    def _record(self, endpoint: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def _record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def _reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.retries = 0
            self.by_endpoint = {}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "by_endpoint": dict(self.by_endpoint),
            }

    def __repr__(self) -> str:
        return f"ClientStats(requests={self.requests}, retries={self.retries})"


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _NoCookies(httpx.Cookies):
    """Cookies that stay empty: responses are not searched for any to keep."""

    def __init__(self) -> None:
        super().__init__(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _CookielessClient(httpx.Client):
    """An httpx client that neither keeps nor sends cookies.

    The session cookie is read from the login's Set-Cookie and sent by hand (see ``_headers``),
    so it never rides along on API-key requests. A plain client still offered every response's
    headers to its jar: ~70 µs of CPU a response on loopback, ~15% of a small request.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies


def _tls_context(url: httpx.URL) -> ssl.SSLContext | bool:
    """What the client verifies TLS with: httpx's default (certifi's bundle) for an https
    server, or when a proxy is configured (it may be an https one).

    For an http server, a context that trusts no certificate at all: httpx loads certifi's
    bundle for every client, ~20 ms of CPU (a sixth of a quick sync with nothing to do),
    although a client of an http server never speaks TLS (it follows no redirect and only
    sends paths under the base URL). Should it ever, verification fails rather than trusts.
    """
    if url.scheme == "https" or urllib.request.getproxies():
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks hostname and certificate


def _certificate_refusal(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate check behind an httpx error, if that is what it was."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _session_cookie(response: httpx.Response) -> tuple[str, str] | None:
    """Find better-auth's session cookie (``__Secure-`` prefixed on https) in Set-Cookie."""
    for header in response.headers.get_list("set-cookie"):
        pair, _, attributes = header.partition(";")
        name, sep, value = pair.partition("=")
        name = name.strip()
        if sep and name.endswith(SESSION_COOKIE) and value.strip():
            if "max-age=0" in attributes.replace(" ", "").lower():
                continue  # a logout, not a session
            return name, value.strip()
    return None


class PapraTransport:
    """How ``PapraClient`` talks to one server: connection pool, credentials, retries and the
    session. The endpoint methods build on ``_call``; ``login`` is the one public method here."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        email: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
        max_concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        allow_insecure_http: bool = False,
    ) -> None:
        url = httpx.URL(base_url.strip().rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                f"base_url must be an http(s) URL like https://papra.example.com, got {base_url!r}"
            )
        if url.userinfo or url.query:
            raise ValueError(
                "base_url must not contain credentials or a query string; "
                "pass the API key as api_key (PAPRA_API_KEY)"
            )
        if (email is None) != (password is None):
            raise ValueError(
                "give both email and password (PAPRA_EMAIL, PAPRA_PASSWORD) or neither"
            )
        if api_key is not None and not (isinstance(api_key, str) and api_key.strip()):
            raise ValueError("api_key must be a non-empty string or None")
        if max_retries < 0 or max_concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, max_concurrency >= 1 and timeout > 0")
        has_secret = api_key is not None or password is not None
        in_process = isinstance(transport, httpx.MockTransport)  # nothing leaves the process
        if (
            url.scheme == "http"
            and has_secret
            and not (allow_insecure_http or in_process)
            and not _is_loopback(url.host)
        ):
            raise ValueError(
                f"refusing to send credentials over plain http to {url.host}: anyone on the "
                "path could read the API key or password. Use https, or pass "
                "allow_insecure_http=True (PAPRA_ALLOW_INSECURE_HTTP=1) on a trusted network"
            )
        self.base_url = str(url)
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._api_key = api_key.strip() if api_key else None
        self._email = email
        self._password = password
        self._session: tuple[str, str] | None = None
        self._session_lock = threading.RLock()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self.max_concurrency = max_concurrency
        self._sleep = sleep
        self._random = random.Random()
        self.stats = ClientStats()
        # At most max_concurrency requests inside httpx at once, however many threads ask:
        # with requests queued for a connection, httpcore's pool can close a connection it has
        # just handed to one of them (encode/httpcore#1110: ReadError, bad file descriptor).
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        try:
            self._http = _CookielessClient(
                base_url=self.base_url,
                timeout=timeout,
                limits=httpx.Limits(
                    max_connections=max_concurrency, max_keepalive_connections=max_concurrency
                ),
                transport=transport,
                headers={"User-Agent": user_agent, "Accept": "application/json"},
                follow_redirects=False,
                verify=_tls_context(url),
            )
        except OSError as exc:  # ssl.SSLError is one too
            named = {v: os.environ[v] for v in ("SSL_CERT_FILE", "SSL_CERT_DIR") if v in os.environ}
            if not named:
                raise
            where = " ".join(f"{name}={value}" for name, value in named.items())
            raise ValueError(f"cannot load the CA certificates named by {where}: {exc}") from None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport core

    @property
    def _secrets(self) -> tuple[str, ...]:
        session = self._session[1] if self._session else ""
        return tuple(s for s in (self._api_key, self._password, session) if s)

    def _headers(self, route: Route, auth: str, session: tuple[str, str] | None) -> dict[str, str]:
        if auth == "key":
            if not self._api_key:
                raise PapraAuthenticationError(
                    f"{route.endpoint} needs an API key and none is configured",
                    hint="pass api_key= or set PAPRA_API_KEY",
                )
            return {"Authorization": f"Bearer {self._api_key}"}
        if auth == "session":
            assert session is not None
            return {"Cookie": f"{session[0]}={session[1]}"}
        if auth == "login":
            return {"Origin": self._origin}  # better-auth refuses logins without it (403)
        return {}

    def _send(
        self,
        route: Route,
        path: str,
        *,
        auth: str,
        query: Mapping[str, str] | None = None,
        json_body: Any = _NO_BODY,
        files: Any = None,
        stream: bool = False,
        session: tuple[str, str] | None = None,
        may_retry: bool = True,
        rewind: Callable[[], None] | None = None,
    ) -> _Reply:
        """Send with retries and return a 2xx response (open if ``stream``), else raise.

        Retried: connection failures, timeouts, 408/500/502/503/504 when the route is safe to
        repeat; 429 and refused connections always (the server did nothing). A retry waits
        ``Retry-After``/``x-retry-after`` (capped) or a full-jitter exponential backoff.
        """
        headers = self._headers(route, auth, session)
        attempt = 0
        while True:
            attempt += 1
            if rewind is not None and attempt > 1:
                rewind()
            self.stats._record(route.endpoint)
            started = time.perf_counter()
            response: httpx.Response | None = None
            try:
                request = self._http.build_request(
                    route.method,
                    path,
                    params=query or None,  # an empty mapping still costs httpx a URL parse
                    headers=headers,
                    files=files,
                    json=None if json_body is _NO_BODY else json_body,
                )
                with self._in_flight:
                    response = self._http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                error: PapraError = PapraTimeoutError(
                    f"no answer within {self.timeout:g} s ({type(exc).__name__})",
                    method=route.method,
                    path=path,
                )
                nothing_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                retryable = route.idempotent or nothing_sent
            except httpx.TransportError as exc:
                refusal = _certificate_refusal(exc)
                if refusal is not None:
                    error = PapraConnectionError(
                        f"the TLS certificate of {self._origin} is not trusted "
                        f"({refusal.verify_message})",
                        method=route.method,
                        path=path,
                        hint=CA_HINT,
                    )
                    retryable = False  # the same certificate answers every retry
                else:
                    error = PapraConnectionError(
                        f"could not talk to Papra at {self.base_url} ({type(exc).__name__}: "
                        f"{scrub(str(exc), self._secrets)[:200]})",
                        method=route.method,
                        path=path,
                    )
                    retryable = route.idempotent or isinstance(exc, httpx.ConnectError)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response is not None:
                logger.debug(
                    "%s -> %s in %.1f ms", route.endpoint, response.status_code, elapsed_ms
                )
                if response.is_success:
                    if stream or route.parse is None:
                        return _Reply(response, None)
                    try:
                        return _Reply(response, self._decode(response, route, path))
                    except PapraResponseError as exc:
                        error = exc
                    retryable = route.method == "GET"  # a truncated body: read again
                else:
                    if stream:
                        response.read()
                        response.close()
                    error = error_from_response(
                        status=response.status_code,
                        headers=response.headers,
                        content=response.content,
                        method=route.method,
                        path=path,
                        auth=auth,
                        secrets=self._secrets,
                    )
                    retryable = response.status_code == 429 or (
                        response.status_code in RETRY_STATUSES and route.idempotent
                    )
            else:
                logger.debug(
                    "%s -> %s after %.1f ms", route.endpoint, type(error).__name__, elapsed_ms
                )
            if not (retryable and may_retry) or attempt > self.max_retries:
                raise error
            delay = self._delay(attempt, response)
            self.stats._record_retry()
            logger.warning(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                route.endpoint,
                delay,
                attempt + 1,
                self.max_retries + 1,
                error,
            )
            self._sleep(delay)

    def _decode(self, response: httpx.Response, route: Route, path: str) -> Any:
        try:
            return decode_json(response.content)
        except JSONTooDeepError as exc:
            raise PapraResponseError(
                f"{exc} ({len(response.content)} bytes)",
                method=route.method,
                path=path,
                status=response.status_code,
            ) from None
        except ValueError:
            excerpt = scrub(response.content[:200].decode("utf-8", "replace"), self._secrets)
            raise PapraResponseError(
                f"expected JSON, got {len(response.content)} bytes of "
                f"{response.headers.get('content-type') or 'unknown type'}: {excerpt!r}",
                method=route.method,
                path=path,
                status=response.status_code,
            ) from None

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        hinted = parse_retry_after(response.headers) if response is not None else None
        if hinted is not None:
            return min(hinted, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)

    def _parse(
        self, route: Route, path: str, reply: _Reply, query: Mapping[str, str] | None = None
    ) -> Any:
        """Run the route's parser, or return None for routes whose body carries nothing."""
        if route.parse is None:
            return None
        try:
            return route.parse(reply.data, query or {})
        except PapraResponseError as exc:
            exc.method, exc.path, exc.status = route.method, path, reply.response.status_code
            raise

    def _call(
        self,
        name: str,
        *ids: str,
        query: Mapping[str, Any] | None = None,
        json_body: Any = _NO_BODY,
        auth: str | None = None,
        **send: Any,
    ) -> Any:
        """Send one request to a named route and return its parsed body (None if it has none)."""
        route = ROUTES[name]
        path = route.path(*ids)
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if route.auth == "session" and auth is None:
            return self._with_session(
                lambda session: self._parse(
                    route,
                    path,
                    self._send(
                        route,
                        path,
                        auth="session",
                        session=session,
                        query=params,
                        json_body=json_body,
                        **send,
                    ),
                    params,
                )
            )
        reply = self._send(
            route, path, auth=auth or route.auth, query=params, json_body=json_body, **send
        )
        return self._parse(route, path, reply, params)

    # ------------------------------------------------------------------ session

    @property
    def _has_login(self) -> bool:
        return self._email is not None and self._password is not None

    def login(self) -> SessionUser:
        """Log in with email/password and keep the session cookie (never logged or shown)."""
        if not self._has_login:
            raise PapraSessionRequiredError(
                "no email/password configured for a session login", hint=SESSION_ENV_HINT
            )
        route = ROUTES["login"]
        with self._session_lock:
            reply = self._send(
                route,
                route.path(),
                auth="login",
                json_body={"email": self._email, "password": self._password},
            )
            cookie = _session_cookie(reply.response)
            if cookie is None:
                raise PapraResponseError(
                    f"login answered without a {SESSION_COOKIE} cookie",
                    method=route.method,
                    path=route.template,
                    status=reply.response.status_code,
                )
            self._session = cookie
        return self._parse(route, route.template, reply)

    def _with_session(self, send: Callable[[tuple[str, str]], T]) -> T:
        """Run ``send`` with a session, logging in lazily, and once more after a 401."""
        with self._session_lock:
            if self._session is None:
                self.login()
            session = self._session
        assert session is not None
        try:
            return send(session)
        except PapraAuthenticationError:
            with self._session_lock:
                if self._session == session:  # nobody refreshed it meanwhile
                    self._session = None
                    logger.info("session rejected, logging in again")
                    self.login()
                session = self._session
            assert session is not None
            return send(session)
