"""HS256 tokens of the sandbox Argo CD API server (argo-cd util/session Create/Parse)."""

from __future__ import annotations

import base64
import json

import pytest

from pipeline.sandbox.argocdapi import jwt

KEY = b"server.secretkey"


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def test_claims_like_session_manager_create() -> None:
    token = jwt.create("ci:apiKey", KEY, jti="id-1", expires_in=60)
    claims = jwt.verify(token, KEY)
    assert claims == _claims(token)
    assert claims["iss"] == "argocd" and claims["sub"] == "ci:apiKey" and claims["jti"] == "id-1"
    assert claims["exp"] == claims["iat"] + 60 and claims["nbf"] == claims["iat"]
    assert "exp" not in jwt.verify(jwt.create("admin:login", KEY, jti="x"), KEY)


def test_rejects_other_keys_algorithms_and_expired_tokens() -> None:
    token = jwt.create("admin:login", KEY, jti="x", expires_in=10)
    with pytest.raises(jwt.TokenError, match="signature is invalid"):
        jwt.verify(token, b"another key")
    with pytest.raises(jwt.TokenError, match="token is expired"):
        jwt.verify(token, KEY, now=_claims(token)["exp"])  # type: ignore[arg-type]
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = ".".join([header, token.split(".")[1], ""])
    with pytest.raises(jwt.TokenError, match="unexpected signing method: none"):
        jwt.verify(unsigned, KEY)
    with pytest.raises(jwt.TokenError, match="invalid number of segments"):
        jwt.verify("abc", KEY)
