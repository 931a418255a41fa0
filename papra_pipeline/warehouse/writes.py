"""The bulk writes of one sync inside one open transaction (:class:`WriteSession`).

Every write goes through a pandas frame registered with DuckDB (or a staged set) and set-based
SQL statements, never row by row; large sets are written in parts so that what does not fit the
write's memory limit spills to disk. The file they go to, and its life, is
:mod:`papra_pipeline.warehouse.store`'s.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from papra_pipeline.warehouse.errors import WarehouseMemoryError
from papra_pipeline.warehouse.schema import TABLES, Table
from papra_pipeline.warehouse.staging import (
    LONG_TEXT,
    STAGING_ALIAS,
    Staged,
    replace_lone_surrogates,
    select_typed,
    size_in_bytes,
)

log = logging.getLogger("papra_pipeline.warehouse")

# Rows DuckDB reads of a column at once (its vector size), whatever a statement's filter.
VECTOR_ROWS = 2048
# Rows per statement when a large set is merged in parts (see WriteSession._parts): a part of
# documents joined to their text must fit the default limit (25,000 failed under 96MB).
ROWS_PER_STATEMENT = 8_000
# ...and at most this many characters of text (a staged set's main table, see Staged.main_text):
# 6,000 new documents of 20 KB (120 MB) in one statement failed that limit now and then (its
# join spills, not always in time), where parts of 8,000 documents of 2 KB of text and 2 KB of
# ``_raw`` (32 MB) never did.
TEXT_PER_STATEMENT = 32 * 2**20


@dataclass
class MergeCounts:
    """What one merge did to a table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.removed + other.removed,
        )

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.removed


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


Rows = pd.DataFrame | Staged | None
"""What a merge reads: a frame, a set staged during the run, or nothing."""


def _is_empty(rows: Rows) -> bool:
    return rows is None or (isinstance(rows, pd.DataFrame) and rows.empty)


