"""The real Distribution registry (Debian ``docker-registry``) on 127.0.0.1.

``start_registry`` writes a config.yml for one instance and waits until ``/v2/`` answers.
Authentication variants (htpasswd over TLS, token auth) build on the same launcher.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from pipeline.errors import SandboxError
from pipeline.services.process import free_port, spawn, stop_process, wait_until


@dataclass
class Registry:
    address: str  # host:port, what goes in image references
    scheme: str  # http or https
    data_dir: Path
    ca_cert: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def stop(self) -> None:
        stop_process(self.proc)


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


def start_registry(
    data_dir: Path,
    *,
    port: int = 0,
    config_overrides: dict[str, Any] | None = None,
    ca_cert: Path | None = None,
    tie_to_parent: bool = True,
) -> Registry:
    """Start one registry instance storing under ``data_dir``; ``config_overrides`` are
    merged into the top level of config.yml (``auth``, ``http.tls`` ...)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = base_config(data_dir, port)
    for key, value in (config_overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    scheme = "https" if "tls" in config["http"] else "http"
    config_path = data_dir / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = data_dir / "registry.log"
    proc = spawn([registry_binary(), "serve", str(config_path)], log, tie_to_parent=tie_to_parent)
    registry = Registry(
        address=f"127.0.0.1:{port}", scheme=scheme, data_dir=data_dir, ca_cert=ca_cert, proc=proc
    )

    def answers() -> bool:
        try:
            verify: str | bool = str(ca_cert) if ca_cert else True
            r = requests.get(f"{registry.url}/v2/", timeout=1, verify=verify)
        except requests.RequestException:
            return False
        return r.status_code in (200, 401)

    wait_until(answers, timeout=30, what="registry", proc=proc, log_file=log)
    return registry
