"""Ticketing figures, the quarterly SIBIL-shaped declaration and local aggregates; rows never leave the node."""
