"""Async, concurrent replicator for OpenStack Glance image services."""
