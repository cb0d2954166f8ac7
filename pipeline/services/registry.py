"""The real Distribution registry (Debian ``docker-registry``) on 127.0.0.1.

``start_registry`` writes a config.yml for one instance and waits until ``/v2/`` answers.
Variants, all the same binary (configuration reference: distribution ``docs/configuration.md``):

* open, plain HTTP (Docker treats 127.0.0.0/8 registries as insecure, so no TLS is needed);
* ``htpasswd=(user, password), tls=True``: ``auth.htpasswd`` (bcrypt entries only: distribution
  ``registry/auth/htpasswd/htpasswd.go`` rejects other hash formats) behind ``http.tls`` with a
  certificate from a CA the project generates (``pipeline.services.tls``);
* ``start_token_registry``: ``auth.token`` pointing at a ``TokenServer`` (the Docker Hub flow).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from pipeline.errors import SandboxError
from pipeline.services.process import free_port, spawn, stop_process, wait_until
from pipeline.services.tls import (
    CertificateAuthority,
    create_ca,
    issue_server_cert,
    issue_token_signing_cert,
)
from pipeline.services.token_server import TokenServer, start_token_server

DOCKER_CERTS_ROOT = Path("/etc/docker/certs.d")
HTPASSWD_REALM = "pipeline-registry"


@dataclass
class Registry:
    address: str  # host:port, what goes in image references
    scheme: str  # http or https
    data_dir: Path
    ca_cert: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_server: TokenServer | None = field(default=None, repr=False)
    docker_trust_dir: Path | None = None  # /etc/docker/certs.d/<address>, removed on stop

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def stop(self) -> None:
        stop_process(self.proc)
        if self.token_server is not None:
            self.token_server.stop()
        if self.docker_trust_dir is not None:
            untrust_ca_for_docker(self.docker_trust_dir)
            self.docker_trust_dir = None


def registry_binary() -> str:
    for name in ("docker-registry", "registry"):
        found = shutil.which(name)
        if found:
            return found
    raise SandboxError(
        "the Distribution registry is not installed",
        hint="install Debian's docker-registry package (scripts/setup does)",
    )


def base_config(data_dir: Path, port: int) -> dict[str, Any]:
    return {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "sandbox-local-only"},
    }


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """An htpasswd file with bcrypt entries (``htpasswd -B``), mode 0600."""
    import bcrypt  # only the authenticated variants need it

    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def trust_ca_for_docker(
    address: str, ca_pem_path: Path, *, certs_root: Path = DOCKER_CERTS_ROOT
) -> Path:
    """Make dockerd trust ``ca_pem_path`` for ``address`` (``certs.d/<host:port>/ca.crt``,
    docs.docker.com ``engine/security/certificates``); returns the directory to remove later."""
    directory = certs_root / address
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca_pem_path, directory / "ca.crt")
    return directory


def untrust_ca_for_docker(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (directory / "ca.crt").unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def _merge(config: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value


def start_registry(
    data_dir: Path,
    *,
    port: int = 0,
    config_overrides: dict[str, Any] | None = None,
    ca_cert: Path | None = None,
    tie_to_parent: bool = True,
    htpasswd: tuple[str, str] | None = None,
    tls: bool = False,
    ca: CertificateAuthority | None = None,
) -> Registry:
    """Start one registry instance storing under ``data_dir``; ``config_overrides`` are
    merged into the top level of config.yml (``auth``, ``http.tls`` ...).

    ``tls=True`` serves HTTPS with a certificate from ``ca`` (a new CA under ``data_dir/tls``
    when omitted); ``htpasswd`` requires Basic auth for that one user.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = base_config(data_dir, port)
    if tls:
        ca = ca or create_ca(data_dir / "tls")
        server = issue_server_cert(ca, data_dir / "tls")
        config["http"]["tls"] = {
            "certificate": str(server.cert_path),
            "key": str(server.key_path),
        }
        ca_cert = ca_cert or ca.cert_path
    if htpasswd is not None:
        path = write_htpasswd(data_dir / "htpasswd", {htpasswd[0]: htpasswd[1]})
        config["auth"] = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(path)}}
    _merge(config, config_overrides or {})
    scheme = "https" if "tls" in config["http"] else "http"
    config_path = data_dir / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = data_dir / "registry.log"
    proc = spawn([registry_binary(), "serve", str(config_path)], log, tie_to_parent=tie_to_parent)
    registry = Registry(
        address=f"127.0.0.1:{port}",
        scheme=scheme,
        data_dir=data_dir,
        ca_cert=ca_cert,
        proc=proc,
        username=htpasswd[0] if htpasswd else None,
        password=htpasswd[1] if htpasswd else None,
    )

    def answers() -> bool:
        try:
            verify: str | bool = str(ca_cert) if ca_cert else True
            r = requests.get(f"{registry.url}/v2/", timeout=1, verify=verify)
        except requests.RequestException:
            return False
        return r.status_code in (200, 401)

    try:
        wait_until(answers, timeout=30, what="registry", proc=proc, log_file=log)
    except SandboxError:
        stop_process(proc)
        raise
    return registry


def start_token_registry(
    data_dir: Path,
    users: Mapping[str, str],
    *,
    anonymous_pull: bool = False,
    tls: bool = False,
    tie_to_parent: bool = True,
) -> Registry:
    """A registry with ``auth.token`` and its token service (stopped with the registry).

    ``Registry.username/password`` are the first user's, for convenience in tests.
    """
    data_dir = data_dir.resolve()
    ca = create_ca(data_dir / "tls")
    signing = issue_token_signing_cert(ca, data_dir / "tls")
    service = "pipeline-registry"
    tokens = start_token_server(signing, users, service=service, anonymous_pull=anonymous_pull)
    token_auth = {
        "realm": tokens.realm,
        "service": service,
        "issuer": tokens.issuer,
        "rootcertbundle": str(ca.cert_path),
    }
    try:
        registry = start_registry(
            data_dir,
            config_overrides={"auth": {"token": token_auth}},
            tls=tls,
            ca=ca,
            tie_to_parent=tie_to_parent,
        )
    except BaseException:
        tokens.stop()
        raise
    registry.token_server = tokens
    first = next(iter(users.items()), None)
    if first is not None:
        registry.username, registry.password = first
    return registry
