"""ServiceAccount token issuing and checking: signed JWTs bound to the ServiceAccount's uid.

Claims follow the real issuer (``pkg/serviceaccount/claims.go`` for bound tokens from the
TokenRequest API, ``legacy.go`` for ``kubernetes.io/service-account-token`` Secrets). The real
apiserver signs with RS256 and ``--service-account-key-file``; the sandbox signs with HS256 and
a random 256-bit key (kept next to the state file, so tokens survive a restart). A token is
valid only while what it is bound to still exists with the same uid (the ServiceAccount, and
for legacy tokens the Secret that holds exactly this token; for bound tokens an optional Pod or
Secret): deleting the ServiceAccount invalidates every token issued for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
BOUND_ISSUER = API_AUDIENCE  # --service-account-issuer of kubeadm clusters
LEGACY_ISSUER = "kubernetes/serviceaccount"
KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path | None) -> bytes:
    """The signing key: read from ``path`` (created with mode 0600 when missing) or random."""
    if path is None:
        return secrets.token_bytes(KEY_BYTES)
    if path.exists():
        key = path.read_bytes()
        if len(key) >= KEY_BYTES:
            return key
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class TokenSigner:
    """HS256 JSON Web Tokens (RFC 7519) with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._header = _b64(
            json.dumps(
                {"alg": "HS256", "kid": hashlib.sha256(key).hexdigest()[:43]},
                separators=(",", ":"),
            ).encode()
        )

    def sign(self, claims: Obj) -> str:
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self._header}.{payload}"
        mac = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    def verify(self, token: str) -> Obj | None:
        """The claims of a token this key signed; None when malformed or forged."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != self._header:
            return None
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        try:
            signature = _unb64(parts[2])
            if not hmac.compare_digest(expected.digest(), signature):
                return None
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None


def service_account_username(namespace: str, name: str) -> str:
    """``k8s.io/apiserver/pkg/authentication/serviceaccount.MakeUsername``."""
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """``serviceaccount.MakeGroupNames`` (``system:authenticated`` is added by the server)."""
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")


def bound_claims(
    sa: Obj, audiences: list[str], issued_at: int, expires_in: int, bound: Obj | None
) -> Obj:
    """Claims of a TokenRequest token (``claims.go`` Claims): ``kubernetes.io`` private part."""
    meta = sa["metadata"]
    private: Obj = {
        "namespace": meta["namespace"],
        "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
    }
    if bound is not None:
        private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
    return {
        "aud": audiences,
        "exp": issued_at + expires_in,
        "iat": issued_at,
        "iss": BOUND_ISSUER,
        "jti": secrets.token_hex(16),
        "kubernetes.io": private,
        "nbf": issued_at,
        "sub": service_account_username(meta["namespace"], meta["name"]),
    }


def legacy_claims(sa: Obj, secret_name: str) -> Obj:
    """Claims of a Secret-based token (``legacy.go`` legacyPrivateClaims)."""
    meta = sa["metadata"]
    prefix = "kubernetes.io/serviceaccount/"
    return {
        "iss": LEGACY_ISSUER,
        f"{prefix}namespace": meta["namespace"],
        f"{prefix}secret.name": secret_name,
        f"{prefix}service-account.name": meta["name"],
        f"{prefix}service-account.uid": meta["uid"],
        "sub": service_account_username(meta["namespace"], meta["name"]),
        "jti": secrets.token_hex(16),
    }
