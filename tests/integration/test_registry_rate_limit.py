"""429 handling: a small proxy in front of the real registry answers 429 first, then forwards."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import ImageRef, parse_image_ref
from pipeline.core.ports import RateLimit
from pipeline.errors import ExitCode, RateLimitedError
from pipeline.services.registry import Registry
from tests.fixtures.services import BuildImage, write_busybox_context

pytestmark = pytest.mark.integration

_HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-encoding"}


class ThrottlingProxy:
    """Answers the next ``throttle(n, retry_after)`` requests with 429 like Docker Hub."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.pending_429: list[str] = []
        self.forwarded = 0
        self.remaining = 100
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                proxy.handle(self, "HEAD")

            def do_GET(self) -> None:
                proxy.handle(self, "GET")

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

    def throttle(self, times: int, retry_after: str) -> None:
        self.pending_429 = [retry_after] * times

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        limits = {
            "ratelimit-limit": "100;w=21600",
            "ratelimit-remaining": f"{self.remaining};w=21600",
        }
        if self.pending_429:
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}'
            handler.send_response(429)
            handler.send_header("Retry-After", self.pending_429.pop(0))
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in limits.items():
                handler.send_header(name, value)
            handler.end_headers()
            if method == "GET":
                handler.wfile.write(body)
            return
        self.forwarded += 1
        self.remaining -= 1
        limits["ratelimit-remaining"] = f"{self.remaining};w=21600"
        upstream = requests.request(
            method,
            self.upstream + handler.path,
            headers={k: v for k, v in handler.headers.items() if k.lower() != "host"},
            timeout=10,
        )
        handler.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                handler.send_header(name, value)
        for name, value in limits.items():
            handler.send_header(name, value)
        handler.end_headers()
        if method == "GET":
            handler.wfile.write(upstream.content)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def proxy(registry: Registry) -> Iterator[ThrottlingProxy]:
    p = ThrottlingProxy(registry.url)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def pushed(
    registry: Registry, build_image: BuildImage, tmp_path_factory: pytest.TempPathFactory
) -> str:
    context = write_busybox_context(Path(tmp_path_factory.mktemp("ctx")), "rate limited")
    return build_image(context, f"{registry.address}/limited/app:canary")


def via(proxy: ThrottlingProxy) -> ImageRef:
    return parse_image_ref(f"{proxy.address}/limited/app:canary")


def test_retry_after_seconds_is_waited_out(proxy: ThrottlingProxy, pushed: str) -> None:
    proxy.throttle(1, "1")
    client = RegistryClient(deadline=time.monotonic() + 60)
    assert client.head_digest(via(proxy)).digest == pushed
    assert client.stats.throttled == 1
    assert client.stats.waited_seconds == 1.0
    assert client.stats.count("HEAD", "manifest") == 2
    assert client.stats.rate_limits[proxy.address] == RateLimit(100, proxy.remaining, 21600)


def test_retry_after_http_date(proxy: ThrottlingProxy, pushed: str) -> None:
    now = 1_800_000_000.0
    proxy.throttle(2, email.utils.formatdate(now + 7, usegmt=True))
    waits: list[float] = []
    client = RegistryClient(
        deadline=time.monotonic() + 60, sleep=waits.append, wall_clock=lambda: now
    )
    assert client.head_digest(via(proxy)).digest == pushed
    assert waits == [7.0, 7.0]


def test_retry_after_past_the_deadline_fails_at_once(proxy: ThrottlingProxy, pushed: str) -> None:
    proxy.throttle(1, "120")
    waits: list[float] = []
    client = RegistryClient(deadline=time.monotonic() + 10, sleep=waits.append)
    forwarded = proxy.forwarded
    with pytest.raises(RateLimitedError) as caught:
        client.head_digest(via(proxy))
    assert caught.value.exit_code == ExitCode.RATE_LIMITED
    assert "120s" in str(caught.value)
    assert waits == []
    assert proxy.forwarded == forwarded
