"""Replay every recorded Papra response against the fake and compare status and shapes.

The samples were recorded as one script against a real server. We walk them in INDEX
order against a single fake, translating recorded ids (org_, doc_, tag_, cpd_, cpso_, tr_,
usr_, ak_...) to the fake's ids, learned from earlier responses. The fake runs with
``auto_extract`` so content extraction has finished before the next request, as it had on
the real server. For each sample we require the same status, the same body shape
(keys and JSON types, recursively), identical error bodies and matching content type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from papra_pipeline.testing import PERMISSIONS, FakePapra

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "papra-samples"
BASE_URL = "http://papra.test"
ID_RE = re.compile(r"^([a-z]+(?:_[a-z]+)*)_[a-z0-9]{24}$")
UNKNOWN_KEY = "ppapi_" + "A" * 64

SKIPPED = {
    "001_auth_sign_up_email.json": "the fake starts with its default user; no sign-up route",
    "243_rate_limit_probe.json": "note file with aggregate counts; test_sign_in_rate_limit "
    "covers the limiter",
    "249_documents_upload_no_filename.json": "the real server hangs until its 5 min timeout "
    "(status None); the fake answers 504 api.timeout at once",
    "251_malformed_upload_crash_report.json": "note file: the real server process died",
    "287_rate_limit_probe_with_x_forwarded_for.json": "note file with aggregate counts; "
    "test_sign_in_rate_limit covers it",
    **{
        name: "recorded later, on an organization the script above never creates; "
        "test_extended_year_dates_are_emitted_as_papra_does replays it"
        for name in (
            "300_documents_patch_date_five_digit_year.json",
            "301_custom_property_set_date_year_zero.json",
            "302_documents_get_extended_year_dates.json",
            "303_documents_list_item_extended_year_dates.json",
            "304_documents_patch_date_negative_year.json",
            "305_custom_property_set_date_as_number.json",
            "306_documents_get_negative_year_and_numeric_date.json",
        )
    },
}
EXTENDED_YEAR_SAMPLES = sorted(n for n in SKIPPED if n[:3].isdigit() and 300 <= int(n[:3]) <= 306)
#: Uploads whose bytes must equal an earlier upload's (dedup behaviour is being recorded).
SAME_BYTES_AS = {"notes-copy.txt": "notes.txt", "data-again.json": "data.json"}


def _key_role(name: str) -> str:
    """Which API key a key-auth sample used (tokens are redacted in the recordings)."""
    if "limited" in name:
        return "limited"
    if "unknown_wellformed" in name:
        return "unknown"
    if "throwaway" in name or "deleted_key" in name:
        return "throwaway"
    if "other_users" in name:
        return "other"
    return "main"


def _load() -> list[tuple[str, dict]]:
    names = [line.split("\t")[0] for line in (SAMPLES / "INDEX.tsv").read_text().splitlines()[1:]]
    return [(n, json.loads((SAMPLES / n).read_text())) for n in names if n]


def _texts(samples: list[tuple[str, dict]]) -> dict[str, str]:
    """First extracted text recorded for each file name; it becomes the uploaded bytes."""
    texts: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("content") and "originalName" in node:
                texts.setdefault(node["originalName"], node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _, sample in samples:
        walk(sample.get("body"))
    return texts


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_diff(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences in keys and JSON types; list elements may match in any order."""
    if _json_type(expected) != _json_type(actual):
        return [f"{path}: expected {_json_type(expected)}, got {_json_type(actual)}"]
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            return [f"{path}: keys differ: expected {sorted(expected)}, got {sorted(actual)}"]
        return [d for k in expected for d in shape_diff(expected[k], actual[k], f"{path}.{k}")]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        pairwise = [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                    for d in shape_diff(e, a, f"{path}[{i}]")]
        if not pairwise:
            return []
        remaining = list(actual)
        for i, item in enumerate(expected):
            match = next((a for a in remaining if not shape_diff(item, a)), None)
            if match is None:
                return [f"{path}[{i}]: no item of that shape"] + pairwise[:3]
            remaining.remove(match)
    return []


