"""OAuth2 authorization server of the node (authlib): clients, grants, tokens, scopes, mandates."""
