"""Shared helpers: recorded Papra samples, scripted transports and a client that never sleeps."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from papra_pipeline.client import PapraClient

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "papra-samples"
BASE_URL = "https://papra.test"
API_KEY = "ppapi_" + "Zx9Qw3Er" * 8  # well-formed: ppapi_ + 64 alphanumerics
EMAIL = "tester@example.com"
PASSWORD = "s3cret-Passw0rd!"
SESSION_TOKEN = "sessTOKENabc123.SiGnAtUrE%2Bxyz"
ORG = "org_mgwoeaj6mn7k4lwismqot9bg"
DOC = "doc_v32ge7ufsqyyhcmcm3j6fqo7"

# Headers describing the recorded body; the replayed body is re-encoded, so its length differs.
_DROP_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


def load_sample(name: str) -> dict[str, Any]:
    """Load a recorded response by file name, with or without the ``.json`` suffix."""
    path = SAMPLES_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.exists():
        matches = sorted(SAMPLES_DIR.glob(f"{name}*.json"))
        assert len(matches) == 1, f"sample {name!r} matches {matches}"
        path = matches[0]
    return json.loads(path.read_text(encoding="utf-8"))


def binary_body(body: dict[str, Any]) -> bytes:
    """Rebuild a binary body of the recorded length from its stored base64 prefix."""
    prefix = base64.b64decode(body["base64_prefix"])
    return prefix + b"\0" * (body["length"] - len(prefix))


def sample_response(sample: dict[str, Any]) -> httpx.Response:
    """An httpx response carrying a sample's status, headers and body."""
    headers = {k: v for k, v in sample["headers"].items() if k.lower() not in _DROP_HEADERS}
    body = sample["body"]
    if body is None:
        content = b""
    elif isinstance(body, dict) and body.get("_binary"):
        content = binary_body(body)
    else:
        content = json.dumps(body).encode()
    return httpx.Response(sample["status"], headers=headers, content=content)


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request.

    Each step is an ``httpx.Response``, an exception to raise, or a callable taking the
    request. Running out of steps fails the test: no request goes unanticipated.
    """

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(request)
        return step


class Replay:
    """Answer each request with the first listed sample recorded for the same method and path."""

    def __init__(self, *names: str) -> None:
        self.samples = [load_sample(n) for n in names]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for sample in self.samples:
            req = sample["request"]
            if req["method"] == request.method and req["path"] == request.url.path:
                self.samples.remove(sample)
                return sample_response(sample)
        raise AssertionError(f"no sample left for {request.method} {request.url.path}")


def no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, got {request.method} {request.url}")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Callable[..., PapraClient]:
    """Build a client over a handler; sleeps are recorded instead of slept."""
    clients: list[PapraClient] = []

    def build(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> PapraClient:
        kwargs.setdefault("api_key", API_KEY)
        client = PapraClient(
            BASE_URL, transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)
