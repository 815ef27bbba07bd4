"""The tamper-evident journal of accesses and actions (DESIGN.md §5)."""
