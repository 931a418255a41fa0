"""The sync's clock: one place, so runs, statistics and tagging stamp time alike. Each entry
point takes ``now`` as a parameter defaulting to it, so tests can set the time."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
