"""A faithful, stateful, in-memory fake Papra server for tests, the demo and benchmarks.

``FakePapra`` holds the state and answers ``httpx`` requests like Papra 26.6.1 does (see
``tests/fixtures/papra-samples``); ``serve`` exposes it over loopback HTTP; ``populate``
fills it with deterministic realistic data.
"""

from papra_pipeline.testing.common import FakeClock, PapraError
from papra_pipeline.testing.data import populate
from papra_pipeline.testing.fake import FakePapra, RequestRecord
from papra_pipeline.testing.faults import FAULT_KINDS, Faults
from papra_pipeline.testing.models import PERMISSIONS
from papra_pipeline.testing.server import run_fake_server, serve

__all__ = [
    "FAULT_KINDS",
    "PERMISSIONS",
    "FakeClock",
    "FakePapra",
    "Faults",
    "PapraError",
    "RequestRecord",
    "run_fake_server",
    "populate",
    "serve",
]
