"""Shared referentials: organisations, venues, halls, technical sheets, works, productions,
contributions, performances, seasons."""
