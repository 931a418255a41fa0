"""papra-pipeline: an analytics copy of a Papra server in DuckDB, orchestrated by Dagster.

Layers, each importing only the ones before it: ``client`` (Papra HTTP API) ->
``warehouse`` (DuckDB) -> ``sync`` (extract and load) -> ``defs`` (Dagster) and ``cli``.
``testing`` holds the fake Papra server used by tests, the demo and the benchmarks.
"""

__version__ = "0.1.0"
