"""Small building blocks shared by the fake Papra server: errors, clock, ids and dates."""

from __future__ import annotations

import functools
import random
import re
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime

ID_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_ALPHABET = string.ascii_letters + string.digits
#: 2026-01-05T09:00:00.000Z: the default fake clock starts here so recorded data is reproducible.
DEFAULT_EPOCH_MS = 1_767_603_600_000
DAY_MS = 86_400_000


class PapraError(Exception):
    """An error the real server would answer with; handlers turn it into a JSON response.

    The Python-level operations raise it too, so tests see the same codes as HTTP clients.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict] | None = None,
        *,
        wrapped: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        # better-auth (login layer) answers {"message","code"} without the "error" wrapper.
        self.wrapped = wrapped
        self.headers = headers or {}

    def body(self) -> dict:
        if not self.wrapped:
            return {"message": self.message, "code": self.code}
        error: dict = {"message": self.message, "code": self.code}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def internal_error() -> PapraError:
    return PapraError(500, "internal.error", "An error occurred")


def not_in_organization() -> PapraError:
    return PapraError(403, "user.not_in_organization", "You are not part of this organization.")


def unauthorized() -> PapraError:
    return PapraError(401, "auth.unauthorized", "Unauthorized")


class FakeClock:
    """Monotonic fake clock in epoch milliseconds.

    Every call advances it by ``step_ms`` so records created one after another get distinct,
    strictly increasing timestamps and list orderings are stable across runs. With ``step_ms``
    set to 0, events share a millisecond, as they do on a busy Papra (whose activity list has
    no tie-breaker: entries of one millisecond come in the order they were written).
    """

    def __init__(self, start_ms: int = DEFAULT_EPOCH_MS, step_ms: int = 1) -> None:
        self._now = start_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        self._now += self.step_ms
        return self._now

    def peek(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        """Jump forward, e.g. to spread generated documents over months."""
        self._now += ms


ClockFn = Callable[[], "int | datetime"]


def to_ms(value: int | float | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


class IdFactory:
    """cuid2-like ids (``prefix_`` + 24 chars of [a-z0-9]) and API tokens from a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def new(self, prefix: str) -> str:
        return prefix + "_" + "".join(self._rng.choices(ID_ALPHABET, k=24))

    def token(self, length: int = 64) -> str:
        return "".join(self._rng.choices(TOKEN_ALPHABET, k=length))

    def bare(self, length: int = 24) -> str:
        return "".join(self._rng.choices(ID_ALPHABET, k=length))


#: What a JavaScript Date holds: 100,000,000 days either side of 1970, in milliseconds.
JS_DATE_LIMIT_MS = 8_640_000_000_000_000
_YEAR_1_MS = -62_135_596_800_000
_YEAR_10000_MS = 253_402_300_800_000


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return (
        era * 146_097
        + year_of_era * 365
        + year_of_era // 4
        - year_of_era // 100
        + (day_of_year - 719_468)
    )


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`days_from_civil`."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


@functools.lru_cache(maxsize=1 << 16)
def _iso(ms: int) -> str:
    if not _YEAR_1_MS <= ms < _YEAR_10000_MS:
        return _extended_iso(ms)
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - fastest on the hot path
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        ms % 1000,
    )


def _extended_iso(ms: int) -> str:
    """toISOString past year 9999 or before year 1: six digits and a sign, year 0 as 0000."""
    days, rest = divmod(ms, DAY_MS)
    year, month, day = civil_from_days(days)
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    digits = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{digits}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def iso(ms: int | None) -> str | None:
    """Format epoch ms the way JSON.stringify(new Date(ms)) does (cached: lists repeat them).

    Papra keeps dates as epoch milliseconds and sends them through JavaScript's Date, so
    years outside 0..9999 come out as ``+020244-05-01T00:00:00.000Z`` or ``-000500-...``.
    """
    return None if ms is None else _iso(ms)


_ISO_RE = re.compile(
    r"^([+-]\d{6}|\d{4,6})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_SLASH_RE = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_WORDY_RE = re.compile(r"^([a-z]+)\s+(\d{1,2}),?\s+(\d{4})$", re.IGNORECASE)


def parse_js_date(value: str | int | float, *, now_ms: int | None = None) -> int | None:
    """Approximate ``new Date(value)``: epoch ms, or None for an invalid date.

    Non-ISO forms are parsed as UTC (the real server uses its local timezone).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value == value and abs(value) <= JS_DATE_LIMIT_MS else None
    text = value.strip()
    if text == "now" and now_ms is not None:
        return now_ms
    try:
        m = _ISO_RE.match(text)
        if m:
            return _iso_ms(*m.groups())
        m = _SLASH_RE.match(text)
        if m:
            return int(datetime(*map(int, m.groups()), tzinfo=UTC).timestamp() * 1000)
        m = _WORDY_RE.match(text)
        if m and m.group(1).lower() in _MONTHS:
            dt = datetime(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)), tzinfo=UTC)
            return int(dt.timestamp() * 1000)
    except ValueError:
        return None
    return None


def _iso_ms(
    year: str,
    month: str | None,
    day: str | None,
    hh: str | None,
    mi: str | None,
    ss: str | None,
    frac: str | None,
    tz: str | None,
) -> int | None:
    """Epoch ms of an ISO date, for every year a JavaScript Date holds (``+020244``, ``0000``,
    ``-000500``; ``-000000`` is invalid, as in JavaScript); None when it is not a date."""
    if year == "-000000":
        return None
    y, mo, d = int(year), int(month or 1), int(day or 1)
    h, mi_, s = int(hh or 0), int(mi or 0), int(ss or 0)
    if not (1 <= mo <= 12 and h <= 23 and mi_ <= 59 and s <= 59):
        return None
    days = days_from_civil(y, mo, d)
    if not 1 <= d <= days_from_civil(y + (mo == 12), mo % 12 + 1, 1) - days_from_civil(y, mo, 1):
        return None
    ms = (((days * 24 + h) * 60 + mi_) * 60 + s) * 1000 + int((frac or "0").ljust(3, "0")[:3])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return ms if abs(ms) <= JS_DATE_LIMIT_MS else None


def property_key(name: str) -> str:
    """Papra's generatePropertyKey: letters and digits only, lowercased."""
    return "".join(ch for ch in name if ch.isalnum()).lower()
