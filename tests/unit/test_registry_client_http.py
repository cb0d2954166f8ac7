"""The registry client's HTTP behaviour against a tiny in-process fake registry.

Covers what the real registry cannot be made to do on demand: echo secrets in error bodies,
refuse TLS, answer without Docker-Content-Digest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.core.ports import Credentials
from pipeline.errors import DeployTimeoutError, ManifestNotFound, RegistryError

DIGEST = "sha256:" + "ab" * 32
SECRET = "very-secret-password"


class FakeRegistry:
    """Basic-auth registry: /v2/echo/* answers 500 echoing the Authorization header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                fake.requests.append(("HEAD", self.path))
                if self.headers.get("Authorization") is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                    self.send_header("Content-Length", "0")
                elif self.path.startswith("/v2/echo/"):
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                elif self.path.startswith("/v2/nodigest/"):
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                elif self.path.startswith("/v2/missing/"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                else:
                    self.send_response(200)
                    self.send_header("Docker-Content-Digest", DIGEST)
                    self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
                    self.send_header("Content-Length", "321")
                self.end_headers()

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if self.headers.get("Authorization") is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = f"server error; you sent {self.headers.get('Authorization')}".encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.server.shutdown()
    server.server.server_close()


def lookup(host: str) -> Credentials:
    return Credentials("bot", SECRET)


def test_basic_challenge_then_digest_and_http_fallback_is_remembered(fake: FakeRegistry) -> None:
    client = RegistryClient(lookup)
    ref = parse_image_ref(f"{fake.address}/team/app:v1")
    info = client.head_digest(ref)
    assert (info.digest, info.is_index, info.size) == (DIGEST, True, 321)
    client.head_digest(ref)
    # one 401, then authenticated; the https attempt failed before reaching the handler
    assert fake.requests == [("HEAD", "/v2/team/app/manifests/v1")] * 3
    assert client.stats.count("HEAD", "manifest") == 3


def test_secrets_echoed_by_a_registry_are_redacted(
    fake: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    client = RegistryClient(lookup, sleep=lambda seconds: None)  # 500s are retried
    with caplog.at_level("DEBUG"), pytest.raises(RegistryError) as caught:
        client.get_manifest(parse_image_ref(f"{fake.address}/echo/app:v1"))
    text = str(caught.value) + caught.value.hint + repr(client) + caplog.text
    assert "<redacted>" in str(caught.value)
    assert "Ym90OnZlcnktc2VjcmV0LXBhc3N3b3Jk" not in text  # base64 of bot:very-secret-password
    assert SECRET not in text


def test_missing_digest_header_is_an_error_never_a_get(fake: FakeRegistry) -> None:
    client = RegistryClient(lookup)
    with pytest.raises(RegistryError, match="without a Docker-Content-Digest"):
        client.head_digest(parse_image_ref(f"{fake.address}/nodigest/app:v1"))
    assert client.stats.count("GET", "manifest") == 0


def test_404_is_manifest_not_found(fake: FakeRegistry) -> None:
    with pytest.raises(ManifestNotFound):
        RegistryClient(lookup).head_digest(parse_image_ref(f"{fake.address}/missing/app:v1"))


def test_no_credentials_for_a_basic_challenge(fake: FakeRegistry) -> None:
    with pytest.raises(RegistryError) as caught:
        RegistryClient().head_digest(parse_image_ref(f"{fake.address}/team/app:v1"))
    assert caught.value.reason == "registry-auth"
    assert "without credentials" in str(caught.value)


def test_a_passed_deadline_is_a_timeout(fake: FakeRegistry) -> None:
    client = RegistryClient(lookup, deadline=time.monotonic() - 1)
    with pytest.raises(DeployTimeoutError):
        client.head_digest(parse_image_ref(f"{fake.address}/team/app:v1"))
    assert fake.requests == []
