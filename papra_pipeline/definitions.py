"""The Dagster code location: ``dg dev`` loads it (``[tool.dg]`` in pyproject.toml), and so
does ``dagster dev`` through ``workspace.yaml``.

Configured from the environment (a ``.env`` file in the repo root works): see
``.env.example`` for every variable.
"""

import dagster as dg

from papra_pipeline.defs import build_definitions, retention

# The run retention job serves the deployment (deploy/), once per code location.
defs = dg.Definitions.merge(build_definitions(), retention.retention_definitions)
