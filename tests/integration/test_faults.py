"""Fault runs: an API server that never answers, answers HTML, speaks no TLS, or is stopped.

Each run is the CLI as users run it with ``--timeout 5``; it must end by the deadline (a
condition on the run's own wall time, with a margin for interpreter start-up), with exit 11
(timeout) or 7 (Kubernetes access), a message naming the server, and no traceback. The fake
servers listen on 127.0.0.1 only, one per test, and are closed when it ends
(docs/reliability.md).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.sandbox.seed import SeededSample
from pipeline.sandbox.state import StateDir
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import (
    finish,
    hold_operation,
    release_operation,
    start_deploy,
)
from tests.integration.test_interrupt import read_until

pytestmark = pytest.mark.integration

TIMEOUT = 5
BOUND = TIMEOUT + 10  # interpreter start-up and imports (about 1 s) plus a wide margin
IMAGE = "127.0.0.1:5000/faults"
PAGE = b"<!doctype html><html>hello</html>"


def html(status: bytes) -> bytes:
    return (
        b"HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (status, len(PAGE), PAGE)
    )


@contextmanager
def fake_server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A listener on 127.0.0.1 whose accepted connections get ``answer``; closed on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


def black_hole(conn: socket.socket) -> None:
    """Accept and never answer (the connection is held open until the test ends)."""


def html_page(conn: socket.socket, status: bytes = b"200 OK") -> None:
    conn.settimeout(2)
    try:
        conn.recv(65536)
        conn.sendall(html(status))
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "{server}"}}}}]\n'
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: f, context: {cluster: c, user: u}}]\ncurrent-context: f\n"
    )
    return path


def run_bounded(args: list[str], config: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "GITHUB_"))}
    env["KUBECONFIG"] = str(config)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True,
        timeout=BOUND * 4, check=False,
    )  # fmt: skip
    return proc, time.monotonic() - started


DRY_RUN = ["deploy-canary", "-s", "auth", "--image", IMAGE, "--dry-run", "--timeout", str(TIMEOUT)]


def check_bounded(proc: subprocess.CompletedProcess[str], took: float, *names: str) -> None:
    shown = f"took {took:.1f}s\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert took < BOUND, shown
    assert proc.returncode in (7, 11), shown
    for name in names:
        assert name in proc.stdout + proc.stderr, shown
    assert "Traceback" not in proc.stdout + proc.stderr, shown


def test_black_hole_api_server_ends_at_the_deadline(tmp_path: Path) -> None:
    with fake_server(black_hole) as port:
        server = f"http://127.0.0.1:{port}"
        proc, took = run_bounded(DRY_RUN, kubeconfig(tmp_path, server))
    check_bounded(proc, took, server, "did not answer before the run's deadline")
    assert proc.returncode == 11


def test_black_hole_cleanup_ends_at_its_deadline(tmp_path: Path) -> None:
    args = ["cleanup-canary", "-s", "auth", "--image", IMAGE, "--timeout", str(TIMEOUT)]
    with fake_server(black_hole) as port:
        server = f"http://127.0.0.1:{port}"
        proc, took = run_bounded(args, kubeconfig(tmp_path, server))
    check_bounded(proc, took, server)


@pytest.mark.parametrize("status", [b"200 OK", b"404 Not Found", b"502 Bad Gateway"])
def test_html_server_is_not_a_kubernetes_api_server(tmp_path: Path, status: bytes) -> None:
    with fake_server(lambda conn: html_page(conn, status)) as port:
        server = f"http://127.0.0.1:{port}"
        proc, took = run_bounded(DRY_RUN, kubeconfig(tmp_path, server))
    check_bounded(proc, took, server, "is not a Kubernetes API server", "text/html")
    assert proc.returncode == 7


def test_tls_failure_is_named_tls(tmp_path: Path) -> None:
    """An https:// server that answers plain HTTP: a TLS error, not "unreachable"."""
    with fake_server(html_page) as port:
        server = f"https://127.0.0.1:{port}"
        proc, took = run_bounded(DRY_RUN, kubeconfig(tmp_path, server))
    check_bounded(proc, took, server, "TLS to the API server")
    assert "unreachable" not in proc.stderr
    assert proc.returncode == 7


def test_untrusted_certificate_is_named_tls(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """The sandbox's HTTPS API server, with a kubeconfig that does not trust its CA."""
    status = StateDir(sandbox.state_dir).read_status() or {}
    server = str(status.get("secure_server") or "")
    assert server.startswith("https://"), status
    proc, took = run_bounded(DRY_RUN, kubeconfig(tmp_path, server))
    check_bounded(proc, took, server, "TLS to the API server", "CERTIFICATE_VERIFY_FAILED")
    assert proc.returncode == 7


def test_stopped_sandbox_api_server_ends_at_the_deadline(sandbox: SandboxHandle) -> None:
    """SIGSTOP the sandbox daemon (its API server), run, then SIGCONT whatever happens."""
    pid = StateDir(sandbox.state_dir).read_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        proc, took = run_bounded(DRY_RUN, sandbox.kubeconfig)
    finally:
        os.kill(pid, signal.SIGCONT)
    check_bounded(proc, took, sandbox.url.rstrip("/"))
    assert proc.returncode == 11


def test_api_server_stopped_while_a_deploy_follows_its_sync(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    """The server stops while deploy-canary watches the sync (a held operation keeps it
    there): the open watch is cut by its read timeout at the deadline, and the run ends with
    exit 11 within the bound of the pin's start + --timeout."""
    seeded = make_sample()
    hold_operation(sandbox, seeded)
    pid = StateDir(sandbox.state_dir).read_pid()
    assert pid is not None
    proc = start_deploy(
        sandbox, seeded, "--no-build", "--digest", seeded.digests["canary"],
        "--timeout", str(TIMEOUT), run_id="stopped",
    )  # fmt: skip
    stopped = False
    try:
        read_until(proc.stderr, f"[{seeded.repo.namespace}] sync ...\n".encode())
        started = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        code, report, stderr = finish(proc, timeout=BOUND * 4)
        took = time.monotonic() - started
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        release_operation(sandbox, seeded)
    (service,) = report["services"]
    assert took < BOUND, f"took {took:.1f}s: {stderr}"
    assert (code, service["reason"]) == (11, "timeout"), stderr
    assert "Traceback" not in stderr
