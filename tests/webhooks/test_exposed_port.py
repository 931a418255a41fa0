"""The receiver on an exposed port (issue 24): hostile or broken clients cost no delivery.

Each test reproduces one way the receiver as first shipped lost deliveries or its health, on
loopback against ``webhooks serve`` itself where the process's limits matter. Time bounds are
several times what the receiver needs and a fraction of what the fault took.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from papra_pipeline.warehouse.inbox import WebhookInbox
from papra_pipeline.webhooks.guard import Limits

from .helpers import (
    SECRET,
    free_port,
    receiver_process,
    serve_receiver,
    signed_delivery,
    wait_until_listening,
)

URL = "/webhooks/papra"
LIMITS = Limits()


def stored(inbox: Path) -> dict[str, str]:
    """webhook-id -> documentId of each delivery in the inbox at ``inbox``."""
    with WebhookInbox(inbox) as opened:
        return {p.delivery_id: p.document_id for p in opened.pending()}


def post(base: str, headers: dict[str, str], body: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(base + URL, content=body, headers=headers, timeout=timeout)


def address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def open_quietly(base: str) -> socket.socket:
    """A connection that may still wait in the listening backlog (never blocks)."""
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(address(base))
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the receiver closed ``sock`` (whatever it answered first), or None."""
    sock.setblocking(True)
    started = time.monotonic()
    deadline = started + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            return None
        except OSError:  # reset
            return time.monotonic() - started
    return None


