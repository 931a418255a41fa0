"""Every ``PAPRA_*`` environment variable, parsed in one place.

The client's ``from_env``, the CLI, the Dagster resources and definitions and the Dagster
component all read :class:`Settings`, so a variable means the same thing everywhere. Adding one
is one line in the class body: a field declared with :func:`variable`; the README's table and
``.env.example`` are checked against the declarations by the tests.

This module is the bottom layer: it imports nothing else from the package (and nothing heavy),
so the client can use it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# A DuckDB memory size; the warehouse interpolates it into a SET statement, so it is checked
# against this pattern wherever it comes from.
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*[KMGT]i?B", re.IGNORECASE)
# A DuckDB release whose storage format a file is written in; the warehouse puts it into an
# ATTACH statement, so it is checked against this pattern wherever it comes from.
STORAGE_VERSION = re.compile(r"v(?P<release>\d+\.\d+\.\d+)|latest")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message says which."""


@dataclass(frozen=True)
class Variable:
    """How one environment variable becomes a settings field."""

    name: str
    parse: Callable[[str], Any]
    description: str
    secret: bool = False


def variable(
    name: str,
    default: Any,
    parse: Callable[[str], Any],
    description: str,
    *,
    secret: bool = False,
) -> Any:
    """A settings field read from ``name``; unset or blank means ``default``.

    Secrets are left out of the repr and out of every error message.
    """
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={"variable": Variable(name, parse, description, secret)},
    )


# ---------------------------------------------------------------------------------- parsers
# Each takes the stripped, non-empty text of the variable and raises ValueError with what a
# valid value looks like; Settings.from_env adds the variable's name.


def text(value: str) -> str:
    return value


def integer(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"is not a whole number (>= {minimum})") from None
        if number < minimum:
            raise ValueError(f"must be >= {minimum}")
        return number

    return parse


def positive_number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number such as 30 or 0.5") from None
    if not number > 0:
        raise ValueError("must be greater than 0")
    return number


def non_negative_number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number such as 7 or 0.5") from None
    if not 0 <= number < math.inf:  # also refuses nan
        raise ValueError("must be 0 or more, and finite")
    return number


def flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"is not one of {', '.join(_TRUE + _FALSE)}")


def id_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def memory_size(value: str) -> str:
    if not MEMORY_SIZE.fullmatch(value):
        raise ValueError("is not a size such as 96MB or 1GB")
    return value


def storage_version(value: str) -> str:
    match = STORAGE_VERSION.fullmatch(value)
    if not match:
        raise ValueError("is not a DuckDB release such as v1.2.0, or latest")
    if match["release"] and tuple(int(part) for part in match["release"].split(".")) < (1, 2, 0):
        raise ValueError("must be v1.2.0 or later: older DuckDB cannot store zstd columns")
    return value


