"""A small registry token service: the Docker Hub token flow, for the Distribution registry.

Flow (distribution ``docs/spec/auth/token.md``): the registry answers 401 with
``WWW-Authenticate: Bearer realm="<this>/token",service="...",scope="repository:x:pull"``; the
client sends ``GET /token?service=...&scope=repository:x:pull,push`` with HTTP Basic credentials
(or none, for anonymous pull) and receives ``{"token", "access_token", "expires_in",
"issued_at"}``. The token is an RS256 JWT whose ``x5c`` header holds the signing certificate; the
registry trusts it when that chain verifies against ``auth.token.rootcertbundle`` and checks
``iss``, ``aud`` (= service), ``exp``/``nbf`` (60 s leeway) and the ``access`` claim
(distribution 2.8 ``registry/auth/token/token.go``).

Like Docker Hub, unknown or anonymous callers still get a token, with only the access they are
allowed (possibly none); the registry then answers 401 ``insufficient_scope``. Wrong credentials
get 401 here. Runs in a thread on 127.0.0.1, port 0. It never logs a password or a token.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pipeline.services.tls import KeyPair

DEFAULT_ISSUER = "pipeline-token-service"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Grant:
    """One scope the service granted (for tests and diagnostics; no secrets)."""

    subject: str
    name: str
    actions: tuple[str, ...]


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:team/app:pull,push`` -> ("repository", "team/app", ["pull", "push"]).

    The name may itself contain ``:`` (a registry host with a port), so split from both ends.
    """
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


@dataclass
class TokenServer:
    """Issues registry tokens; ``users`` maps user name to password."""

    signing: KeyPair
    users: Mapping[str, str] = field(repr=False)
    service: str = "pipeline-registry"
    issuer: str = DEFAULT_ISSUER
    anonymous_pull: bool = False
    ttl_seconds: int = 300
    grants: list[Grant] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.signing.key_path.read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the token signing key must be RSA (RS256)")
        self._key = key
        cert = x509.load_pem_x509_certificate(self.signing.cert_path.read_bytes())
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("token server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def authenticate(self, authorization: str | None) -> str | None:
        """The user name for valid Basic credentials, "" for anonymous, None when wrong."""
        if not authorization:
            return ""
        scheme, _, payload = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(payload.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected, password):
            return None
        return user

    def allowed_actions(self, subject: str, requested: list[str]) -> list[str]:
        if subject:
            return [a for a in requested if a in ("pull", "push", "delete", "*")]
        return ["pull"] if self.anonymous_pull and "pull" in requested else []

    def issue(self, subject: str, service: str, scopes: list[str]) -> dict[str, Any]:
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            granted = self.allowed_actions(subject, actions) if kind == "repository" else []
            access.append({"type": kind, "name": name, "actions": granted})
            with self._lock:
                self.grants.append(Grant(subject, name, tuple(granted)))
        now = datetime.datetime.now(datetime.UTC)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "exp": int(now.timestamp()) + self.ttl_seconds,
            "nbf": int(now.timestamp()) - 1,
            "iat": int(now.timestamp()),
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self._sign(claims)
        return {
            "token": token,
            "access_token": token,
            "expires_in": self.ttl_seconds,
            "issued_at": now.isoformat().replace("+00:00", "Z"),
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def _handler_for(tokens: TokenServer) -> type[BaseHTTPRequestHandler]:
    class TokenHandler(BaseHTTPRequestHandler):
        server_version = "pipeline-token-service"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
                return
            query = parse_qs(url.query)
            service = query.get("service", [""])[0]
            subject = tokens.authenticate(self.headers.get("Authorization"))
            if subject is None:
                self._reply(
                    401,
                    {
                        "errors": [
                            {"code": "UNAUTHORIZED", "message": "incorrect username or password"}
                        ]
                    },
                    {"WWW-Authenticate": f'Basic realm="{tokens.realm}"'},
                )
                return
            if service != tokens.service:
                self._reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                return
            self._reply(200, tokens.issue(subject, service, query.get("scope", [])))

        def _reply(
            self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the request line carries scopes only, but keep test output clean."""

    return TokenHandler


def start_token_server(
    signing: KeyPair,
    users: Mapping[str, str],
    *,
    service: str = "pipeline-registry",
    anonymous_pull: bool = False,
) -> TokenServer:
    return TokenServer(
        signing=signing, users=dict(users), service=service, anonymous_pull=anonymous_pull
    ).start()
