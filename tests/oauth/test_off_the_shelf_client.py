"""The vendor developer's path of docs/oauth.md, with an off-the-shelf OAuth client over real HTTP.

authlib's httpx `OAuth2Client` discovers the token endpoint from the RFC 8414 metadata, gets a
client-credentials token, and calls the API with it: allowed where the client's scopes say,
refused with 403 `insufficient_scope` everywhere else, and the token verifies with the node's
published JWKS as any resource server would check it.
"""

from __future__ import annotations

from typing import Any

import authlib.deprecate  # noqa: F401 - its global "always" filter must be in place before this module's own
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from dataspace.node import keys
from dataspace.oauth.clients import create_client
from dataspace.oauth.models import Client
from tests.factories import OrganisationFactory

# Importing authlib's httpx client warns that it prefers the `httpx2` fork: not ours to fix, and
# silenced here only (authlib.deprecate installs an "always" filter when first imported, hence the
# import above, so that this narrower filter, applied per test, comes first).
pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:The httpx module is deprecated:DeprecationWarning"),
]


@pytest.fixture
def node(live_server: Any, settings: Any, transactional_db: Any) -> str:
    """A node served over real HTTP on loopback, whose issuer is the URL the client talks to."""
    settings.NODE_BASE_URL = live_server.url
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    # The loopback exception to authlib's https rule is honoured for this base URL.
    assert live_server.url.startswith("http://localhost:")
    assert settings.OAUTH_ALLOW_INSECURE_LOOPBACK
    if not keys.load_keys():
        keys.generate_key("20260101T000000Z")
    return str(live_server.url)


@pytest.fixture
def vendor(node: str) -> tuple[str, str]:
    """A reader client of a vendor, registered by the structure: it may read referentials and sync."""
    issued = create_client(
        name="Agenda culturel Exemple",
        owner=OrganisationFactory(name="Éditeur Exemple"),
        scopes="referentials:read federation:sync",
        grant_types=["client_credentials"],
        kind=Client.Kind.READER,
    )
    assert issued.secret is not None
    return issued.client.client_id, issued.secret


def oauth_client(node: str, client_id: str, secret: str, **kwargs: Any) -> Any:
    from authlib.integrations.httpx_client import OAuth2Client

    metadata = httpx.get(f"{node}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == node
    return OAuth2Client(client_id, secret, token_endpoint=metadata["token_endpoint"], timeout=10, **kwargs)


def test_client_credentials_token_then_api_as_the_scopes_say(node: str, vendor: tuple[str, str]) -> None:
    client_id, secret = vendor
    with oauth_client(node, client_id, secret, scope="referentials:read federation:sync") as client:
        token = client.fetch_token(grant_type="client_credentials")
        assert token["token_type"].lower() == "bearer"
        assert set(token["scope"].split()) == {"referentials:read", "federation:sync"}
        assert 0 < token["expires_in"] <= 600
        assert "refresh_token" not in token  # client credentials: ask again, no refresh

        # an RFC 9068 JWT that any resource server verifies with the node's published keys
        jwks = KeySet.import_key_set(httpx.get(f"{node}/.well-known/jwks.json", timeout=10).json())
        decoded = jwt.decode(token["access_token"], jwks, algorithms=["Ed25519"])
        assert decoded.header["typ"] == "at+jwt"
        assert decoded.header["kid"] in {key.kid for key in jwks.keys}
        assert decoded.claims["iss"] == node
        assert decoded.claims["client_id"] == client_id

        # allowed: the change feed needs federation:sync (and refuses anyone without a token)
        assert httpx.get(f"{node}/api/v1/changes", timeout=10).status_code == 401
        feed = client.get(f"{node}/api/v1/changes")
        assert feed.status_code == 200, feed.text
        assert client.get(f"{node}/api/v1/performances/").status_code == 200

        # refused: managing clients needs clients:manage; writing referentials needs referentials:write
        listing = client.get(f"{node}/api/v1/clients/")
        assert listing.status_code == 403
        assert 'error="insufficient_scope"' in listing.headers["www-authenticate"]
        assert "clients:manage" in listing.headers["www-authenticate"]
        write = client.post(f"{node}/api/v1/works/", json={"title": "Œuvre refusée"})
        assert write.status_code == 403
        assert 'error="insufficient_scope"' in write.headers["www-authenticate"]


def test_scope_outside_the_client_set_is_invalid_scope(node: str, vendor: tuple[str, str]) -> None:
    from authlib.integrations.base_client.errors import OAuthError

    client_id, secret = vendor
    client = oauth_client(node, client_id, secret, scope="contacts:read")
    with client, pytest.raises(OAuthError) as refused:
        client.fetch_token(grant_type="client_credentials")
    assert refused.value.error == "invalid_scope"


def test_wrong_secret_is_invalid_client_and_a_bad_token_is_401(node: str, vendor: tuple[str, str]) -> None:
    from authlib.integrations.base_client.errors import OAuthError

    client_id, _secret = vendor
    with oauth_client(node, client_id, "not-the-secret") as client, pytest.raises(OAuthError) as refused:
        client.fetch_token(grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    answer = httpx.get(f"{node}/api/v1/changes", headers={"Authorization": "Bearer not.a.jwt"}, timeout=10)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
