"""The node's Ed25519 key pairs, kept as PEM files readable only by the owner.

The private key never enters the database or the repository. Several key files may coexist:
the newest is the signing key, older ones stay published in the JWKS until what they signed has
expired (key rotation, see docs/operations.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

KEY_SUFFIX = ".ed25519.pem"


class KeyFileError(RuntimeError):
    """A key file is missing, unreadable or too widely readable."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class NodeKey:
    kid: str
    private_key: Ed25519PrivateKey
    path: Path

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": self.kid, "alg": "Ed25519", "use": "sig"}


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), used as the key id."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def key_dir() -> Path:
    return Path(settings.NODE_KEY_DIR)


def _load(path: Path) -> NodeKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return NodeKey(kid=thumbprint(loaded.public_key()), private_key=loaded, path=path)


#: Parsed keys, reused while the key files are unchanged (same names, mtimes and modes).
_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], tuple[NodeKey, ...]]] = {}


def load_keys() -> list[NodeKey]:
    """All key pairs of the node, newest first (the first one signs).

    Files are stat'ed on every call (a rotation, a removal or a chmod is seen at once) but parsed
    only when one of them changed: verifying a token must not re-read PEM files each time.
    """
    directory = key_dir()
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob(f"*{KEY_SUFFIX}"), key=lambda p: p.name, reverse=True)
    signature = tuple((path.name, (st := path.stat()).st_mtime_ns, st.st_mode) for path in paths)
    cached = _cache.get(directory)
    if cached is not None and cached[0] == signature:
        return list(cached[1])
    loaded = tuple(_load(path) for path in paths)
    _cache[directory] = (signature, loaded)
    return list(loaded)


def signing_key() -> NodeKey:
    keys = load_keys()
    if not keys:
        raise KeyFileError(f"no key pair in {key_dir()}; run: python manage.py node_init")
    return keys[0]


def generate_key(now_stamp: str) -> NodeKey:
    """Create a new key pair file, private key written with mode 0600 from the first byte."""
    directory = key_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = directory / f"{now_stamp}{KEY_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return NodeKey(kid=thumbprint(private_key.public_key()), private_key=private_key, path=path)
