"""Async, concurrent replicator for OpenStack Glance image services."""

__version__ = "0.1.0"
