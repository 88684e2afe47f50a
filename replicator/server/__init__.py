"""A small Glance-compatible server: the v2 calls the replicator makes, with fault switches.

For the demo, the benchmarks and fault-injection tests. Every behaviour it imitates is checked
against real Glance by `tests/test_conformance.py`. It depends on nothing else in the package.
"""

from replicator.server.app import create_app
from replicator.server.config import FaultConfig, ServerConfig

__all__ = ["FaultConfig", "ServerConfig", "create_app"]
