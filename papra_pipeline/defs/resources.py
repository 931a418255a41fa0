"""Resources: the Papra API client and the DuckDB warehouse, configured from the environment.

Secrets reach Dagster only as ``EnvVar`` references, so the UI and the run config show the
variable names, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from papra_pipeline.client import PapraClient
from papra_pipeline.warehouse import Warehouse

DEFAULT_BASE_URL = "https://api.papra.app"
DEFAULT_DUCKDB_PATH = "papra.duckdb"


class PapraResource(dg.ConfigurableResource):
    """A Papra server: URL, API key and, for tagging rules, a login (email and password)."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="Papra API root URL.")
    api_key: str = Field(description="Papra API key (ppapi_...), read from PAPRA_API_KEY.")
    email: str | None = Field(
        default=None, description="Login email for tagging rules (session only)."
    )
    password: str | None = Field(default=None, description="Login password for tagging rules.")
    timeout: float = Field(default=30.0, description="Seconds per request.")
    max_retries: int = Field(default=5, description="Retries of 429/5xx/timeouts per request.")
    max_concurrency: int = Field(default=8, description="Parallel requests during a sync.")
    allow_insecure_http: bool = Field(
        default=False, description="Allow credentials over plain http to a non-loopback host."
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

    def get_warehouse(self, *, lock_timeout: float = 30.0) -> Warehouse:
        """The warehouse; sensors pass a short ``lock_timeout`` so a tick never hangs."""
        return Warehouse(self.path, lock_timeout=lock_timeout)


def _env_or(environ: Mapping[str, str], name: str, default: str | None) -> str | dg.EnvVar | None:
    """An ``EnvVar`` when the variable is set (resolved at run time), else the default.

    Optional variables cannot be plain ``EnvVar``s: Dagster fails a run on an unset one.
    """
    return dg.EnvVar(name) if environ.get(name) else default


def resources_from_env(
    environ: Mapping[str, str] | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """The ``papra`` and ``warehouse`` resources as users deploy them, from PAPRA_* variables."""
    environ = os.environ if environ is None else environ
    return {
        "papra": PapraResource(
            base_url=_env_or(environ, "PAPRA_API_URL", DEFAULT_BASE_URL),
            api_key=dg.EnvVar("PAPRA_API_KEY"),
            email=_env_or(environ, "PAPRA_EMAIL", None),
            password=_env_or(environ, "PAPRA_PASSWORD", None),
            timeout=float(environ.get("PAPRA_TIMEOUT_SECONDS") or 30.0),
            max_retries=int(environ.get("PAPRA_MAX_RETRIES") or 5),
            max_concurrency=int(environ.get("PAPRA_MAX_CONCURRENCY") or 8),
            allow_insecure_http=environ.get("PAPRA_ALLOW_INSECURE_HTTP", "").strip().lower()
            in ("1", "true", "yes"),
        ),
        "warehouse": WarehouseResource(
            path=_env_or(environ, "PAPRA_DUCKDB_PATH", DEFAULT_DUCKDB_PATH)
        ),
    }
