"""A structure node's part of a ministry campaign (stub — see /work/notes/issue7.md §2)."""
