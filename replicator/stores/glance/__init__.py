"""Glance stores: one client core (`core`), and what differs per API version (`v2`, `v1`)."""
