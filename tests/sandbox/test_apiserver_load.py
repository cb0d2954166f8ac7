"""Bounded load on loopback: 1,000 concurrent watches (descriptors past 1,024 in this process,
server and client sides together) and a 5,000-request burst. Counts and times are fixed; the
watches end by their own ``timeoutSeconds``."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.apiserver.http import raise_descriptor_limit

CM = "/api/v1/namespaces/default/configmaps"
WATCHES = 1000
WATCH_SECONDS = 5  # past the server's 2 s idle check, so every watch runs it
BURST = 5000
BURST_CLIENTS = 50
TERMINATOR = b"0\r\n\r\n"


@pytest.fixture
def high_descriptors() -> Iterator[None]:
    """Hold descriptors 0..1023, so every socket of the test (client and server side) is
    numbered past select()'s limit."""
    if raise_descriptor_limit() < 2 * WATCHES + 1200:
        pytest.skip("the open-files limit is too low for 1,000 watches in one process")
    held = []
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        held.append(fd)
        if fd >= 1023:
            break
    yield
    for fd in held:
        os.close(fd)


@pytest.fixture
def server(high_descriptors: None) -> Iterator[APIServer]:
    srv = APIServer()
    srv.start()
    yield srv
    srv.stop()


def _address(srv: APIServer) -> tuple[str, int]:
    parts = urlsplit(srv.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_a_thousand_concurrent_watches_are_all_served_and_end_cleanly(
    server: APIServer,
) -> None:
    address = _address(server)
    request = (
        f"GET {CM}?watch=1&timeoutSeconds={WATCH_SECONDS} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
    ).encode()
    sockets: list[socket.socket] = []
    slowest_connect = 0.0
    try:
        for _ in range(WATCHES):
            start = time.monotonic()
            sock = socket.create_connection(address, timeout=10)
            slowest_connect = max(slowest_connect, time.monotonic() - start)
            sock.sendall(request)
            sockets.append(sock)
        # descriptors another test's threads close meanwhile leave gaps below 1,024: most
        # sockets are still past select()'s limit, which is what this test needs
        assert sum(s.fileno() >= 1024 for s in sockets) >= WATCHES // 2
        # a SYN dropped by a full listen queue is retried after 1 s
        assert slowest_connect < 1.0, f"a connect waited {slowest_connect:.2f}s on the backlog"
        received = _read_all(sockets, after_open=lambda: _create(server.url, "seen"))
    finally:
        for sock in sockets:
            sock.close()
    ended = [data for data in received.values() if data.endswith(TERMINATOR)]
    saw_event = [data for data in received.values() if b'"name":"seen"' in data]
    failed = [data for data in received.values() if b'"type":"ERROR"' in data]
    assert len(received) == WATCHES
    assert all(data.startswith(b"HTTP/1.1 200") for data in received.values())
    assert len(saw_event) == WATCHES, f"{WATCHES - len(saw_event)} watches missed the event"
    assert len(ended) == WATCHES, f"{WATCHES - len(ended)} watches ended without the last chunk"
    assert not failed, f"{len(failed)} watches ended with an error: {failed[0][-300:]!r}"


def test_stopping_the_server_ends_every_open_watch_cleanly(high_descriptors: None) -> None:
    srv = APIServer()
    srv.start()
    request = (f"GET {CM}?watch=1&timeoutSeconds=600 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()
    sockets = []
    try:
        for _ in range(WATCHES):
            sock = socket.create_connection(_address(srv), timeout=10)
            sock.sendall(request)
            sockets.append(sock)
        received = _read_all(sockets, after_open=srv.stop)
    finally:
        srv.stop()
        for sock in sockets:
            sock.close()
    ended = [data for data in received.values() if data.endswith(TERMINATOR)]
    assert len(ended) == WATCHES, f"{WATCHES - len(ended)} watches were cut off"


def _create(url: str, name: str) -> None:
    requests.post(url + CM, json={"metadata": {"name": name}}, timeout=30).raise_for_status()


def _read_all(
    sockets: list[socket.socket], after_open: object, timeout: float = 90
) -> dict[int, bytes]:
    """Read every stream to its end (or the deadline), with epoll: no select() limit here."""
    received = {s.fileno(): b"" for s in sockets}
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    # every watch has its response headers: the watches are registered, make the write
    pending = set(received)
    headers_seen: set[int] = set()
    fired = False
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        if not fired and len(headers_seen) == len(received):
            after_open()  # type: ignore[operator]
            fired = True
        for key, _ in selector.select(timeout=1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            fd = sock.fileno()
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            received[fd] += chunk
            if b"\r\n\r\n" in received[fd]:
                headers_seen.add(fd)
            if not chunk or received[fd].endswith(TERMINATOR):
                selector.unregister(sock)
                pending.discard(fd)
    selector.close()
    return received


def test_a_burst_of_5000_requests_is_all_answered(server: APIServer) -> None:
    host, port = _address(server)
    per_client = BURST // BURST_CLIENTS
    codes: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        seen = []
        for i in range(per_client):
            conn = http.client.HTTPConnection(host, port, timeout=60)  # a new connection each
            try:
                if i % 5 == 0:
                    body = json.dumps({"metadata": {"name": f"burst-{n}-{i}"}})
                    conn.request("POST", CM, body, {"Content-Type": "application/json"})
                else:
                    conn.request("GET", CM + "?limit=5")
                response = conn.getresponse()
                response.read()
                seen.append(response.status)
            finally:
                conn.close()
        with lock:
            codes.extend(seen)

    start = time.monotonic()
    with ThreadPoolExecutor(BURST_CLIENTS) as pool:
        list(pool.map(client, range(BURST_CLIENTS), timeout=180))
    elapsed = time.monotonic() - start
    assert len(codes) == BURST
    assert codes.count(201) == BURST // 5
    assert codes.count(200) == BURST - BURST // 5
    listing = requests.get(server.url + CM, timeout=30).json()
    assert len(listing["items"]) == BURST // 5
    print(f"burst: {BURST} requests in {elapsed:.1f}s ({BURST / elapsed:.0f}/s)")
