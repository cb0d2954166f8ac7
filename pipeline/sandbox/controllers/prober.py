"""Container probes as the kubelet's prober runs them (``pkg/kubelet/prober``).

Handlers (``pkg/probe/{http,tcp,exec}``), run from inside the pod's network namespace: the
kubelet thread that connects first enters the namespace of the pod's sandbox container
(``setns(2)`` on ``/proc/<pid>/ns/net``, which needs the privileges a real kubelet has), so the
probe reaches the pod's own ports exactly as a real kubelet reaches the pod IP:

* ``httpGet``: ``GET scheme://host:port/path`` with ``User-Agent: kube-probe/1.31`` and the
  probe's ``httpHeaders``; host defaults to the pod IP. 200-399 is success; otherwise
  ``HTTP probe failed with statuscode: 503``; a connection error reads as Go's
  ``Get "http://10.244.0.2:8000/healthz": dial tcp 10.244.0.2:8000: connect: connection
  refused``.
* ``tcpSocket``: a connect; failure ``dial tcp 10.244.0.2:8000: connect: connection refused``.
* ``exec``: the command in the container (CRI ExecSync); non-zero exit is failure with the
  command's output; past ``timeoutSeconds`` it is ``command timed out``.

``ProbeState`` is ``worker.go``'s state machine: nothing runs before ``initialDelaySeconds``
since the container started; then every ``periodSeconds``; a result replaces the current one
only after ``successThreshold`` (readiness) or ``failureThreshold`` equal results in a row.
Initial results: readiness Failure, liveness Success, startup Unknown. Readiness and liveness
do not run until the startup probe has succeeded. Defaults (``core/v1/defaults.go``): timeout
1 s, period 10 s, success 1, failure 3.
"""

from __future__ import annotations

import ctypes
import errno
import http.client
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from pipeline.sandbox.controllers.containers import Runtime

Obj = dict[str, Any]
CLONE_NEWNET = 0x40000000
USER_AGENT = "kube-probe/1.31"
SUCCESS, FAILURE = True, False


@dataclass
class ProbeTarget:
    """What a probe needs to know about the pod and container it probes."""

    runtime: Runtime
    sandbox_id: str  # the pod's infra container: its network namespace
    container_id: str
    pod_ip: str
    ports: dict[str, int]  # named container ports


def _netns_socket(pid: int) -> socket.socket:
    """A TCP socket created inside the network namespace of process ``pid``."""
    out: dict[str, Any] = {}

    def create() -> None:  # setns moves only this short-lived thread
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        except OSError as e:
            out["error"] = e
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                out["error"] = OSError(code, os.strerror(code))
                return
            out["socket"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            os.close(fd)

    thread = threading.Thread(target=create, name="netns")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    sock: socket.socket = out["socket"]
    return sock


def _connect(target: ProbeTarget, host: str, port: int, timeout: float) -> socket.socket:
    pid = target.runtime.netns_pid(target.sandbox_id)
    if pid is None:
        raise OSError(errno.ESRCH, "pod sandbox is not running")
    sock = _netns_socket(pid)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _dial_error(host: str, port: int, e: OSError) -> str:
    """Go's ``net.OpError`` text for a failed dial."""
    if isinstance(e, TimeoutError | socket.timeout):
        return f"dial tcp {host}:{port}: i/o timeout"
    text = {
        errno.ECONNREFUSED: "connection refused",
        errno.EHOSTUNREACH: "no route to host",
        errno.ENETUNREACH: "network is unreachable",
    }.get(e.errno or 0, (e.strerror or str(e)).lower())
    return f"dial tcp {host}:{port}: connect: {text}"


def _port(spec: Obj, target: ProbeTarget) -> int:
    port = spec.get("port")
    if isinstance(port, str) and not port.isdigit():
        if port not in target.ports:
            raise ValueError(f"couldn't find port {port}")
        return target.ports[port]
    return int(port or 0)


def run_http(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    host = spec.get("host") or target.pod_ip
    port = _port(spec, target)
    scheme = str(spec.get("scheme") or "HTTP").lower()
    path = spec.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    for header in spec.get("httpHeaders") or []:
        headers[str(header.get("name"))] = str(header.get("value", ""))
    try:
        sock = _connect(target, host, port, timeout)
    except OSError as e:
        return FAILURE, f'Get "{url}": {_dial_error(host, port, e)}'
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the kubelet skips TLS verification
            sock = context.wrap_socket(sock, server_hostname=host)
        conn.sock = sock
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read(10 * 1024)
        status = response.status
    except TimeoutError:
        return FAILURE, (
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
            "headers)"
        )
    except (OSError, http.client.HTTPException) as e:
        return FAILURE, f'Get "{url}": {e}'
    finally:
        conn.close()
    if 200 <= status < 400:
        return SUCCESS, ""
    return FAILURE, f"HTTP probe failed with statuscode: {status}"


def run_tcp(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    host = spec.get("host") or target.pod_ip
    port = _port(spec, target)
    try:
        _connect(target, host, port, timeout).close()
    except OSError as e:
        return FAILURE, _dial_error(host, port, e)
    return SUCCESS, ""


def run_exec(spec: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    command = [str(c) for c in spec.get("command") or []]
    code, output = target.runtime.exec(target.container_id, command, timeout)
    if code == -1:
        return FAILURE, "command timed out"
    return (SUCCESS, "") if code == 0 else (FAILURE, output)


def run_probe(probe: Obj, target: ProbeTarget) -> tuple[bool, str]:
    """One probe attempt: (success, message)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            return run_http(probe["httpGet"], target, timeout)
        if "tcpSocket" in probe:
            return run_tcp(probe["tcpSocket"], target, timeout)
        if "exec" in probe:
            return run_exec(probe["exec"], target, timeout)
    except ValueError as e:
        return FAILURE, str(e)
    return FAILURE, "missing probe handler"


@dataclass
class ProbeState:
    """One probe of one container instance (``worker.go``)."""

    kind: str  # "Readiness", "Liveness" or "Startup"
    spec: Obj
    started_at: float
    result: bool | None = None
    last: bool | None = None
    run: int = 0
    next_due: float = 0.0

    def __post_init__(self) -> None:
        self.result = {"Readiness": FAILURE, "Liveness": SUCCESS}.get(self.kind)
        self.next_due = self.started_at + float(self.spec.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def record(self, outcome: bool, now: float) -> bool:
        """Count one outcome; True when it changed ``result``."""
        self.next_due = now + self.period
        self.run = self.run + 1 if outcome == self.last else 1
        self.last = outcome
        threshold = int(
            self.spec.get("successThreshold" if outcome else "failureThreshold")
            or (1 if outcome else 3)
        )
        if self.run < threshold or self.result == outcome:
            return False
        self.result = outcome
        if not outcome and self.kind in ("Liveness", "Startup"):
            self.run = 0  # the container is restarted; counting starts over
        return True
