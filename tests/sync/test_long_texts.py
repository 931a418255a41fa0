"""Documents whose extracted text is long (a contract extracts to 100 KB, a manual to megabytes)
sync with the default settings, and a sync that still runs out of memory says so in one line.

Before issue 25, 2,100 documents of 16 KB already failed every sync: DuckDB holds a statement's
inserted rows in memory, and the scratch staging wrote 2,000 texts per statement under 32MB.
Peak memory is measured by the bench (``make bench``), not here.
"""

from __future__ import annotations

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncError, SyncOptions, sync
from papra_pipeline.testing import FakePapra, populate
from papra_pipeline.warehouse import Warehouse, WarehouseMemoryError
from papra_pipeline.warehouse.formats import storage_version_of
from tests.sync.helpers import table_fingerprints

FULL = SyncOptions(mode="full")


def _client(fake: FakePapra) -> PapraClient:
    return PapraClient(
        "http://papra.test", fake.api_key, transport=fake.transport(), sleep=lambda s: None
    )


def _long_text_mix() -> tuple[FakePapra, dict[str, int]]:
    """One organization: 400 texts of 100 KB, 50 of 1 MB and 3 of 10 MB, mixed in order."""
    fake = FakePapra()
    summary = populate(
        fake, organizations=1, documents=453, tags=4, custom_properties=4, text_bytes=100_000
    )
    org = summary["organizations"][0]
    lengths = {}
    for index, doc in enumerate(fake.documents(org, include_deleted=True)):
        size = 10_000_000 if index % 150 == 7 else 1_000_000 if index % 9 == 1 else None
        if size is not None:
            text = (f"{doc['id']} " * (size // 20 + 1))[:size]
            fake.update_document(org, doc["id"], content=text)
        lengths[doc["id"]] = size or len(doc["content"])
    assert sorted(lengths.values())[-3:] == [10_000_000] * 3
    return fake, lengths


def _stored_lengths(warehouse: Warehouse) -> dict[str, int]:
    with warehouse.read() as con:
        return dict(con.execute("SELECT id, strlen(content) FROM documents").fetchall())


def _last_run(warehouse: Warehouse) -> list[tuple]:
    """The status and error of the newest run in the sync's own run log."""
    with warehouse.read_private() as con:
        return con.execute(
            "SELECT status, error FROM _papra_sync_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()


def test_the_long_text_mix_syncs_with_default_settings(tmp_path):
    fake, lengths = _long_text_mix()
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with _client(fake) as client:
        result = sync(client, warehouse, FULL)
        assert result.streams["documents"].inserted == len(lengths)
        assert _stored_lengths(warehouse) == lengths
        # Every text read again: the write compares and keeps them all, changing nothing.
        again = sync(client, warehouse, SyncOptions(mode="full", verify=True))
        assert again.streams["document_content"].updated == 0
        assert _stored_lengths(warehouse) == lengths
        # The everyday changes after that first sync. Each write read stored texts 2,048 rows
        # at a time, all 120 MB of them in one go, and ran out of memory on every later run.
        _change_a_little(fake, client, warehouse, lengths)


def _change_a_little(
    fake: FakePapra, client: PapraClient, warehouse: Warehouse, lengths: dict[str, int]
) -> None:
    """A renamed document with a long text, a new upload whose text arrives late, and a long
    text edited (found by re-reading it), each synced with the default settings."""
    org = fake.list_organizations()[0]["id"]
    documents = fake.documents(org, include_deleted=False)
    manual = next(d for d in documents if len(d["content"]) == 10_000_000)
    fake.update_document(org, manual["id"], name="renamed manual.pdf")
    upload = fake.upload_document(org, "late.txt", "scanned, not yet read")
    renamed = sync(client, warehouse, FULL)
    assert renamed.streams["documents"].updated == 1
    assert renamed.streams["documents"].inserted == 1
    fake.extract_pending()
    edited = next(d for d in documents if len(d["content"]) == 1_000_000)
    fake.update_document(org, edited["id"], content="x" * 500_000)
    reread = frozenset({(org, edited["id"])})
    late = sync(client, warehouse, SyncOptions(mode="full", reread_documents=reread))
    assert late.streams["document_content"].updated == 2
    with warehouse.read() as con:
        names = dict(con.execute("SELECT id, name FROM documents").fetchall())
    assert names[manual["id"]] == "renamed manual.pdf"
    expected = {**lengths, upload["id"]: len("scanned, not yet read"), edited["id"]: 500_000}
    assert _stored_lengths(warehouse) == expected
    # Readers' format changed (the setting, or a file an older release wrote): the sync's file
    # is copied into it in one transaction, which ran out of memory under the write's limit.
    before = storage_version_of(warehouse.path)
    newest = Warehouse(warehouse.path, reader_storage_version="latest")
    sync(client, newest, SyncOptions(mode="quick"))
    assert storage_version_of(warehouse.path) != before
    assert _stored_lengths(newest) == expected


def test_a_run_in_which_every_text_changed(tmp_path):
    """20,000 texts of 20 KB (the issue's run): 400 MB, four times the write's 96MB limit,
    all rewritten in the run's one transaction, in parts bounded by their text's size."""
    fake = FakePapra()
    summary = populate(
        fake, organizations=1, documents=20_000, tags=4, custom_properties=2, text_bytes=20_000
    )
    org = summary["organizations"][0]
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with _client(fake) as client:
        sync(client, warehouse, FULL)
        for doc in fake.documents(org, include_deleted=True):
            fake.update_document(org, doc["id"], content=doc["content"][::-1])
        result = sync(client, warehouse, SyncOptions(mode="full", verify=True))
    assert result.streams["document_content"].updated == 20_000
    with warehouse.read() as con:
        stored = dict(con.execute("SELECT id, content FROM documents").fetchall())
    assert stored == {
        doc["id"]: doc["content"] for doc in fake.documents(org, include_deleted=True)
    }


def test_running_out_of_memory_is_one_line_and_changes_nothing(tmp_path):
    fake = FakePapra()
    summary = populate(
        fake, organizations=1, documents=300, tags=4, custom_properties=2, text_bytes=16_000
    )
    org = summary["organizations"][0]
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with _client(fake) as client:
        sync(client, warehouse, SyncOptions(mode="full", content=False))
        before = table_fingerprints(warehouse)
        tight = Warehouse(tmp_path / "papra.duckdb", write_memory_limit="1MB")
        with pytest.raises(SyncError) as raised:
            sync(client, tight, FULL)
    message = str(raised.value)
    assert "\n" not in message
    assert "PAPRA_WRITE_MEMORY_LIMIT=1MB" in message and "raise PAPRA_WRITE_MEMORY_LIMIT" in message
    longest = max(fake.documents(org, include_deleted=True), key=lambda d: len(d["content"]))
    assert f"document {longest['id']}" in message
    assert table_fingerprints(warehouse) == before
    status = _last_run(warehouse)
    assert status[0][0] == "failed" and "out of memory" in status[0][1]


def test_long_texts_beyond_the_machines_memory_fail_early_in_one_line(tmp_path):
    """The write raises its limit by twice the run's long texts; beyond what the machine has,
    the kernel would kill the sync mid-write without a word. It fails in one line instead, as
    soon as the texts fetched pass that, writes nothing, and a run with the memory succeeds."""
    fake = FakePapra()
    populate(fake, organizations=1, documents=80, tags=4, custom_properties=2,
             text_bytes=100_000)
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with _client(fake) as client:
        sync(client, warehouse, SyncOptions(mode="full", content=False))
        before = table_fingerprints(warehouse)
        # 96MB of limit plus twice the texts: past 100MB after about 2 MB of them.
        small = Warehouse(tmp_path / "papra.duckdb", memory_ceiling="100MB")
        client.reset_stats()
        with pytest.raises(WarehouseMemoryError) as raised:
            sync(client, small, FULL)
        requests = client.stats.snapshot()["by_endpoint"]
        fetched = requests["GET /api/organizations/{org}/documents/{doc}"]
        message = str(raised.value)
        assert "\n" not in message
        assert "2 MB of texts of 64 KB or more" in message and "100 MB" in message
        assert fetched < 60  # of 80 texts: the run stopped when they passed the room
        assert table_fingerprints(warehouse) == before
        status = _last_run(warehouse)
        assert status[0][0] == "failed" and "2 MB of texts" in status[0][1]
        sync(client, warehouse, FULL)
    org = fake.list_organizations()[0]["id"]
    live = {doc["id"]: len(doc["content"]) for doc in fake.documents(org, include_deleted=False)}
    assert live.items() <= _stored_lengths(warehouse).items()


def test_documents_whose_rows_pass_4_kb_keep_every_text(tmp_path):
    """A long name (or many tags and properties in ``_raw``) puts a staged batch of documents
    in a table of its own, found by ``_seq``: their texts, staged apart, were then looked
    for in the documents' ``_seq`` range and lost (and 2,500 such documents ran the staging
    file out of memory first)."""
    fake = FakePapra()
    summary = populate(
        fake, organizations=1, documents=2_500, tags=60, custom_properties=12, text_bytes=3_000
    )
    org = summary["organizations"][0]
    for doc in fake.documents(org)[::7]:
        fake.update_document(org, doc["id"], name="n" * 4_200 + doc["name"])
    warehouse = Warehouse(tmp_path / "papra.duckdb")

    def texts() -> dict[str, str]:
        return {d["id"]: d["content"] for d in fake.documents(org, include_deleted=True)}

    with _client(fake) as client:
        sync(client, warehouse, FULL)
        with warehouse.read() as con:
            assert dict(con.execute("SELECT id, content FROM documents").fetchall()) == texts()
        for doc in fake.documents(org)[::5]:  # a merge: changed names and texts
            fake.update_document(org, doc["id"], name="m" * 4_300, content=doc["content"][::-1])
        sync(client, warehouse, SyncOptions(mode="full", verify=True))
    with warehouse.read() as con:
        assert dict(con.execute("SELECT id, content FROM documents").fetchall()) == texts()
