"""The Dagster code location: ``dg dev`` loads it (``[tool.dg]`` in pyproject.toml), and so
does ``dagster dev`` through ``workspace.yaml``.

Configured from the environment (a ``.env`` file in the repo root works): see
``.env.example`` for every variable.
"""

from papra_pipeline.defs import build_definitions

defs = build_definitions()