class WriteSession:
    """Bulk writes inside one open transaction.

    Each method takes rows as a pandas frame (columns named after the table's) or as a
    :class:`Staged` set, deduplicated on the table's key (the last row written wins), and
    writes them with one statement.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, *, memory_ceiling: int | None = None
    ) -> None:
        self.con = con
        # The most memory the write may take for long texts (see make_room_for_long_texts).
        self.memory_ceiling = memory_ceiling
        self._vector: int | None = -1  # see _stored_text_vector; -1 until asked
        self._sources = 0
        # Whether readers get this transaction (a copy of the whole file) once it commits: a
        # sync that changed no rows clears it, and its run log reaches readers with the next.
        self.publish = True
        # Set once the transaction commits: an interrupted publish must not log the run again.
        self.committed = False

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple:
        """Execute and drain one statement (DuckDB refuses new work while a result is open).

        Returns the first row; for DML that is the number of rows affected.
        """
        rows = self.con.execute(sql, params).fetchall()
        return rows[0] if rows else ()

    def _name(self) -> str:
        self._sources += 1
        return f"_papra_source_{self._sources}"

    def _register(self, frame: pd.DataFrame) -> str:
        name = self._name()
        self.con.register(name, frame)
        return name

    def _select(
        self, table: Table, rows: pd.DataFrame | Staged, where: str | None = None
    ) -> tuple[str, list[str]]:
        """A SELECT of the rows, one per key and typed like the table (only those matching
        ``where``, a condition on the columns), and its columns."""
        keys = _quoted(table.key)
        if isinstance(rows, Staged):
            # The last row per key, found on narrow columns first: a window over the wide rows
            # (document text) would have to hold them all in memory. ``where`` goes on both
            # scans, so a part of a large set only ever holds its own keys.
            part = f" WHERE {where}" if where is not None else ""
            select = (
                f"SELECT {', '.join(f's.{_quoted([c])}' for c in rows.columns)} "
                f"FROM {rows.qualified} s JOIN (SELECT {keys}, max(_seq) AS _seq "
                f"FROM {rows.qualified}{part} GROUP BY ALL) latest USING ({keys}, _seq){part}"
            )
            return select, list(rows.columns)
        unknown = set(rows.columns) - set(table.column_names)
        unknown |= set(rows.columns) & {"_first_seen_at", "_last_changed_at"}
        if unknown:
            raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
        columns = [c for c in table.column_names if c in rows.columns]
        frame = rows.drop_duplicates(subset=list(table.key), keep="last")
        replaced = replace_lone_surrogates(frame)  # these frames are small: searched always
        if replaced:
            log.warning(
                "%s %s: text holds lone UTF-16 surrogates; stored with U+FFFD in their place",
                table.name,
                ", ".join(replaced),
            )
        casts = select_typed(frame, table, columns)
        select = f"SELECT {casts} FROM {self._register(frame)}"
        if where is not None:
            select = f"SELECT * FROM ({select}) WHERE {where}"
        return select, columns

    def _source(
        self, table: Table, rows: pd.DataFrame | Staged, where: str | None = None
    ) -> tuple[str, list[str], int]:
        """Materialize the rows as a temporary table, for merges that read them more than once.

        Returns its name, its columns and its row count.
        """
        select, columns = self._select(table, rows, where)
        name = self._name()
        count = self._run(f"CREATE TEMP TABLE {name} AS {select}")[0]
        return name, columns, count

    def _empty(self, table: Table) -> bool:
        """Whether the table holds no row yet (a first sync), in this transaction's view.

        Then every row is new: one streaming INSERT replaces the temporary tables and joins of
        a merge, which is faster and keeps a large first sync within the memory limit.
        """
        return not self._run(f"SELECT EXISTS (SELECT 1 FROM {table.name})")[0]

    def _insert_parts(self, table: Table, columns: list[str]) -> tuple[list[str], list[str]]:
        """Columns and values (three ``?`` for the tracking timestamps) of a new row."""
        names = [*columns, "_first_seen_at", "_last_changed_at", "_synced_at"]
        values = [*(f's."{c}"' for c in columns), "?", "?", "?"]
        if "is_removed" in table.column_names and "is_removed" not in columns:
            names.append("is_removed")
            values.append("false")
        return names, values

    def make_room_for_long_texts(self, characters: int) -> None:
        """Raise the write's memory limit by what the transaction's long texts need.

        DuckDB spills rows beyond its memory limit, but not texts of 64 KB or more
        (:data:`~papra_pipeline.warehouse.staging.LONG_TEXT`) that a transaction writes: it
        holds them until the commit, which failed for 114 MB of 100 KB texts under 96MB
        whatever the statements. So the limit grows by twice their size (UTF-8 and DuckDB's
        own copies): the write's memory is bounded by the limit plus the long texts this run
        writes, not by the archive or by how long any text is. Where that is more than
        ``memory_ceiling`` (by default DuckDB's own limit for the machine), the write fails at
        once with :class:`WarehouseMemoryError` rather than being killed by the kernel.

        The commit then checkpoints instead of writing the WAL. DuckDB leaves long texts out
        of its estimate of a transaction's WAL (120 MB of them came under its 16 MB threshold),
        so it wrote them to the WAL, then into the file again at the publish's checkpoint,
        holding them in memory in between: a first sync of 120 MB of long texts peaked at
        650 MB of RSS, 470 MB checkpointed at its commit, and wrote them once fewer.
        """
        if characters <= 0:
            return
        current = size_in_bytes(self._run("SELECT current_setting('memory_limit')")[0])
        needed = room_for_long_texts(current, characters, self._ceiling())
        self._run(f"SET memory_limit = '{needed // 2**20 + 1}MiB'")
        self._run("SET checkpoint_threshold = '1MiB'")

    @contextmanager
    def _stored_texts_readable(self) -> Iterator[None]:
        """Let the statements inside read stored texts: the limit grows by twice what one
        vector of them may hold (at most the memory ceiling), and is put back after.

        DuckDB reads a column 2,048 rows at a time whatever the filter or join, so a statement
        that reads the text of one stored document holds the texts of its neighbours too: after
        a first sync of the long-text mix (453 texts, 120 MB in one vector), renaming a
        document needed 128 MiB at once, and every later run failed under the 96MB limit.
        Raised by that much only, joins still spill as before (up to the ceiling, renaming
        20,000 documents of 2 KB took 75 MB more). What the transaction keeps is made room
        for apart (see :meth:`_long_texts_kept`).
        """
        limit = self._run("SELECT current_setting('memory_limit')")[0]
        vector = self._stored_text_vector()
        ceiling = self._ceiling()
        wanted = ceiling if vector is None else min(ceiling, size_in_bytes(limit) + 2 * vector)
        raised = wanted > size_in_bytes(limit)
        if raised:
            self._run(f"SET memory_limit = '{wanted // 2**20 + 1}MiB'")
        try:
            yield
        finally:
            if raised:
                self._run(f"SET memory_limit = '{limit}'")

    def _ceiling(self) -> int:
        """The most memory the write may take (``memory_ceiling``, or DuckDB's default)."""
        return self.memory_ceiling or machine_memory_ceiling()

    def _stored_text_vector(self) -> int | None:
        """Characters of text that one vector of stored documents may hold, from the file's
        statistics of each stored segment of ``content`` (its rows and longest text; no text
        is read); ``None`` where they do not say. Asked once: the stored segments do not
        change before the commit."""
        if self._vector == -1:
            self._vector = self._vector_from_statistics()
        return self._vector

    def _vector_from_statistics(self) -> int | None:
        segments = self.con.execute(
            """SELECT count, stats FROM pragma_storage_info('documents')
               WHERE column_name = 'content' AND segment_type = 'VARCHAR'"""
        ).fetchall()
        most = 0
        for rows, stats in segments:
            try:
                bound = min(rows, VECTOR_ROWS) * stats["max_string_length"]
            except (KeyError, TypeError):
                return None
            # Files in DuckDB 2's format also keep the segment's total (v1.2.0's do not).
            most = max(most, min(bound, stats.get("total_string_length", bound)))
        return most

    def upsert(
        self, table_name: str, rows: Rows, now: datetime, *, update: bool = True
    ) -> MergeCounts:
        """Insert new rows and rewrite rows whose ``_hash`` changed (or that come back).

        Columns missing from the rows keep their stored values, so a scan that does not carry
        ``content`` never blanks it. ``_first_seen_at`` is kept; ``_last_changed_at`` moves only
        when the hash changes. With ``update=False`` existing rows are left alone (a partial
        view of a record, such as a tag embedded in a document, must not overwrite the full one).
        """
        table = TABLES[table_name]
        if _is_empty(rows):
            return MergeCounts()
        if self._empty(table):
            select, columns = self._select(table, rows)
            names, values = self._insert_parts(table, columns)
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted(names)}) "
                f"SELECT {', '.join(values)} FROM ({select}) s",
                [now] * 3,
            )[0]
            return MergeCounts(inserted=inserted)
        counts = MergeCounts()
        for part, where in self._parts(table, rows):
            source, columns, total = self._source(table, part, where)
            counts += self._merge(table, source, columns, total, now, update=update)
            self._run(f"DROP TABLE {source}")
        return counts

    def _merge(
        self,
        table: Table,
        source: str,
        columns: list[str],
        total: int,
        now: datetime,
        *,
        update: bool = True,
        keep_when_null: tuple[str, ...] = (),
    ) -> MergeCounts:
        """The merge behind :meth:`upsert`; ``keep_when_null`` columns keep the stored value
        where the source has none.

        A changed row is deleted and inserted again rather than updated in place: DuckDB holds
        in-place updates in memory it cannot spill until the commit (about 6 KB per document,
        so a run that changes 100,000 documents needed 600 MB), while new rows and temporary
        tables spill to disk under the memory limit.
        """
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        changed = 't."_hash" IS DISTINCT FROM s."_hash"'
        if "is_removed" in table.column_names:
            changed = f"({changed} OR t.is_removed)"
        if not update:
            changed = "false"
        reset_removal = "is_removed" in table.column_names and "is_removed" not in columns

        def value(c: str) -> str:
            if c in table.key or (c in columns and c not in keep_when_null):
                return f's."{c}"'
            if c in columns:
                return f'coalesce(s."{c}", t."{c}")'
            if c in ("_last_changed_at", "_synced_at"):
                return "?"
            if reset_removal and c in ("is_removed", "removed_at"):
                return "false" if c == "is_removed" else "NULL"
            return f't."{c}"'

        row = [f'CAST({value(c)} AS {table.column_type(c)}) AS "{c}"' for c in table.column_names]
        # The rewritten rows first, so that they are found against the table as it was.
        rewritten = self._name()
        updated = self._run(
            f"""CREATE TEMP TABLE {rewritten} AS SELECT {", ".join(row)}
                FROM {source} s JOIN {table.name} t ON {on} WHERE {changed}""",
            [now] * 2,
        )[0]
        names, values = self._insert_parts(table, columns)
        inserted = self._run(
            f"""INSERT INTO {table.name} ({_quoted(names)}) SELECT {", ".join(values)}
                FROM {source} s WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {on})""",
            [now] * 3,
        )[0]
        if updated:
            self._run(f"DELETE FROM {table.name} t USING {rewritten} s WHERE {on}")
            self._run(
                f"INSERT INTO {table.name} ({_quoted(table.column_names)}) "
                f"SELECT * FROM {rewritten}"
            )
        self._run(f"DROP TABLE {rewritten}")
        return MergeCounts(inserted=inserted, updated=updated, unchanged=total - inserted - updated)

    def upsert_documents(
        self, documents: Rows, texts: Rows, now: datetime
    ) -> tuple[MergeCounts, int]:
        """Documents and their text, returning the document counts and the texts written.

        New and changed documents carry their text into the same statement: updating the text
        of a large initial sync afterwards would hold every string in the transaction's memory.
        Large sets go in parts (:meth:`_parts`), each with its own texts. Texts of documents
        that did not otherwise change (re-verified, extracted late) are updated on their own;
        there are few of them.
        """
        table = TABLES["documents"]
        first = self._empty(table)
        counts, written = MergeCounts(), 0
        if not _is_empty(documents):
            text = texts.main_text if isinstance(texts, Staged) else 0
            for part, where in self._parts(table, documents, text):
                if first:
                    counts += self._insert_documents(part, texts, now, where)
                else:
                    part_counts, part_written = self._merge_documents(part, texts, now, where)
                    counts, written = counts + part_counts, written + part_written
            if first and not _is_empty(texts):  # every row is new: its text was written
                written = self._run("SELECT count(content) FROM documents")[0]
        if not _is_empty(texts) and not first:
            others = None
            if not _is_empty(documents):
                select, _ = self._select(table, documents)
                others = f"id NOT IN (SELECT id FROM ({select}))"
            written += self._rewrite_texts(texts, others)
        return counts, written

    def _rewrite_texts(self, texts: pd.DataFrame | Staged, others: str | None) -> int:
        """Write the texts (id, content, _content_synced_at) that differ from the stored
        ones, of documents that ``others`` selects; returns how many.

        Texts are compared by their MD5, found in one narrow pass each side, so that no
        statement holds both a part of the new texts and the stored ones. Then each part
        (:meth:`_parts`) of the changed texts is written with its documents' other columns,
        read without their stored text: the rows are deleted and inserted again, as in
        :meth:`_merge`, rather than updated in place, since DuckDB holds an in-place update in
        memory until the commit: a run in which every text of 20,000 documents of 20 KB
        changed (``sync --verify`` after an OCR upgrade) needed all 400 MB at once.
        """
        table = TABLES["documents"]
        select, _ = self._select(table, texts, others)
        fresh = self._name()
        self._run(f"CREATE TEMP TABLE {fresh} AS SELECT id, md5(content) AS h FROM ({select})")
        changed = self._name()
        with self._stored_texts_readable():
            count = self._run(
                f"""CREATE TEMP TABLE {changed} AS SELECT f.id FROM {fresh} f
                    JOIN (SELECT id, md5(content) AS h FROM documents
                          WHERE id IN (SELECT id FROM {fresh})) t USING (id)
                    WHERE f.h IS DISTINCT FROM t.h"""
            )[0]
        self._run(f"DROP TABLE {fresh}")
        columns = table.column_names
        row = ", ".join(
            f's."{c}"' if c in ("content", "_content_synced_at") else f't."{c}"' for c in columns
        )
        for part, where in self._parts(table, texts) if count else ():
            condition = " AND ".join(c for c in (f"id IN (SELECT id FROM {changed})", where) if c)
            part_select, _ = self._select(table, part, condition)
            rewritten = self._name()
            self._run(
                f"""CREATE TEMP TABLE {rewritten} AS SELECT {row}
                    FROM ({part_select}) s JOIN documents t USING (id)"""
            )
            self._run(f"DELETE FROM documents t USING {rewritten} s WHERE t.id = s.id")
            self._run(f"INSERT INTO documents ({_quoted(columns)}) SELECT * FROM {rewritten}")
            self._run(f"DROP TABLE {rewritten}")
        self._run(f"DROP TABLE {changed}")
        return count

    def _parts(
        self, table: Table, rows: pd.DataFrame | Staged, companion_text: int = 0
    ) -> list[tuple[pd.DataFrame | Staged, str | None]]:
        """A large set as parts of at most ``ROWS_PER_STATEMENT`` rows and, with
        ``companion_text`` characters of text written along (the documents' texts),
        ``TEXT_PER_STATEMENT`` of text, each written by its own statements in the same
        transaction, with the condition selecting it (if any).

        A join of documents with their text holds one side's rows in memory: with 2 KB of text
        and 2 KB of ``_raw`` per document, 200,000 new documents in one statement exceeded a
        192 MB limit, in parts they stay under the default. A frame is sliced (it is scanned
        only once); a staged set is split on a hash of the key, which also picks the texts of
        the part's documents.
        """
        if isinstance(rows, pd.DataFrame):
            frame = rows.drop_duplicates(subset=list(table.key), keep="last")
            size = math.ceil(len(frame) / math.ceil(len(frame) / ROWS_PER_STATEMENT))
            return [(frame.iloc[at : at + size], None) for at in range(0, len(frame), size)]
        if rows.long_parts:
            return self._long_text_parts(table, rows, companion_text)
        total = self._run(f"SELECT count(*) FROM {rows.qualified}")[0]
        parts = _part_count(total, rows.main_text + companion_text)
        if parts <= 1:
            return [(rows, None)]
        keys = _quoted(table.key)
        return [(rows, f"hash({keys}) % {parts} = {part}") for part in range(parts)]

    def _long_text_parts(
        self, table: Table, rows: Staged, companion_text: int
    ) -> list[tuple[Staged, str | None]]:
        """A staged set with tables of long texts (see :class:`Staged`) in parts: one per such
        table, selected by its range of ``_seq`` (so a scan skips the other tables whole), and
        the rest by a hash of the key. A part then holds at most one staging batch of long
        texts, ~8 MB or a single text, where a hash of the key would mix texts from every
        batch; the last row per key is then found within a part, which is where a document's
        text staged twice in a run (rare) is.
        """
        ranges = [f'"_seq" BETWEEN {first} AND {last}' for _, first, last in rows.long_parts]
        parts: list[tuple[Staged, str | None]] = [(rows, where) for where in ranges]
        if rows.main:
            rest = f"NOT ({' OR '.join(ranges)})"
            total = self._run(f'SELECT count(*) FROM {STAGING_ALIAS}."{rows.name}"')[0]
            count = _part_count(total, rows.main_text + companion_text)
            keys = _quoted(table.key)
            parts += [(rows, f"{rest} AND hash({keys}) % {count} = {p}") for p in range(count)]
        return parts

    def _insert_documents(
        self, documents: pd.DataFrame | Staged, texts: Rows, now: datetime, where: str | None
    ) -> MergeCounts:
        """One part of :meth:`upsert_documents` into a table that was empty (see :meth:`_empty`):
        one INSERT joining each document to its text (texts of other documents have no row)."""
        table = TABLES["documents"]
        select, columns = self._select(table, documents, where)
        names, values = self._insert_parts(table, columns)
        source = f"({select}) s"
        if not _is_empty(texts):
            text_where = _texts_of(documents, where, f"({select})")
            text_select, _ = self._select(table, texts, text_where)
            source += f" LEFT JOIN ({text_select}) x USING (id)"
            names += ["content", "_content_synced_at"]
            values += ["x.content", "x._content_synced_at"]
        inserted = self._run(
            f"INSERT INTO documents ({_quoted(names)}) SELECT {', '.join(values)} FROM {source}",
            [now] * 3,
        )[0]
        return MergeCounts(inserted=inserted)

    def _merge_documents(
        self, documents: pd.DataFrame | Staged, texts: Rows, now: datetime, where: str | None
    ) -> tuple[MergeCounts, int]:
        """One part of :meth:`upsert_documents` into a table that has rows (see :meth:`_merge`)."""
        table = TABLES["documents"]
        source, columns, total = self._source(table, documents, where)
        written = 0
        if not _is_empty(texts):
            text_select, _ = self._select(table, texts, _texts_of(documents, where, source))
            joined = self._name()
            self._run(
                f"""CREATE TEMP TABLE {joined} AS
                    SELECT d.*, x.content, x._content_synced_at
                    FROM {source} d LEFT JOIN ({text_select}) x USING (id)"""
            )
            self._run(f"DROP TABLE {source}")
            with self._stored_texts_readable():
                written = self._run(
                    f"""SELECT count(*) FROM {joined} s LEFT JOIN documents t USING (id)
                        WHERE s.content IS NOT NULL AND s.content IS DISTINCT FROM t.content"""
                )[0]
            source, columns = joined, [*columns, "content", "_content_synced_at"]
        self.make_room_for_long_texts(self._long_texts_kept(source, "content" in columns))
        with self._stored_texts_readable():
            counts = self._merge(
                table,
                source,
                columns,
                total,
                now,
                keep_when_null=("content", "_content_synced_at"),
            )
        self._run(f"DROP TABLE {source}")
        return counts, written

    def _long_texts_kept(self, source: str, with_texts: bool) -> int:
        """Characters of the long texts that changed documents of ``source`` keep: a changed
        row is written again (see :meth:`_merge`), its stored text with it, and the
        transaction holds such texts until the commit like new ones."""
        kept = "t.content IS NOT NULL" + (" AND s.content IS NULL" if with_texts else "")
        with self._stored_texts_readable():
            return self._run(
                f"""SELECT coalesce(sum(strlen(t.content)), 0) FROM {source} s
                    JOIN documents t USING (id)
                    WHERE t._hash IS DISTINCT FROM s._hash AND {kept}
                      AND strlen(t.content) >= {LONG_TEXT}"""
            )[0]

    def update_columns(self, table_name: str, rows: Rows) -> int:
        """Set the rows' non-key columns on existing rows where a data column differs."""
        table = TABLES[table_name]
        if _is_empty(rows):
            return 0
        source, columns, _ = self._source(table, rows)
        return self._update_from(table, source, columns)

    def _update_from(self, table: Table, source: str, columns: list[str]) -> int:
        # Bookkeeping columns (``_content_synced_at``...) are written along, never compared.
        data = [c for c in columns if c not in table.key and not c.startswith("_")]
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in data)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in table.key)
        count = self._run(
            f"SELECT count(*) FROM {source} s JOIN {table.name} t ON {on} WHERE {differs}"
        )[0]
        if count:
            self._run(
                f"MERGE INTO {table.name} t USING {source} s ON {on} "
                f"WHEN MATCHED AND ({differs}) THEN UPDATE SET {sets}"
            )
        return count

    def replace_children(
        self,
        table_name: str,
        parent_column: str,
        parent_ids: Sequence[str],
        rows: Rows,
        now: datetime,
    ) -> MergeCounts:
        """Make the rows of ``parent_ids`` equal to ``rows``, touching only what differs.

        Used for a document's tags and custom-property values, which are rebuilt from the scan
        whenever the document changes: rows no longer present are deleted, new ones inserted,
        changed ones rewritten, identical ones left alone.
        """
        table = TABLES[table_name]
        if not parent_ids:
            return MergeCounts()
        parents = self._register(pd.DataFrame({"parent_id": list(dict.fromkeys(parent_ids))}))
        if _is_empty(rows):
            rows = pd.DataFrame(columns=[c for c in table.column_names if c != "_synced_at"])
        elif isinstance(rows, pd.DataFrame):
            rows = rows.drop(columns=["_synced_at"], errors="ignore")
        if self._empty(table):
            select, columns = self._select(table, rows)
            columns = [c for c in columns if c != "_synced_at"]
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted([*columns, '_synced_at'])}) "
                f"SELECT {_quoted(columns)}, ? FROM ({select}) s",
                [now],
            )[0]
            return MergeCounts(inserted=inserted)
        source, columns, total = self._source(table, rows)
        columns = [c for c in columns if c != "_synced_at"]
        key_match = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        scope = f't."{parent_column}" IN (SELECT parent_id FROM {parents})'
        removed = self._run(
            f"""DELETE FROM {table.name} t WHERE {scope}
                AND NOT EXISTS (SELECT 1 FROM {source} s WHERE {key_match})"""
        )[0]
        data = [c for c in columns if c not in table.key]
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in data) or "false"
        inserted, updated = self._run(
            f"""SELECT count(*) FILTER (WHERE t."{table.key[0]}" IS NULL),
                       count(*) FILTER (WHERE t."{table.key[0]}" IS NOT NULL AND ({differs}))
                FROM {source} s LEFT JOIN {table.name} t ON {key_match}"""
        )
        if inserted or updated:
            sets = [f'"{c}" = s."{c}"' for c in data] + ['"_synced_at" = ?']
            self._run(
                f"""MERGE INTO {table.name} t USING {source} s ON {key_match}
                    WHEN MATCHED AND ({differs}) THEN UPDATE SET {", ".join(sets)}
                    WHEN NOT MATCHED THEN INSERT ({_quoted([*columns, "_synced_at"])})
                         VALUES ({", ".join(f's."{c}"' for c in columns)}, ?)""",
                [now, now],
            )
        return MergeCounts(
            inserted=inserted,
            updated=updated,
            unchanged=total - inserted - updated,
            removed=removed,
        )

    def insert_new(self, table_name: str, rows: Rows) -> MergeCounts:
        """Append rows whose key is not stored yet (activity entries never change)."""
        table = TABLES[table_name]
        if _is_empty(rows):
            return MergeCounts()
        if self._empty(table):
            select, columns = self._select(table, rows)
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted(columns)}) SELECT {_quoted(columns)} "
                f"FROM ({select}) s"
            )[0]
            return MergeCounts(inserted=inserted)
        source, columns, total = self._source(table, rows)
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        inserted = self._run(
            f"""INSERT INTO {table.name} ({_quoted(columns)})
                SELECT {_quoted(columns)} FROM {source} s
                WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {on})"""
        )[0]
        return MergeCounts(inserted=inserted, unchanged=total - inserted)

    def mark_removed(
        self,
        table_name: str,
        scope_column: str | None,
        scope_value: str | None,
        present_ids: Iterable[str],
        now: datetime,
    ) -> int:
        """Flag rows (of one scope, or all) that Papra no longer lists; nothing is deleted."""
        table = TABLES[table_name]
        present = self._register(pd.DataFrame({"id": pd.Series(list(present_ids), dtype=object)}))
        scope, params = "true", [now, now]
        if scope_column is not None:
            scope, params = f'"{scope_column}" = ?', [now, now, scope_value]
        return self._run(
            f"""UPDATE {table.name} SET is_removed = true, removed_at = ?, _synced_at = ?
                WHERE {scope} AND NOT is_removed
                AND id NOT IN (SELECT id FROM {present})""",
            params,
        )[0]

    def mark_purged(self, document_ids: Sequence[str], now: datetime) -> int:
        """Papra purged these documents (confirmed by a 404): keep the rows, set purged_at."""
        if not document_ids:
            return 0
        ids = self._register(pd.DataFrame({"id": list(document_ids)}))
        return self._run(
            f"""UPDATE documents SET purged_at = ?, _synced_at = ?
                WHERE purged_at IS NULL AND id IN (SELECT id FROM {ids})""",
            [now, now],
        )[0]

    def drop_cascaded_links(self, rebuilt_document_ids: Sequence[str]) -> tuple[int, int]:
        """Drop what Papra deleted along with a tag or a definition; returns the tag links and
        the values dropped.

        Papra deletes a tag's links and a definition's values on every document, trashed ones
        included, and the trash list shows neither. So links to a removed tag go, and values
        of a removed definition go on documents that are trashed or purged; the values of live
        documents are linked again instead (see :meth:`link_values_to_current_definitions`).
        Documents rebuilt in this run (``rebuilt_document_ids``) hold what Papra sent now.
        """
        rebuilt = self._register(
            pd.DataFrame({"id": pd.Series(list(dict.fromkeys(rebuilt_document_ids)), dtype=object)})
        )
        links = self._run(
            f"""DELETE FROM document_tags dt USING tags t
                WHERE t.id = dt.tag_id AND t.is_removed
                  AND dt.document_id NOT IN (SELECT id FROM {rebuilt})"""
        )[0]
        removed_definitions = "SELECT id FROM custom_property_definitions WHERE is_removed"
        values = 0
        # Usually there is nothing to drop: ask that first, without reading the documents.
        if self._run(
            f"""SELECT EXISTS (SELECT 1 FROM document_custom_property_values
                WHERE property_definition_id IN ({removed_definitions}))"""
        )[0]:
            values = self._run(
                f"""DELETE FROM document_custom_property_values v USING documents d
                    WHERE v.property_definition_id IN ({removed_definitions})
                      AND d.id = v.document_id AND (d.is_deleted OR d.purged_at IS NOT NULL)
                      AND v.document_id NOT IN (SELECT id FROM {rebuilt})"""
            )[0]
        return links, values

    def follow_current_definitions(
        self, organization_ids: Sequence[str], rebuilt_document_ids: Sequence[str]
    ) -> tuple[int, int]:
        """Make stored values read as Papra reads them now; returns the values updated and
        the values dropped.

        Papra joins a document's values to the current definition (its name, and its key,
        which a rename regenerates) and option (its name), and deletes the values of a
        removed option. The trash list carries no values, so trashed documents keep what they
        had when last read: call this once the definitions and options of
        ``organization_ids`` are written. Documents rebuilt in this run hold what Papra sent;
        purged ones are left as they were last seen.
        """
        scope = self._register(
            pd.DataFrame({"id": pd.Series(list(organization_ids), dtype=object)})
        )
        rebuilt = self._register(
            pd.DataFrame({"id": pd.Series(list(dict.fromkeys(rebuilt_document_ids)), dtype=object)})
        )
        # Live documents need none of this: their list items carry the values as Papra reads
        # them, so a rename or a removed option changes their fingerprint and rebuilds them.
        stale = f"""v.document_id IN (
                        SELECT id FROM documents WHERE is_deleted AND purged_at IS NULL
                          AND organization_id IN (SELECT id FROM {scope})
                          AND id NOT IN (SELECT id FROM {rebuilt}))"""
        renamed = self._run(
            f"""UPDATE document_custom_property_values v
                SET property_name = d.name, property_key = d.key
                FROM custom_property_definitions d
                WHERE d.id = v.property_definition_id AND NOT d.is_removed AND {stale}
                  AND (v.property_name IS DISTINCT FROM d.name
                       OR v.property_key IS DISTINCT FROM d.key)"""
        )[0]
        options = self._name()
        self._run(
            f"""CREATE TEMP TABLE {options} AS
                WITH stored AS (
                    SELECT v.document_id, v.property_definition_id, v.option_ids,
                           v.option_names, unnest(v.option_ids) AS option_id,
                           generate_subscripts(v.option_ids, 1) AS position
                    FROM document_custom_property_values v
                    WHERE v.property_type IN ('select', 'multi_select') AND {stale}
                )
                SELECT s.document_id, s.property_definition_id,
                       coalesce(list(o.id ORDER BY s.position)
                                FILTER (WHERE o.id IS NOT NULL), []) AS ids,
                       coalesce(list(o.name ORDER BY s.position)
                                FILTER (WHERE o.id IS NOT NULL), []) AS names
                FROM stored s
                LEFT JOIN custom_property_options o
                  ON o.id = s.option_id AND NOT o.is_removed
                 AND o.property_definition_id = s.property_definition_id
                GROUP BY s.document_id, s.property_definition_id, s.option_ids, s.option_names
                HAVING ids IS DISTINCT FROM s.option_ids OR names IS DISTINCT FROM s.option_names"""
        )
        try:
            dropped = self._run(
                f"""DELETE FROM document_custom_property_values v USING {options} c
                    WHERE c.document_id = v.document_id
                      AND c.property_definition_id = v.property_definition_id
                      AND len(c.ids) = 0"""
            )[0]
            renamed_options = self._run(
                f"""UPDATE document_custom_property_values v
                    SET option_ids = c.ids, option_names = c.names,
                        raw_value = CASE v.property_type
                            WHEN 'select'
                                THEN json_object('name', c.names[1], 'optionId', c.ids[1])
                            ELSE to_json(list_transform(
                                generate_series(1, len(c.ids)),
                                lambda i: json_object('name', c.names[i], 'optionId', c.ids[i])))
                        END
                    FROM {options} c
                    WHERE c.document_id = v.document_id
                      AND c.property_definition_id = v.property_definition_id"""
            )[0]
        finally:
            self._run(f"DROP TABLE {options}")
        return renamed + renamed_options, dropped

    def link_values_to_current_definitions(self) -> int:
        """Values name their property by key only. Link those with no definition yet, or a
        removed one, to the organization's current definition of that key: a definition
        deleted and re-created under the same name keeps the key and gets a new id, and a
        value set again under it looks unchanged in the document list."""
        return self._run(
            """UPDATE document_custom_property_values v SET property_definition_id = d.id
               FROM custom_property_definitions d
               WHERE NOT d.is_removed
                 AND d.organization_id = v.organization_id AND d.key = v.property_key
                 AND (v.property_definition_id IS NULL OR v.property_definition_id IN (
                      SELECT id FROM custom_property_definitions WHERE is_removed))"""
        )[0]

    def append(self, table_name: str, rows: Rows) -> int:
        """Append rows as they are (statistics snapshots, tagging-rule applications)."""
        return self.insert_new(table_name, rows).inserted

    def write_state(self, stream: str, organization_id: str, state: dict[str, Any]) -> None:
        """Sync cursors, written in the same transaction as the rows they describe."""
        self._run(
            """INSERT INTO _papra_sync_state VALUES (?, ?, ?, now())
               ON CONFLICT (stream, organization_id)
               DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at""",
            [stream, organization_id, json.dumps(state, sort_keys=True, default=str)],
        )

    def record_run(self, run: dict[str, Any], streams: Sequence[dict[str, Any]]) -> None:
        """One row for the run and one per stream, for the run log."""
        self._run(
            """INSERT INTO _papra_sync_runs VALUES
               ($run_id, $mode, $started_at, $finished_at, $status, $organizations,
                $requests, $retries, $duration_seconds, $error)""",
            run,
        )
        if streams:
            frame = self._register(pd.DataFrame([{"run_id": run["run_id"], **s} for s in streams]))
            self._run(
                f"""INSERT INTO _papra_sync_run_streams
                    (run_id, stream, inserted, updated, unchanged, trashed, restored, purged,
                     removed, requests, retries, duration_seconds, untyped)
                    SELECT run_id, stream, inserted, updated, unchanged, trashed, restored,
                           purged, removed, requests, retries, duration_seconds, untyped
                    FROM {frame}"""
            )

    def untyped_values(self, organization_ids: Sequence[str]) -> list[tuple]:
        """``(organization_id, document_id, field, raw_value, reason)`` of each value still
        listed as untyped for documents of these organizations that Papra has not purged."""
        if not organization_ids:
            return []
        return self.con.execute(
            """SELECT u.organization_id, u.document_id, u.field, u.raw_value, u.reason
               FROM _papra_untyped_values u JOIN documents d ON d.id = u.document_id
               WHERE d.purged_at IS NULL AND u.organization_id IN (SELECT unnest(?))
               ORDER BY ALL""",
            [list(organization_ids)],
        ).fetchall()

    def replace_untyped_values(
        self, document_ids: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Make the list of values that could not be typed equal ``rows`` for these documents
        (those written this run): what a later run types or no longer sees leaves the list."""
        if document_ids:
            ids = self._register(pd.DataFrame({"id": list(dict.fromkeys(document_ids))}))
            self._run(
                f"DELETE FROM _papra_untyped_values WHERE document_id IN (SELECT id FROM {ids})"
            )
        if rows:
            frame = self._register(pd.DataFrame(list(rows)))
            self._run(
                f"""INSERT OR REPLACE INTO _papra_untyped_values
                    (document_id, organization_id, field, raw_value, reason, run_id, found_at)
                    SELECT document_id, organization_id, field, raw_value, reason, run_id,
                           found_at FROM {frame}"""
            )


def room_for_long_texts(limit: int, characters: int, ceiling: int) -> int:
    """The memory limit a write needs for ``characters`` of long texts: ``limit`` plus twice
    them (see :meth:`WriteSession.make_room_for_long_texts`). Past ``ceiling`` it raises
    :class:`WarehouseMemoryError`: beyond the machine's memory the kernel would kill the sync
    mid-write, without a word."""
    needed = limit + 2 * characters
    if needed > ceiling:
        raise WarehouseMemoryError(
            f"This run has fetched {characters / 1e6:,.0f} MB of texts of 64 KB or more, "
            "which DuckDB holds in memory until the write commits: writing them needs about "
            f"{needed / 1e6:,.0f} MB, more than the {ceiling / 1e6:,.0f} MB it may use here "
            "(by default 80% of the machine's or container's memory, as DuckDB counts it). "
            "Nothing was written; run this sync with more memory free."
        )
    return needed


@functools.cache
def machine_memory_ceiling() -> int:
    """DuckDB's own default memory limit, in bytes: 80% of the memory of the machine, or of
    the container's cgroup when it has a limit. Asked once per process: it takes a DuckDB
    instance of its own, which cost a long-text sync ~0.1 s of wall time among its HTTP
    threads, and the machine's memory does not change under a running process."""
    with duckdb.connect() as con:
        return size_in_bytes(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])


def _texts_of(documents: pd.DataFrame | Staged, where: str | None, part: str) -> str | None:
    """The condition that picks the texts of a part of ``documents`` (the part's rows are
    ``part``, a table or subquery). A hash of the key picks the same documents in both sets,
    but a range of ``_seq`` (a staged batch of long rows, see ``_long_text_parts``) means
    nothing in the texts' set: there the part's ids pick them (texts were lost otherwise)."""
    if isinstance(documents, Staged) and documents.long_parts:
        return f"id IN (SELECT id FROM {part})"
    return where


def _part_count(rows: int, text: int) -> int:
    return max(math.ceil(rows / ROWS_PER_STATEMENT), math.ceil(text / TEXT_PER_STATEMENT), 1)


def read_state(con: duckdb.DuckDBPyConnection, stream: str, organization_id: str) -> dict:
    """The last committed cursor of a stream for one organization ({} when none)."""
    rows = con.execute(
        "SELECT state FROM _papra_sync_state WHERE stream = ? AND organization_id = ?",
        [stream, organization_id],
    ).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}