@pytest.mark.slow
def test_idle_and_slow_sockets_past_the_descriptor_limit_leave_room_for_a_delivery(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    with receiver_process(inbox, nofile=128) as (_, base):
        idle = [open_quietly(base) for _ in range(300)]
        slow = []
        for _ in range(20):  # half-sent headers
            sock = socket.create_connection(address(base), timeout=5)
            sock.sendall(b"POST /webhooks/papra HTTP/1.1\r\nhost: x\r\n")
            slow.append(sock)
        headers, body = signed_delivery()
        response = post(base, headers, body)
        for sock in idle + slow:
            sock.close()
        assert response.status_code == 200, response.text
    assert headers["webhook-id"] in stored(inbox)


@pytest.mark.slow
def test_connections_that_never_finish_are_closed(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    with serve_receiver(inbox) as base:
        idle = socket.create_connection(address(base))
        half = socket.create_connection(address(base))
        half.sendall(b"POST /webhooks/papra HTTP/1.1\r\nhost: x\r\n")
        headers, body = signed_delivery()
        trickled = socket.create_connection(address(base))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        trickled.sendall(
            f"POST {URL} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
        )
        stop = threading.Event()

        def trickle() -> None:  # one byte a second, as a slow-loris client does
            for byte in body[:-1]:
                if stop.wait(1):
                    return
                try:
                    trickled.send(bytes([byte]))
                except OSError:
                    return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        bound = 3 * LIMITS.body_timeout
        try:
            closed = {
                name: closed_within(sock, bound)
                for name, sock in (("idle", idle), ("half", half), ("trickled", trickled))
            }
        finally:
            stop.set()
            thread.join()
            for sock in (idle, half, trickled):
                sock.close()
        assert None not in closed.values(), closed
    assert stored(inbox) == {}


def test_a_20_mb_header_is_refused_at_once_while_healthz_answers(tmp_path):
    with serve_receiver(tmp_path / "inbox.sqlite") as base:
        answers: list[bytes] = []

        def send_huge_header() -> None:
            with socket.create_connection(address(base), timeout=30) as sock:
                sock.sendall(f"POST {URL} HTTP/1.1\r\nhost: x\r\nx-padding: ".encode())
                try:
                    for _ in range(20):
                        sock.sendall(b"a" * 1_000_000)
                except OSError:  # refused and closed mid-header
                    pass
                try:
                    answers.append(sock.recv(200))
                except OSError:
                    answers.append(b"")

        started = time.monotonic()
        sender = threading.Thread(target=send_huge_header)
        sender.start()
        slowest_health = 0.0
        while sender.is_alive() and time.monotonic() - started < 60:
            asked = time.monotonic()
            assert httpx.get(base + "/healthz", timeout=30).status_code == 200
            slowest_health = max(slowest_health, time.monotonic() - asked)
        sender.join()
        took = time.monotonic() - started
    assert answers and answers[0].startswith(b"HTTP/1.1 431"), answers
    assert took < 10
    assert slowest_health < 3  # each look at the inbox takes milliseconds; 3 s for a busy machine


@pytest.mark.slow
def test_unverified_bodies_held_open_share_one_memory_budget(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    with receiver_process(inbox) as (process, base):
        before = _rss_mb(process.pid)
        held = []
        headers, _ = signed_delivery()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "webhook-signature")
        for _ in range(200):  # 200 bodies of 990 kB, all but their last byte sent
            sock = socket.create_connection(address(base), timeout=30)
            sock.setblocking(False)
            request = (
                f"POST {URL} HTTP/1.1\r\nhost: x\r\ncontent-length: 990001\r\n{head}"
                "webhook-signature: v1,AAAA\r\n\r\n"
            ).encode() + b"x" * 990_000
            with contextlib.suppress(BlockingIOError):
                sock.send(request)  # whatever the socket's buffers take
            held.append(sock)
        grown = _settled_rss_mb(process.pid) - before
        headers, body = signed_delivery()
        response = post(base, headers, body, timeout=60)
        for sock in held:
            sock.close()
    # Unbounded, this was 200 MB; bounded, the budget (32 MB) and a buffer per connection.
    assert grown < 120, grown
    assert response.status_code == 200


def _settled_rss_mb(pid: int, timeout: float = 20) -> float:
    """The process's memory once it has stopped growing (it read what it will)."""
    deadline = time.monotonic() + timeout
    last = _rss_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = _rss_mb(pid)
        if now - last < 1:
            return now
        last = now
    return last


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_clients_gone_mid_body_log_no_traceback(tmp_path):
    with receiver_process(tmp_path / "inbox.sqlite") as (_, base):
        headers, body = signed_delivery()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        for _ in range(100):
            with socket.create_connection(address(base), timeout=5) as sock:
                sock.sendall(
                    f"POST {URL} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{head}\r\n"
                    .encode() + body[:10]
                )
        headers, body = signed_delivery()
        assert post(base, headers, body).status_code == 200
    log = (tmp_path / "receiver.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert len(log) < 5000


LOCK_HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
def test_healthz_and_a_401_answer_at_once_while_another_process_locks_the_inbox(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    with serve_receiver(inbox) as base:  # a delivery waits up to 10 s for the lock
        holder = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(inbox)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            waiting: list[httpx.Response] = []
            headers, body = signed_delivery()
            sender = threading.Thread(target=lambda: waiting.append(post(base, headers, body)))
            sender.start()
            time.sleep(0.5)  # the delivery now waits for the lock
            timings = {}
            for name, ask in (
                ("healthz", lambda: httpx.get(base + "/healthz", timeout=30)),
                ("401", lambda: post(base, {**headers, "webhook-signature": "v1,AAAA"}, body)),
            ):
                asked = time.monotonic()
                answer = ask()
                timings[name] = (answer.status_code, time.monotonic() - asked)
            assert timings["healthz"][0] == 200 and timings["healthz"][1] < 3, timings
            assert timings["401"][0] == 401 and timings["401"][1] < 3, timings
            sender.join()
            # The delivery the lock kept out is refused, and monitoring says so.
            assert waiting[0].status_code == 503
            health = httpx.get(base + "/healthz", timeout=30)
            assert health.status_code == 503 and "locked" in health.json()["problem"]
        finally:
            holder.communicate(timeout=10)
        # Once a commit works again, so does the health.
        headers, body = signed_delivery()
        assert post(base, headers, body).status_code == 200
        assert httpx.get(base + "/healthz", timeout=30).json()["status"] == "ok"


@pytest.mark.slow
def test_unstorable_signed_deliveries_fail_alone(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    valid = [signed_delivery(document_id=f"doc_{n:024d}") for n in range(300)]
    lone_surrogate = [  # json.dumps writes "\ud800" escaped: valid JSON, invalid Unicode
        signed_delivery(document_id=f"doc_{n}\ud800") for n in range(3)
    ]
    sends = valid[:100] + lone_surrogate + valid[100:]
    with serve_receiver(inbox) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            answers = dict(
                zip(
                    range(len(sends)),
                    _concurrently(lambda d: client.post(URL, content=d[1], headers=d[0]), sends),
                    strict=True,
                )
            )
    statuses = [answers[i].status_code for i in range(len(sends))]
    assert statuses[100:103] == [400, 400, 400]
    assert all(s == 200 for i, s in enumerate(statuses) if not 100 <= i < 103)
    assert set(stored(inbox)) == {h["webhook-id"] for h, _ in valid}


def _concurrently(call, items, workers: int = 10) -> list:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(call, items))


def _nested(depth: int) -> bytes:
    return b'{"type":"document:updated","data":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("4,300-digit webhook-timestamp", 401),
        ("timestamp 1e308", 400),
        ("JSON nested 1,100 deep", 400),
    ],
)
def test_malformed_signed_input_gets_4xx_with_a_one_line_reason(tmp_path, case, status):
    inbox = tmp_path / "inbox.sqlite"
    if case.startswith("4,300"):
        headers, body = signed_delivery(timestamp=int("9" * 4300))
    elif case == "timestamp 1e308":
        body = json.dumps(
            {
                "data": {"documentId": "doc_a", "organizationId": "org_a"},
                "type": "document:updated",
                "timestamp": 1e308,
            }
        ).encode()
        headers, body = signed_delivery(body=body)
    else:
        headers, body = signed_delivery(body=_nested(1100))
    with serve_receiver(inbox) as base:
        response = post(base, headers, body)
        assert response.status_code == status, response.text
        assert "\n" not in response.json()["error"]
        headers, body = signed_delivery()
        assert post(base, headers, body).status_code == 200  # and it carries on
    assert list(stored(inbox)) == [headers["webhook-id"]]


def test_log_lines_quote_untrusted_values(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="papra_pipeline.webhooks")
    forged = "doc_a\n2026-12-06 INFO stored document:deleted of doc_b in org_b"
    with serve_receiver(tmp_path / "inbox.sqlite") as base:
        headers, body = signed_delivery(document_id=forged)
        assert post(base, headers, body).status_code == 200
        headers, body = signed_delivery(body=b'{"type":"document:\\nforged","data":{}}')
        assert post(base, headers, body).status_code == 400
    messages = [r.getMessage() for r in caplog.records if r.name == "papra_pipeline.webhooks"]
    assert any("doc_a\\n2026" in m for m in messages), messages
    assert not any("\n" in m for m in messages), messages


# ----------------------------------------------------------------- the inbox at its path


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` read-only even for root, who writes whatever the modes say: immutable then."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and chattr +i does not work on this file system")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.slow
def test_a_read_only_inbox_turns_healthz_not_ok(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    WebhookInbox(inbox).close()
    with read_only(inbox), receiver_process(inbox) as (_, base):
        health = httpx.get(base + "/healthz", timeout=30)
        headers, body = signed_delivery()
        delivery = post(base, headers, body)
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "not ok" and "read-only" in health.json()["problem"]
    assert delivery.status_code == 503
    assert stored(inbox) == {}


def test_a_deleted_inbox_gets_no_acknowledgement_and_turns_healthz_not_ok(tmp_path):
    folder = tmp_path / "inboxes"
    inbox = folder / "inbox.sqlite"
    with serve_receiver(inbox) as base:
        headers, body = signed_delivery()
        assert post(base, headers, body).status_code == 200
        shutil.rmtree(folder)
        health = httpx.get(base + "/healthz", timeout=30)
        assert health.status_code == 503 and "gone" in health.json()["problem"]
        lost = signed_delivery()
        assert post(base, *lost).status_code == 503  # refused: no inbox to store it in
        assert not folder.exists()

        folder.mkdir()  # the folder is back: the file at the path is created and written
        again = signed_delivery()
        assert post(base, *again).status_code == 200
        assert httpx.get(base + "/healthz", timeout=30).json() == {"status": "ok", "pending": 1}
        assert list(stored(inbox)) == [again[0]["webhook-id"]]

        inbox.rename(folder / "moved-away.sqlite")  # replaced: a new file at the path
        sqlite3.connect(inbox).close()
        replaced = signed_delivery()
        assert post(base, *replaced).status_code == 200
        assert list(stored(inbox)) == [replaced[0]["webhook-id"]]


ON_A_SMALL_DISK = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'


@pytest.mark.slow
def test_a_full_disk_turns_healthz_not_ok(tmp_path):
    """The inbox on a 4 MB tmpfs of the receiver's own (a mount namespace), filled up."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to give the receiver a small disk of its own")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    port = free_port()
    env = {**os.environ, "PAPRA_WEBHOOK_SECRET": SECRET,
           "PAPRA_WEBHOOK_INBOX": str(folder / "inbox.sqlite")}
    serve = [sys.executable, "-m", "papra_pipeline.cli", "webhooks", "serve", "--port", str(port)]
    with (tmp_path / "receiver.log").open("wb") as log:
        process = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", ON_A_SMALL_DISK, str(folder), *serve],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_listening(port)
        except TimeoutError:
            pytest.skip(f"no tmpfs in a mount namespace here: {(tmp_path / 'receiver.log')}")
        headers, body = signed_delivery()
        assert post(base, headers, body).status_code == 200
        small_disk = Path(f"/proc/{process.pid}/root") / folder.relative_to("/")
        with contextlib.suppress(OSError), (small_disk / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        health = httpx.get(base + "/healthz", timeout=30)
        assert health.status_code == 503 and "full" in health.json()["problem"], health.text
        late = signed_delivery()
        answer = post(base, *late)
        # SQLite resolves /proc/PID/root as a link to /: read a copy of the inbox instead.
        for name in ("inbox.sqlite", "inbox.sqlite-wal"):
            shutil.copyfile(small_disk / name, tmp_path / name)
        kept = set(stored(tmp_path / "inbox.sqlite"))
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert headers["webhook-id"] in kept
    if answer.status_code == 200:  # acknowledged only when stored, full disk or not
        assert late[0]["webhook-id"] in kept
    else:
        assert answer.status_code == 503
