"""HS256 JSON Web Tokens, as argo-cd's ``util/session`` signs them with ``server.secretkey``.

Claims of a local token (``SessionManager.Create``): ``iat``, ``iss: "argocd"``, ``nbf``,
``sub`` (``<account>:login`` for a session, ``<account>:apiKey`` for an account token,
``proj:<project>:<role>`` for a project token), ``jti`` and, when it expires, ``exp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

ISSUER = "argocd"


class TokenError(ValueError):
    """The token does not verify (the text mirrors golang-jwt's messages)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: dict[str, Any], key: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def create(subject: str, key: bytes, *, jti: str, expires_in: int = 0) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iat": now, "iss": ISSUER, "nbf": now, "sub": subject, "jti": jti}
    if expires_in > 0:
        claims["exp"] = now + expires_in
    return sign(claims, key)


def verify(token: str, key: bytes, now: float | None = None) -> dict[str, Any]:
    """The claims of a token signed with ``key``; TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token contains an invalid number of segments")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenError("token is malformed: could not base64 decode") from e
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("token is malformed: could not JSON decode")
    if not str(header.get("alg", "")).startswith("HS"):
        raise TokenError(f"unexpected signing method: {header.get('alg')}")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if header.get("alg") != "HS256" or not hmac.compare_digest(expected, signature):
        raise TokenError("token signature is invalid: signature is invalid")
    moment = time.time() if now is None else now
    if "exp" in claims and moment >= float(claims["exp"]):
        raise TokenError("token has invalid claims: token is expired")
    if "nbf" in claims and moment < float(claims["nbf"]):
        raise TokenError("token has invalid claims: token is not valid yet")
    return claims
