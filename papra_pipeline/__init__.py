"""papra-pipeline: an analytics copy of a Papra server in DuckDB, orchestrated by Dagster.

Layers, each importing only the ones before it: ``client`` (Papra HTTP API) ->
``warehouse`` (DuckDB) -> ``sync`` (extract and load) -> ``defs`` (Dagster) and ``cli``.
``testing`` holds the fake Papra server used by tests, the demo and the benchmarks.
"""

__version__ = "0.1.0"

# ``papra_pipeline.PapraComponent`` is what ``dg`` lists and scaffolds (the package is registered
# in the ``dagster_dg_cli.registry_modules`` entry point group). Loaded on first use, so that
# importing the client does not import Dagster.
_LAZY = {"PapraComponent": "papra_pipeline.defs.component"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
