"""Resources: the Papra API client and the DuckDB warehouse, configured from the settings.

The key and the login reach Dagster only as ``EnvVar`` references, so the UI and the run config
show the variable names, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from papra_pipeline.client import PapraClient
from papra_pipeline.settings import Settings
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.inbox import inbox_path

DEFAULT_BASE_URL = Settings.api_url
DEFAULT_DUCKDB_PATH = Settings.duckdb_path


class PapraResource(dg.ConfigurableResource):
    """A Papra server (URL, API key, a login for tagging rules) and what this deployment reads
    from it."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="Papra API root URL.")
    api_key: str = Field(description="Papra API key (ppapi_...), read from PAPRA_API_KEY.")
    email: str | None = Field(
        default=None, description="Login email for tagging rules (session only)."
    )
    password: str | None = Field(default=None, description="Login password for tagging rules.")
    timeout: float = Field(default=Settings.timeout_seconds, description="Seconds per request.")
    max_retries: int = Field(
        default=Settings.max_retries, description="Retries of 429/5xx/timeouts per request."
    )
    max_concurrency: int = Field(
        default=Settings.max_concurrency, description="Parallel requests during a sync."
    )
    allow_insecure_http: bool = Field(
        default=False, description="Allow credentials over plain http to a non-loopback host."
    )
    # What a sync reads besides the connection. They belong to the deployment (the component's
    # YAML sets them) rather than to one run, so runs requested by sensors follow them too.
    organization_ids: list[str] = Field(
        default_factory=list,
        description="Sync only these organizations; empty means every one the key sees.",
    )
    content: bool = Field(default=True, description="Store the extracted text of documents.")
    reverify_days: float = Field(
        default=Settings.reverify_days,
        description="Full syncs re-read every document's text and activity within this many "
        "days (PAPRA_REVERIFY_DAYS; 0: only when they can have changed).",
    )
    tagging_rules: str | None = Field(
        default=None,
        description="YAML file of tagging rules applied with the API key (PAPRA_TAGGING_RULES).",
    )

    @property
    def has_session(self) -> bool:
        """Whether email and password are configured (tagging rules need them)."""
        return bool(self.email and self.password)

    def get_client(self) -> PapraClient:
        """A new client; use it as a context manager so its connections are closed."""
        return PapraClient(
            self.base_url,
            self.api_key,
            email=self.email if self.has_session else None,
            password=self.password if self.has_session else None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            allow_insecure_http=self.allow_insecure_http,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file holding the analytics copy."""

    path: str = Field(default=DEFAULT_DUCKDB_PATH, description="DuckDB file path.")
    write_memory_limit: str = Field(
        default=Settings.write_memory_limit,
        description="DuckDB's memory limit for a sync's final write (PAPRA_WRITE_MEMORY_LIMIT).",
    )
    reader_storage_version: str = Field(
        default=Settings.reader_storage_version,
        description="The oldest DuckDB release that must open the file, whose storage format "
        "syncs write it in (PAPRA_READER_STORAGE_VERSION).",
    )

    webhook_inbox: str | None = Field(
        default=None,
        description="The webhook inbox (PAPRA_WEBHOOK_INBOX); unset: beside the DuckDB file.",
    )

    def inbox_path(self) -> Path:
        """Where `papra-pipeline webhooks serve` stores deliveries and syncs drain them."""
        return inbox_path(self.path, self.webhook_inbox)

    def get_warehouse(self, *, lock_timeout: float = 30.0) -> Warehouse:
        """The warehouse; sensors pass a short ``lock_timeout`` so a tick never hangs."""
        return Warehouse(
            self.path,
            lock_timeout=lock_timeout,
            write_memory_limit=self.write_memory_limit,
            reader_storage_version=self.reader_storage_version,
        )


def resources_from_settings(
    settings: Settings,
    *,
    secret_variables: Mapping[str, str] | None = None,
    **sync_scope: Any,
) -> dict[str, dg.ConfigurableResource]:
    """The ``papra`` and ``warehouse`` resources for ``settings``.

    ``secret_variables`` names the variable holding each field of the login (``api_key``,
    ``email``, ``password``), by default its ``PAPRA_*`` variable: the resource gets an
    ``EnvVar``, read when a run starts. ``sync_scope`` sets ``organization_ids``, ``content``,
    ``reverify_days`` and ``tagging_rules`` of the ``papra`` resource.
    """
    variables = {
        name: Settings.variable_of(name).name for name in ("api_key", "email", "password")
    } | dict(secret_variables or {})
    return {
        "papra": PapraResource(
            base_url=settings.api_url,
            # Always a reference: a code location loads without a key, and a run without one
            # fails with Dagster's message naming the variable.
            api_key=dg.EnvVar(variables["api_key"]),
            # Optional, so references only when set: Dagster fails a run on an unset EnvVar.
            email=dg.EnvVar(variables["email"]) if settings.email else None,
            password=dg.EnvVar(variables["password"]) if settings.password else None,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
            max_concurrency=settings.max_concurrency,
            allow_insecure_http=settings.allow_insecure_http,
            **(
                {"reverify_days": settings.reverify_days, "tagging_rules": settings.tagging_rules}
                | sync_scope
            ),
        ),
        "warehouse": WarehouseResource(
            path=settings.duckdb_path,
            write_memory_limit=settings.write_memory_limit,
            reader_storage_version=settings.reader_storage_version,
            webhook_inbox=settings.webhook_inbox,
        ),
    }


def resources_from_env(
    environ: Mapping[str, str] | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """The resources as users deploy them, from the PAPRA_* variables."""
    return resources_from_settings(Settings.from_env(environ))
