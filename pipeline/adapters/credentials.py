"""Registry credentials from a Docker config.json or a Kubernetes image pull secret.

Lookup follows the Docker CLI (``cli/config/configfile/file.go``, ``GetCredentialsStore`` and
``GetAuthConfig``): a ``credHelpers`` entry for the host wins, then ``credsStore``, then the
``auths`` entry (``auth`` = base64 ``user:password``, or ``username``/``password``). Keys match
by host name after dropping the scheme and path (``ConvertToHostname``), and every Docker Hub
alias (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``) is stored under
``https://index.docker.io/v1/`` (``registry.IndexServer``).

Pull secrets are ``kubernetes.io/dockerconfigjson`` (``.dockerconfigjson`` = a config with
``auths``) or the legacy ``kubernetes.io/dockercfg`` (``.dockercfg`` = the ``auths`` map itself),
as the kubelet reads them (``pkg/credentialprovider/secrets/secrets.go``).

A password never appears in a repr, str or error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.core.ports import Credentials
from pipeline.errors import RegistryError, UsageError, truncate

DOCKER_HUB_INDEX = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_NOT_FOUND = "credentials not found in native keychain"


def registry_hostname(key: str) -> str:
    """``https://host:5000/v2/`` -> ``host:5000``; Hub aliases -> ``index.docker.io``."""
    host = key
    for prefix in ("http://", "https://"):
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    host = host.split("/", 1)[0].lower()
    return "index.docker.io" if host in _HUB_ALIASES else host


def server_key(host: str) -> str:
    """The key Docker stores ``host``'s credentials under."""
    return DOCKER_HUB_INDEX if registry_hostname(host) == "index.docker.io" else host


def _decode_entry(entry: Mapping[str, Any], where: str) -> Credentials | None:
    encoded = entry.get("auth")
    if encoded:
        try:
            user, sep, password = base64.b64decode(str(encoded)).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise UsageError(
                f"the 'auth' value in {where} is not base64 of 'user:password'",
                hint="re-create it with 'docker login' or 'kubectl create secret docker-registry'",
            ) from e
        if not sep:
            raise UsageError(f"the 'auth' value in {where} has no ':' between user and password")
        return Credentials(user, password)
    if entry.get("username") and entry.get("password"):
        return Credentials(str(entry["username"]), str(entry["password"]))
    if entry.get("identitytoken"):
        return Credentials("<token>", str(entry["identitytoken"]))
    return None


def credentials_from_auths(
    auths: Mapping[str, Any], host: str, where: str = "auths"
) -> Credentials | None:
    """The entry of an ``auths`` map for ``host``: exact key first, then by host name."""
    wanted = registry_hostname(host)
    exact = auths.get(server_key(host)) or auths.get(host)
    candidates = [exact] if isinstance(exact, Mapping) else []
    candidates += [v for k, v in auths.items() if registry_hostname(k) == wanted]
    for entry in candidates:
        if isinstance(entry, Mapping):
            found = _decode_entry(entry, f"{where} for {wanted}")
            if found is not None:
                return found
    return None


def run_credential_helper(
    helper: str, host: str, *, path: str | None = None, timeout: float = 30
) -> Credentials | None:
    """``docker-credential-<helper> get`` with the server URL on stdin (docker-credential-helpers
    protocol: stdout ``{"ServerURL", "Username", "Secret"}``)."""
    binary = shutil.which(f"docker-credential-{helper}", path=path)
    if binary is None:
        raise RegistryError(
            f"credential helper docker-credential-{helper} is not installed",
            hint="install it, or remove it from credsStore/credHelpers in the Docker config",
            reason="registry-auth",
        )
    proc = subprocess.run(
        [binary, "get"],
        input=server_key(host).encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        if _NOT_FOUND in out or _NOT_FOUND in proc.stderr.decode(errors="replace"):
            return None
        raise RegistryError(
            f"docker-credential-{helper} get failed with exit code {proc.returncode}",
            hint=truncate(proc.stderr.decode(errors="replace").strip(), 300),
            reason="registry-auth",
        )
    try:
        data = json.loads(out)
        username, secret = str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError, TypeError) as e:
        raise RegistryError(
            f"docker-credential-{helper} printed something that is not its JSON answer",
            reason="registry-auth",
        ) from e
    return Credentials(username, secret) if secret else None


def credentials_from_docker_config(
    config: Mapping[str, Any], host: str, *, helper_path: str | None = None
) -> Credentials | None:
    """Credentials for ``host`` from a parsed config.json (helpers run as subprocesses)."""
    helpers = config.get("credHelpers") or {}
    helper = helpers.get(server_key(host)) or helpers.get(registry_hostname(host))
    if helper:
        return run_credential_helper(str(helper), host, path=helper_path)
    if config.get("credsStore"):
        found = run_credential_helper(str(config["credsStore"]), host, path=helper_path)
        if found is not None:
            return found
    return credentials_from_auths(config.get("auths") or {}, host, "the Docker config")


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def load_docker_config(path: Path | None = None) -> dict[str, Any]:
    path = path or docker_config_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise UsageError(f"{path} is not valid JSON", hint="fix or remove the file") from e
    return data if isinstance(data, dict) else {}


def credentials_from_pull_secret(secret: Mapping[str, Any], host: str) -> Credentials | None:
    """Credentials for ``host`` from a pull Secret: the object, or just its ``data`` map."""
    data = secret.get("data", secret)
    name = secret.get("metadata", {}).get("name", "the pull secret")
    if ".dockerconfigjson" in data:
        raw, nested = data[".dockerconfigjson"], True
    elif ".dockercfg" in data:
        raw, nested = data[".dockercfg"], False
    else:
        raise UsageError(
            f"{name} has neither .dockerconfigjson nor .dockercfg",
            hint="create it with 'kubectl create secret docker-registry'",
        )
    try:
        parsed = json.loads(base64.b64decode(raw))
    except (binascii.Error, ValueError) as e:
        raise UsageError(f"{name} does not hold base64-encoded JSON") from e
    auths = parsed.get("auths", {}) if nested else parsed
    return credentials_from_auths(auths if isinstance(auths, Mapping) else {}, host, name)


class DockerConfigCredentials:
    """``credentials`` callable for RegistryClient: reads config.json once, per host lookups."""

    def __init__(self, path: Path | None = None, *, helper_path: str | None = None) -> None:
        self.path = path or docker_config_path()
        self._config = load_docker_config(self.path)
        self._helper_path = helper_path

    def __call__(self, host: str) -> Credentials | None:
        return credentials_from_docker_config(self._config, host, helper_path=self._helper_path)


class PullSecretCredentials:
    """``credentials`` callable from pull Secrets, first match wins (as the kubelet does)."""

    def __init__(self, secrets: list[Mapping[str, Any]]) -> None:
        self._secrets = secrets

    def __call__(self, host: str) -> Credentials | None:
        for secret in self._secrets:
            found = credentials_from_pull_secret(secret, host)
            if found is not None:
                return found
        return None
