"""A small Glance-compatible server: the v2 (and v1) calls the replicator makes, with fault switches.

For the demo, the benchmarks and fault-injection tests. Every behaviour it imitates is checked
against real Glance by `tests/test_conformance.py`. Of the rest of the package it uses only
`units` and its error (sizes as people write them, for its fault switches).

Reading order: `app` (routes), `repository` (the one image model) with `paging` (orders and
indexes) and `storage` (files), `v2` and `v1` (the two APIs, translations only), `data` (image
bytes), `faults` with `switches` (misbehaviour on demand) and `control` (the paths that switch it).
"""

from replicator.server.app import create_app
from replicator.server.config import FaultConfig, ServerConfig

__all__ = ["FaultConfig", "ServerConfig", "create_app"]
