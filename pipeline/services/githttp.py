"""A git server on loopback speaking git's smart HTTP protocol, as a hosted remote would.

Each request runs Debian git's own ``git http-backend`` as a CGI program (``git-http-backend(1)``:
``GIT_PROJECT_ROOT``, ``GIT_HTTP_EXPORT_ALL``, ``PATH_INFO``, ``REMOTE_USER``), so clones,
fetches and ``ls-remote`` from git, and from Argo CD's repo-server, see exactly what a real
server sends. With ``username``/``password`` every request needs HTTP basic auth, and a
missing or wrong one gets ``401`` with ``WWW-Authenticate: Basic``, which is what makes git ask
for credentials. Used by the tests and the sandbox; the product never imports it.
"""

from __future__ import annotations

import base64
import hmac
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import SandboxError

_BACKEND = "/usr/lib/git-core/git-http-backend"


def backend_path() -> str:
    found = shutil.which("git-http-backend") or (_BACKEND if Path(_BACKEND).exists() else None)
    if found is None:
        raise SandboxError("git http-backend not found", hint="install Debian's git")
    return found


@dataclass
class GitServer:
    """Serves every bare repository under ``root`` at ``{url}/<name>.git``."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)
    requests: list[str] = field(default_factory=list, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def repo_url(self, name: str) -> str:
        return f"{self.url}/{name}.git"

    def start(self) -> GitServer:
        backend = backend_path()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._cgi()

            def do_POST(self) -> None:
                self._cgi()

            def _authorized(self) -> str | None:
                if not server.username:
                    return ""
                header = self.headers.get("Authorization", "")
                scheme, _, value = header.partition(" ")
                if scheme.lower() != "basic":
                    return None
                try:
                    user, _, password = base64.b64decode(value).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                good_user = hmac.compare_digest(user, server.username)
                good_password = hmac.compare_digest(password, server.password)
                return user if good_user and good_password else None

            def _cgi(self) -> None:
                parts = urlsplit(self.path)
                server.requests.append(f"{self.command} {parts.path}")
                user = self._authorized()
                if user is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": parts.path,
                    "QUERY_STRING": parts.query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": user,
                    "REMOTE_ADDR": self.client_address[0],
                    "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                proc = subprocess.run(
                    [backend], input=body, env=env, capture_output=True, check=False, timeout=120
                )
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = proc.stdout.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def run_git(*args: str, cwd: Path | None = None) -> str:
    """Run git for fixtures; its stderr in the error."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"git {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def publish(work_tree: Path, root: Path, name: str) -> Path:
    """Push every branch and tag of the repository at ``work_tree`` to a bare repository
    ``root/<name>.git`` (created when missing), as ``git push --mirror`` to a hosted remote."""
    bare = root / f"{name}.git"
    if not bare.exists():
        run_git("init", "-q", "--bare", str(bare))
    run_git("push", "-q", "--force", str(bare), "refs/heads/*:refs/heads/*", cwd=work_tree)
    run_git("push", "-q", "--force", "--tags", str(bare), cwd=work_tree)
    branch = run_git("symbolic-ref", "-q", "HEAD", cwd=work_tree).strip()
    run_git("--git-dir", str(bare), "symbolic-ref", "HEAD", branch)  # the default branch
    return bare
