"""This node: identity, key pair, roles and /.well-known metadata."""
