"""Human pages: the node's home page and shared layout (French first)."""
