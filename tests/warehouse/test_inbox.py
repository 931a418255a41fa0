"""The webhook inbox: durable, deduplicated, consumed only when told."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from papra_pipeline.warehouse.inbox import (
    InboxDelivery,
    InboxMovedError,
    WebhookInbox,
    inbox_path,
    peek_pending,
)


def delivery(n: int, org: str = "org_a", doc: str | None = None) -> InboxDelivery:
    return InboxDelivery(f"msg_{n}", "document:updated", org, doc or f"doc_{n}", 1_796_030_064)


def test_the_inbox_sits_beside_the_duckdb_file_unless_told(tmp_path):
    assert inbox_path(tmp_path / "papra.duckdb") == tmp_path / "papra.webhooks.sqlite"
    assert inbox_path("data/warehouse") == Path("data/warehouse.webhooks.sqlite")
    explicit = str(tmp_path / "elsewhere.sqlite")
    assert inbox_path(tmp_path / "papra.duckdb", explicit) == tmp_path / "elsewhere.sqlite"


def test_commits_are_durable_wal_with_synchronous_full(tmp_path):
    with WebhookInbox(tmp_path / "inbox.sqlite") as inbox:
        assert inbox._con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    con = sqlite3.connect(tmp_path / "inbox.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_a_delivery_id_is_stored_once(tmp_path):
    with WebhookInbox(tmp_path / "inbox.sqlite") as inbox:
        assert inbox.add([delivery(1), delivery(2)]) == [True, True]
        assert inbox.add([delivery(2), delivery(3), delivery(3)]) == [False, True, False]
        assert inbox.count() == 3
        assert [p.delivery_id for p in inbox.pending()] == ["msg_1", "msg_2", "msg_3"]


def test_pending_until_consumed_with_the_high_water_mark(tmp_path):
    with WebhookInbox(tmp_path / "inbox.sqlite") as inbox:
        assert inbox.pending_summary() == (0, None)
        inbox.add([delivery(n) for n in range(1, 5)])
        first, second, *_ = inbox.pending()
        assert inbox.pending_summary() == (4, 4)
        assert inbox.mark_consumed({first.seq: "re-read", second.seq: "ignored"}) == 2
        assert inbox.mark_consumed([first.seq]) == 0  # already consumed
        assert [p.seq for p in inbox.pending()] == [3, 4]
        assert inbox.pending_summary() == (2, 4)
        inbox.add([delivery(9)])
        assert inbox.pending_summary() == (3, 5)


def test_another_process_sees_each_committed_delivery(tmp_path):
    path = tmp_path / "inbox.sqlite"
    with WebhookInbox(path) as inbox:
        inbox.add([delivery(1)])
        code = (
            "import sys; from papra_pipeline.warehouse.inbox import WebhookInbox; "
            f"print(WebhookInbox({str(path)!r}).pending_summary())"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "(1, 1)", out.stderr


def test_a_delivery_whose_values_cannot_be_stored_fails_alone(tmp_path):
    with WebhookInbox(tmp_path / "inbox.sqlite") as inbox:
        outcomes = inbox.add([delivery(1), delivery(2, doc="doc_\ud800"), delivery(3)])
        assert outcomes[0] is True and outcomes[2] is True
        assert isinstance(outcomes[1], UnicodeEncodeError)
        assert [p.delivery_id for p in inbox.pending()] == ["msg_1", "msg_3"]


def test_deliveries_go_to_the_file_at_the_inbox_path(tmp_path):
    folder = tmp_path / "inboxes"
    path = folder / "inbox.sqlite"

    def ids_at_path() -> list[str]:
        con = sqlite3.connect(path)
        try:
            return [row[0] for row in con.execute("SELECT delivery_id FROM deliveries")]
        finally:
            con.close()

    with WebhookInbox(path) as inbox:
        inbox.add([delivery(1)])
        path.rename(folder / "moved.sqlite")  # replaced by a new file: the new one is written
        sqlite3.connect(path).close()
        assert inbox.add([delivery(2)]) == [True]
        assert ids_at_path() == ["msg_2"]
        for name in folder.iterdir():  # deleted: a new one is created at the path
            name.unlink()
        assert inbox.add([delivery(3)]) == [True]
        assert ids_at_path() == ["msg_3"]
        assert inbox.write_problem() is None
        shutil.rmtree(folder)  # the folder gone: refused, and not created again
        with pytest.raises(InboxMovedError, match="folder"):
            inbox.add([delivery(4)])
        assert not folder.exists()
        assert "gone" in inbox.write_problem()


def test_peek_pending_reads_beside_a_writer_holding_the_lock(tmp_path):
    path = tmp_path / "inbox.sqlite"
    with WebhookInbox(path) as inbox:
        inbox.add([delivery(1), delivery(2)])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            assert peek_pending(path) == 2
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert peek_pending(tmp_path / "missing.sqlite") is None
