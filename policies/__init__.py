"""Usage policies (ODRL profile), the decision point and its enforcement in the API (DESIGN.md §5)."""