class Replayer:
    def __init__(self, samples: list[tuple[str, dict]]) -> None:
        self.fake = FakePapra(seed=7, auto_extract=True)
        default_key = self.fake.api_key_for_token(self.fake.api_key)
        self.fake.delete_api_key(default_key.id)  # the recording starts with no key
        other = self.fake.create_user("Other User", "other@example.com", "other-password")
        self.keys = {
            "unknown": UNKNOWN_KEY,
            "other": self.fake.create_api_key(PERMISSIONS, user_id=other["id"]),
        }
        self.ids: dict[str, str] = {}
        self.cookie: str | None = None
        self.texts = _texts(samples)
        self.client = httpx.Client(transport=self.fake.transport(), base_url=BASE_URL)

    def translate(self, value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"[a-z_]+_[a-z0-9]{24}", lambda m: self.ids.get(m[0], m[0]), value)
        if isinstance(value, list):
            return [self.translate(v) for v in value]
        if isinstance(value, dict):
            return {k: self.translate(v) for k, v in value.items()}
        return value

    def learn(self, recorded: Any, actual: Any) -> None:
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for key in recorded.keys() & actual.keys():
                self.learn(recorded[key], actual[key])
        elif isinstance(recorded, list) and isinstance(actual, list):
            for r, a in zip(recorded, actual, strict=False):
                self.learn(r, a)
        elif isinstance(recorded, str) and isinstance(actual, str):
            rm, am = ID_RE.match(recorded), ID_RE.match(actual)
            if rm and am and rm[1] == am[1]:
                self.ids.setdefault(recorded, actual)

    def file_bytes(self, filename: str) -> bytes:
        source = SAME_BYTES_AS.get(filename, filename)
        return self.texts.get(source, f"placeholder text for upload {source}\n").encode()

    def multipart(self, files: dict) -> tuple[bytes, str]:
        boundary = "fakepapraboundary"
        chunks = []
        for field, (filename, content_type) in files.items():
            if filename is None:
                head = f'Content-Disposition: form-data; name="{field}"\r\n\r\n'
                chunks.append(f"--{boundary}\r\n{head}eng\r\n".encode())
                continue
            head = f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            if content_type:
                head += f"Content-Type: {content_type}\r\n"
            chunks.append(f"--{boundary}\r\n{head}\r\n".encode() + self.file_bytes(filename)
                          + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        return b"".join(chunks), f"multipart/form-data; boundary={boundary}"

    def send(self, name: str, sample: dict) -> httpx.Response:
        req = sample["request"]
        headers = dict(req.get("headers") or {})
        if req["auth"] == "key":
            headers["Authorization"] = f"Bearer {self.keys[_key_role(name)]}"
        elif req["auth"] == "session" and self.cookie:
            headers["Cookie"] = f"better-auth.session_token={self.cookie}"
        kwargs: dict[str, Any] = {"params": self.translate(req.get("query") or {})}
        if "json" in req:
            body = self.translate(req["json"])
            if req["path"] == "/api/auth/sign-in/email":
                body["password"] = self.fake.password
                headers["Origin"] = BASE_URL
            kwargs["json"] = body
        elif "form" in req:
            kwargs["data"] = req["form"]
        elif "multipart_files" in req:
            kwargs["content"], headers["Content-Type"] = self.multipart(req["multipart_files"])
        elif "raw_body" in req:
            kwargs["content"] = req["raw_body"].encode()
        return self.client.request(
            req["method"], self.translate(req["path"]), headers=headers, **kwargs
        )

    def after(self, name: str, sample: dict, response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            self.learn(sample["body"], body)
            if isinstance(body, dict) and "token" in body and "apiKey" in body:
                role = {"005": "main", "006": "limited", "278": "throwaway"}[name[:3]]
                self.keys[role] = body["token"]
            if name.startswith("002_"):
                self.cookie = response.cookies.get("better-auth.session_token")
        self.client.cookies.clear()  # sessions are sent explicitly, only where recorded


def compare(sample: dict, response: httpx.Response) -> list[str]:
    problems = []
    if response.status_code != sample["status"]:
        problems.append(f"status: expected {sample['status']}, got {response.status_code}")
    expected_type = sample["headers"].get("content-type", "").split(";")[0]
    actual_type = response.headers.get("content-type", "").split(";")[0]
    if expected_type != actual_type:
        problems.append(f"content-type: expected {expected_type!r}, got {actual_type!r}")
    expected = sample["body"]
    if isinstance(expected, dict) and expected.get("_binary"):
        disposition = sample["headers"].get("content-disposition")
        if response.headers.get("content-disposition") != disposition:
            problems.append("content-disposition differs")
        return problems
    if ("no-store" in sample["headers"].get("cache-control", "")) != (
        "no-store" in response.headers.get("cache-control", "")
    ):
        problems.append("cache-control: no-store presence differs")
    actual = response.json() if response.content else None
    if sample["status"] >= 400:
        if actual != expected:
            problems.append(f"error body: expected {expected}, got {actual}")
    else:
        problems += shape_diff(expected, actual)
    return problems


@pytest.fixture(scope="module")
def replay() -> dict[str, list[str]]:
    samples = _load()
    replayer = Replayer(samples)
    results: dict[str, list[str]] = {}
    for name, sample in samples:
        if name in SKIPPED:
            continue
        response = replayer.send(name, sample)
        results[name] = compare(sample, response)
        replayer.after(name, sample, response)
    return results


ALL_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample(name: str, replay: dict[str, list[str]]) -> None:
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    assert name in replay, "sample missing from INDEX.tsv"
    assert replay[name] == []


def test_most_samples_are_replayed(replay: dict[str, list[str]]) -> None:
    assert len(ALL_SAMPLES) == 300
    assert len(replay) == len(ALL_SAMPLES) - len(SKIPPED) >= 285


def test_extended_year_dates_are_emitted_as_papra_does():
    """Samples 300-306, replayed in order on a document with the same custom properties: the
    fake takes the same inputs (a five-digit year, year 0, a negative year, a date given as a
    number) and answers with the same shapes and the very same date strings."""
    fake = FakePapra(seed=3, auto_extract=True)
    org = fake.create_organization("Dates")["id"]
    recorded = next(s for n, s in _load() if n.startswith("306_"))["body"]["document"]
    doc = fake.upload_document(org, recorded["name"], recorded["content"], extract=True)
    for tag in recorded["tags"]:
        created = fake.create_tag(org, tag["name"], tag["color"], tag["description"])
        fake.tag_document(org, doc["id"], created["id"])
    for prop in recorded["customProperties"]:
        options = [o["name"] for o in prop["value"]] if prop["type"] == "multi_select" else None
        created = fake.create_custom_property(org, prop["name"], prop["type"], options)
        if options:
            option_ids = [o["id"] for o in created["options"]]
            fake.set_custom_property_value(org, doc["id"], created["id"], option_ids)
    due = next(d for d in fake.list_custom_properties(org) if d["key"] == "duedate")
    recorded_ids = {
        recorded["organizationId"]: org,
        recorded["id"]: doc["id"],
        "cpd_jhg9ox432m55a7pacjou8ivl": due["id"],
    }
    with httpx.Client(
        transport=fake.transport(),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {fake.api_key}"},
    ) as client:
        for name in EXTENDED_YEAR_SAMPLES:
            sample = json.loads((SAMPLES / name).read_text())
            request = sample["request"]
            path = re.sub(
                r"[a-z]+_[a-z0-9]{24}", lambda m: recorded_ids.get(m[0], m[0]), request["path"]
            )
            response = client.request(
                request["method"], path, params=request.get("query"), json=request.get("json")
            )
            assert compare(sample, response) == [], name
            if sample["body"] is None:
                continue
            expected, actual = sample["body"], response.json()
            if "documents" in expected:
                expected, actual = expected["documents"][0], actual["documents"][0]
            else:
                expected, actual = expected["document"], actual["document"]
            assert actual["documentDate"] == expected["documentDate"], name
            values = {p["key"]: p["value"] for p in actual.get("customProperties", [])}
            for prop in expected.get("customProperties", []):
                if prop["key"] == "duedate":
                    assert values["duedate"] == prop["value"], name