def cron(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError("is not a five-field cron expression such as '0 * * * *'")
    return value


def iso_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a date such as 2024-01-01") from None
    return value


# ---------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """What the environment configures, parsed; the defaults are what an unset variable means.

    The order of the fields is the order of the README's table.
    """

    api_url: str = variable(
        "PAPRA_API_URL", "https://api.papra.app", text, "base URL of your Papra server"
    )
    api_key: str | None = variable(
        "PAPRA_API_KEY",
        None,
        text,
        "an API key with `organizations:read`, `documents:read`, `tags:read`, "
        "`custom-properties:read`",
        secret=True,
    )
    email: str | None = variable(
        "PAPRA_EMAIL",
        None,
        text,
        "optional, with `PAPRA_PASSWORD`: a login for the routes Papra keeps session-only "
        "(tagging rules list and apply)",
    )
    password: str | None = variable(
        "PAPRA_PASSWORD", None, text, "the password of that login", secret=True
    )
    allow_insecure_http: bool = variable(
        "PAPRA_ALLOW_INSECURE_HTTP",
        False,
        flag,
        "`1` allows sending the key over plain `http://` to a host that is not loopback",
    )
    timeout_seconds: float = variable(
        "PAPRA_TIMEOUT_SECONDS", 30.0, positive_number, "seconds to wait for each Papra response"
    )
    max_retries: int = variable(
        "PAPRA_MAX_RETRIES",
        5,
        integer(minimum=0),
        "retries of a request that timed out or got 429 or 5xx (`0`: none)",
    )
    max_concurrency: int = variable(
        "PAPRA_MAX_CONCURRENCY", 8, integer(minimum=1), "requests in flight at once during a sync"
    )
    duckdb_path: str = variable(
        "PAPRA_DUCKDB_PATH",
        "papra.duckdb",
        text,
        "the DuckDB file you query, relative to where the command or Dagster runs; syncs keep "
        "their own copy beside it (`.papra.duckdb.sync`)",
    )
    write_memory_limit: str = variable(
        "PAPRA_WRITE_MEMORY_LIMIT",
        "96MB",
        memory_size,
        "DuckDB's memory limit for a sync's final write; beyond it DuckDB spills to "
        "`.<file>.sync.tmp` beside the file",
    )
    reader_storage_version: str = variable(
        "PAPRA_READER_STORAGE_VERSION",
        "v1.2.0",
        storage_version,
        "the oldest DuckDB release that must open the DuckDB file: syncs write it in that "
        "release's storage format (`v1.2.0`: DuckDB 1.2 and later; `v2.0.0` or `latest` when "
        "every reader is on DuckDB 2), see [Which DuckDB opens it](#which-duckdb-opens-it)",
    )
    reverify_days: float = variable(
        "PAPRA_REVERIFY_DAYS",
        7.0,
        non_negative_number,
        "full syncs re-read every document's text and activity within this many days (`0` "
        "turns it off), see [What each mode catches](#what-each-mode-catches)",
    )
    webhook_secret: str | None = variable(
        "PAPRA_WEBHOOK_SECRET",
        None,
        text,
        "the secret Papra signs webhook deliveries with: `webhooks serve` refuses to start "
        "without it, `webhooks register` gives it to Papra",
        secret=True,
    )
    webhook_inbox: str | None = variable(
        "PAPRA_WEBHOOK_INBOX",
        None,
        text,
        "the webhook inbox the receiver fills and syncs drain (default beside the DuckDB "
        "file: `papra.webhooks.sqlite`)",
    )
    tagging_rules: str | None = variable(
        "PAPRA_TAGGING_RULES",
        None,
        text,
        "a YAML file of tagging rules the pipeline applies with the API key (`rules plan`, "
        "`rules apply`, the Dagster apply job and sensor), see "
        "[Tagging rules with an API key](#tagging-rules-with-an-api-key)",
    )
    full_sync_cron: str = variable(
        "PAPRA_FULL_SYNC_CRON",
        "0 * * * *",
        cron,
        "Dagster: when `papra_full_sync_schedule` runs (UTC)",
    )
    statistics_cron: str = variable(
        "PAPRA_STATISTICS_CRON",
        "30 * * * *",
        cron,
        "Dagster: when `papra_statistics_snapshot_schedule` runs (UTC)",
    )
    change_sensor_seconds: int = variable(
        "PAPRA_CHANGE_SENSOR_SECONDS",
        120,
        integer(minimum=1),
        "Dagster: seconds between two probes of `papra_change_sensor`",
    )
    tagging_sensor_seconds: int = variable(
        "PAPRA_TAGGING_SENSOR_SECONDS",
        300,
        integer(minimum=1),
        "Dagster: seconds between two looks of `papra_tagging_rules_sensor`",
    )
    webhook_sensor_seconds: int = variable(
        "PAPRA_WEBHOOK_SENSOR_SECONDS",
        10,
        integer(minimum=1),
        "Dagster: seconds between two looks of `papra_webhook_sensor` at the inbox",
    )
    reapply_rule_ids: tuple[str, ...] = variable(
        "PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS",
        (),
        id_list,
        "Dagster: comma-separated tagging-rule ids applied again whenever a sync brought new "
        "documents",
    )
    freshness_hours: float = variable(
        "PAPRA_FRESHNESS_HOURS",
        2.0,
        positive_number,
        "Dagster: the synced tables' freshness policy fails when no sync has materialized "
        "them for this many hours",
    )
    reports_start_date: str = variable(
        "PAPRA_REPORTS_START_DATE",
        "2024-01-01",
        iso_date,
        "Dagster: first day of the daily report partitions",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse every variable of ``environ`` (default ``os.environ``); unset means default."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field, var in _declared():
            raw = environ.get(var.name, "").strip()
            if not raw:
                continue
            try:
                values[field.name] = var.parse(raw)
            except ValueError as exc:
                shown = "(the value is hidden)" if var.secret else repr(raw)
                raise SettingsError(f"{var.name}={shown} {exc}") from None
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (a component's YAML, a test)."""
        return dataclasses.replace(self, **changes)

    @property
    def has_login(self) -> bool:
        """Whether both halves of the session login are set (tagging rules need them)."""
        return bool(self.email and self.password)

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of ``PapraClient`` these settings determine."""
        return {
            "base_url": self.api_url,
            "api_key": self.api_key,
            "email": self.email,
            "password": self.password,
            "timeout": self.timeout_seconds,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
            "allow_insecure_http": self.allow_insecure_http,
        }

    @classmethod
    def variables(cls) -> list[Variable]:
        """Every declared variable, in declaration order (the README's table)."""
        return [var for _, var in _declared()]

    @classmethod
    def variable_of(cls, field_name: str) -> Variable:
        """The variable behind one field, e.g. ``"api_key"`` -> ``PAPRA_API_KEY``."""
        return dict((f.name, var) for f, var in _declared())[field_name]


def _declared() -> Iterator[tuple[dataclasses.Field, Variable]]:
    for field in dataclasses.fields(Settings):
        if "variable" in field.metadata:
            yield field, field.metadata["variable"]
