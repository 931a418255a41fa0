"""A code location for tests/defs/test_freshness.py: the test sets ``defs`` before loading it."""

defs = None
