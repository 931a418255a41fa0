"""Benchmark of papra-pipeline against the HTTP floor (issue 5): ``python -m benchmarks``.

See ``benchmarks/README.md``. Nothing here is imported by the package or its tests.
"""
