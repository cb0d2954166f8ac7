"""Transient registry failures: 5xx bursts and refused connections are retried with back-off
inside the deadline; a 429 whose Retry-After ends past the deadline ends the run at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.errors import ExitCode, RateLimitedError, RegistryError

DIGEST = "sha256:" + "cd" * 32


class ScriptedRegistry:
    """Answers HEAD of a manifest with the next status of ``script`` (then 200)."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.seen = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_HEAD(self) -> None:
                registry.seen += 1
                status, headers = registry.script.pop(0) if registry.script else (200, {})
                self.send_response(status)
                if status == 200:
                    headers = {
                        "Docker-Content-Digest": DIGEST,
                        "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    }
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


Make = Callable[[list[tuple[int, dict[str, str]]]], ScriptedRegistry]


@pytest.fixture
def scripted() -> Iterator[Make]:
    made: list[ScriptedRegistry] = []

    def make(script: list[tuple[int, dict[str, str]]]) -> ScriptedRegistry:
        registry = ScriptedRegistry(script)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.stop()


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _client(clock: Clock, deadline: float | None) -> RegistryClient:
    return RegistryClient(
        insecure=["127.0.0.1"], deadline=deadline, clock=clock, sleep=clock.sleep,
        wall_clock=lambda: 1_800_000_000.0,
    )  # fmt: skip


def test_a_503_burst_is_retried_with_growing_pauses(scripted: Make) -> None:
    registry = scripted([(503, {}), (502, {}), (503, {})])
    clock = Clock()
    info = _client(clock, deadline=clock.now + 60).head_digest(
        parse_image_ref(f"{registry.address}/app:v1")
    )
    assert info.digest == DIGEST
    assert len(clock.slept) == 3 and clock.slept[0] < clock.slept[2]


def test_5xx_retries_are_bounded(scripted: Make) -> None:
    registry = scripted([(503, {})] * 10)
    clock = Clock()
    with pytest.raises(RegistryError, match="answered 503") as caught:
        _client(clock, deadline=None).head_digest(parse_image_ref(f"{registry.address}/app:v1"))
    assert caught.value.exit_code == ExitCode.REGISTRY
    assert registry.seen == 4  # the first try and three retries


def test_no_retry_pause_ends_past_the_deadline(scripted: Make) -> None:
    registry = scripted([(503, {})] * 10)
    clock = Clock()
    with pytest.raises(RegistryError, match="answered 503"):
        _client(clock, deadline=clock.now + 0.2).head_digest(
            parse_image_ref(f"{registry.address}/app:v1")
        )
    assert clock.slept == [] and registry.seen == 1


@pytest.mark.parametrize("deadline", [None, 300.0])
def test_retry_after_past_the_deadline_ends_at_once(scripted: Make, deadline: float | None) -> None:
    registry = scripted([(429, {"Retry-After": "3600"})])
    clock = Clock()
    with pytest.raises(RateLimitedError) as caught:
        _client(clock, deadline=None if deadline is None else clock.now + deadline).head_digest(
            parse_image_ref(f"{registry.address}/app:v1")
        )
    assert caught.value.exit_code == ExitCode.RATE_LIMITED
    assert "retry after 2027-01-15T09:00:00Z" in caught.value.hint
    assert clock.slept == []


def test_a_short_retry_after_is_waited_out(scripted: Make) -> None:
    registry = scripted([(429, {"Retry-After": "2"})])
    clock = Clock()
    _client(clock, deadline=clock.now + 60).head_digest(parse_image_ref(f"{registry.address}/a:1"))
    assert clock.slept == [2.0]


def test_refused_connections_are_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: connections are refused
    clock = Clock()
    with pytest.raises(RegistryError, match="cannot reach registry"):
        _client(clock, deadline=clock.now + 60).head_digest(
            parse_image_ref(f"127.0.0.1:{port}/app:v1")
        )
    assert len(clock.slept) == 3
