"""Aggregation campaigns of the ministry node (stub — see /work/notes/issue7.md §3)."""
