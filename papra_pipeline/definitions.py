"""The Dagster code location (``workspace.yaml`` loads this module): ``dagster dev``.

Configured from the environment (a ``.env`` file in the repo root works): see
``.env.example`` for every variable.
"""

from papra_pipeline.defs import build_definitions

defs = build_definitions()
