"""federation package: filled by later issues (see DESIGN.md §2)."""
