"""Shared records: global URIs, monotonic versions, tombstones and the node's change feed."""
