"""Consent records, receipts, data-sharing agreements and the person's portal (DESIGN.md §2, issue 5)."""
