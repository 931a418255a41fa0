"""``PapraComponent``: the whole Papra integration as a Dagster component, configured in YAML.

``dg scaffold defs papra_pipeline.PapraComponent papra`` writes a ``defs.yaml`` that adds every
asset, check, job, schedule and sensor of this package to an existing ``dg`` project. What the
YAML leaves out comes from the ``PAPRA_*`` variables (:class:`papra_pipeline.settings.Settings`).
The key and the login can only be references to environment variables: a ``defs.yaml`` is
committed and shown in the UI, so a literal secret there is refused.
"""

from __future__ import annotations

import os
import re
import textwrap
from typing import Annotated

import dagster as dg
from dagster.components import Scaffolder, ScaffoldRequest
from pydantic import Field

from papra_pipeline.defs import build_definitions
from papra_pipeline.defs.names import Names
from papra_pipeline.defs.resources import resources_from_settings
from papra_pipeline.settings import Settings

# ``{{ env.NAME }}`` or ``{{ env('NAME') }}``, as written in the YAML (before rendering).
_ENV_REFERENCE = re.compile(
    r"""\{\{\s*env(?:\.(?P<dot>\w+)|\(\s*['"](?P<call>\w+)['"]\s*\))\s*\}\}"""
)
LOGIN_FIELDS = ("api_key", "email", "password")


def _environment_reference(field: str) -> dg.Resolver:
    """Accept only a reference to an environment variable; keep the variable's name."""

    def resolve(context: dg.ResolutionContext, written: str | None) -> str | None:
        if written is None:
            return None
        match = _ENV_REFERENCE.fullmatch(written.strip())
        if match is None:
            # The value itself stays out of the message: it may be the secret.
            raise ValueError(
                f"{field} must name an environment variable, like "
                f"'{{{{ env.{Settings.variable_of(field).name} }}}}', not hold the value: "
                "defs.yaml is committed to version control and shown in the Dagster UI."
            )
        return match["dot"] or match["call"]

    # Without rendering the template first: the reference is what is checked and kept.
    return dg.Resolver(resolve, model_field_type=str | None, inject_before_resolve=False)


# After resolution, the name of the variable (``dg.EnvVar("NAME")`` from Python works too).
EnvReference = str | None


class PapraScaffolder(Scaffolder):
    """Writes a commented ``defs.yaml`` that loads as it is when PAPRA_API_KEY is set."""

    def scaffold(self, request: ScaffoldRequest) -> None:
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(SCAFFOLD_YAML.format(type=request.type_name))


SCAFFOLD_YAML = textwrap.dedent(
    """\
    type: {type}

    attributes:
      # name: work                 # one more Papra server: a name prefixes all its definitions
      # The key and the login only as references to environment variables.
      api_url: "{{{{ env('PAPRA_API_URL', 'https://api.papra.app') }}}}"
      api_key: "{{{{ env.PAPRA_API_KEY }}}}"
      # email: "{{{{ env.PAPRA_EMAIL }}}}"        # a login, for tagging rules
      # password: "{{{{ env.PAPRA_PASSWORD }}}}"
      duckdb_path: papra.duckdb
      organizations: []            # empty: every organization the key sees
      content: true                # store the extracted text of documents
      reverify_days: 7             # every document's text and activity re-read within 7 days
      # tagging_rules: tagging-rules.yaml   # rules applied with the API key (documents:update)
      schedules: true              # include the schedules (they start stopped)
      sensors: true                # include the sensors (they start stopped)

    requirements:
      env:
        - PAPRA_API_URL
        - PAPRA_API_KEY
    """
)


@dg.scaffold_with(PapraScaffolder)
class PapraComponent(dg.Component, dg.Resolvable, dg.Model):
    """Papra in DuckDB: every asset, check, job, schedule and sensor of papra-pipeline.

    Attributes left out come from the PAPRA_* environment variables.
    """

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Prefixes every asset key, job, schedule, sensor, resource, pool and group "
        "(and the default DuckDB file and inbox) so that several Papra servers fit in one "
        "project: 'work' gives work/papra_documents, work_papra_full_sync_job, "
        "work_papra.duckdb. Unset: today's names.",
    )
    api_url: str | None = Field(default=None, description="Papra server URL (PAPRA_API_URL).")
    api_key: Annotated[EnvReference, _environment_reference("api_key")] = Field(
        default=None,
        description="Reference to the variable holding the API key, e.g. "
        "'{{ env.PAPRA_API_KEY }}' (the default).",
    )
    email: Annotated[EnvReference, _environment_reference("email")] = Field(
        default=None, description="Reference to the login email, e.g. '{{ env.PAPRA_EMAIL }}'."
    )
    password: Annotated[EnvReference, _environment_reference("password")] = Field(
        default=None,
        description="Reference to the login password, e.g. '{{ env.PAPRA_PASSWORD }}'.",
    )
    duckdb_path: str | None = Field(
        default=None, description="The warehouse's DuckDB file (PAPRA_DUCKDB_PATH)."
    )
    webhook_inbox: str | None = Field(
        default=None,
        description="The webhook inbox (PAPRA_WEBHOOK_INBOX); unset: beside the DuckDB file.",
    )
    organizations: list[str] = Field(
        default_factory=list, description="Organization ids to sync; empty means all."
    )
    content: bool = Field(default=True, description="Store the extracted text of documents.")
    reverify_days: float | None = Field(
        default=None,
        ge=0,
        description="Re-read every document's text and activity within this many days in full "
        "syncs (0: only when they can have changed); unset: PAPRA_REVERIFY_DAYS, default 7.",
    )
    tagging_rules: str | None = Field(
        default=None,
        description="YAML file of tagging rules applied with the API key "
        "(PAPRA_TAGGING_RULES), relative to where Dagster runs.",
    )
    schedules: bool = Field(default=True, description="Include the schedules (start stopped).")
    sensors: bool = Field(default=True, description="Include the sensors (start stopped).")

    def settings(self) -> Settings:
        """The environment's settings with what this YAML sets on top; with a ``name``, the
        environment's files get the name (each instance writes a file of its own)."""
        settings = Settings.from_env()
        names = Names(self.name)
        changes: dict[str, object] = {}
        if self.api_url:
            changes["api_url"] = self.api_url
        changes["duckdb_path"] = self.duckdb_path or names.file(settings.duckdb_path)
        if self.webhook_inbox or settings.webhook_inbox:
            changes["webhook_inbox"] = self.webhook_inbox or names.file(settings.webhook_inbox)
        if self.reverify_days is not None:
            changes["reverify_days"] = self.reverify_days
        if self.tagging_rules:
            changes["tagging_rules"] = self.tagging_rules
        for field in LOGIN_FIELDS:
            reference = getattr(self, field)
            if reference is not None:
                changes[field] = os.environ.get(reference) or None
        return settings.replace(**changes)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        settings = self.settings()
        references = {f: getattr(self, f) for f in LOGIN_FIELDS if getattr(self, f) is not None}
        resources = resources_from_settings(
            settings,
            secret_variables=references,
            organization_ids=list(self.organizations),
            content=self.content,
        )
        return build_definitions(
            resources, settings, schedules=self.schedules, sensors=self.sensors, name=self.name
        )
