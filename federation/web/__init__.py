"""Human pages of the federation: the professionals' search page /recherche/ (registry only)."""
