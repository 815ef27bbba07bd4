"""Professional directory, the licence registry and professional accounts (DESIGN.md §1, §5)."""
