"""Where the Argo CD API server is, resolved as the argocd CLI resolves it
(argo-cd ``pkg/apiclient/apiclient.go`` NewClient, ``util/localconfig/localconfig.go``):

1. the argocd CLI's config file (``--argocd-config``; else ``$ARGOCD_CONFIG_DIR/config``,
   ``~/.argocd/config`` when that directory exists, ``$XDG_CONFIG_HOME/argocd/config``,
   ``~/.config/argocd/config``), its ``--argocd-context`` or ``current-context``: the server's
   address, ``plain-text``, ``insecure``, ``grpc-web-root-path``, CA data and the user's
   ``auth-token``;
2. then ``ARGOCD_SERVER`` / ``ARGOCD_AUTH_TOKEN`` (or their flags) override the address and
   token, and ``--plaintext``, ``--insecure``, ``--grpc-web-root-path`` switch on.

The address is ``host[:port]`` as the argocd CLI takes it (TLS, port 443; 80 with
``--plaintext``) or a URL: ``http://`` means plain HTTP, ``https://`` TLS.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipeline.adapters.argocd_http import ApiTarget
from pipeline.core.settings import ArgoApiSettings
from pipeline.errors import UsageError

SERVER_HINT = (
    "set ARGOCD_SERVER (or --argocd-server) to argocd-server's host:port or URL, and "
    "ARGOCD_AUTH_TOKEN (or --auth-token) to a token (`argocd account generate-token`)"
)


def default_config_path(env: dict[str, str]) -> Path:
    if env.get("ARGOCD_CONFIG_DIR"):
        return Path(env["ARGOCD_CONFIG_DIR"]) / "config"
    home = Path(env.get("HOME") or Path.home())
    if (home / ".argocd").is_dir():
        return home / ".argocd" / "config"
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "argocd" / "config"
    return home / ".config" / "argocd" / "config"


def _named(entries: Any, key: str, value: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get(key) == value:
            return entry
    return {}


def from_cli_config(settings: ArgoApiSettings, env: dict[str, str]) -> dict[str, Any]:
    """The argocd CLI context's server and user (empty when there is no config file, unless
    a context was asked for: then a missing file or context is an error)."""
    path = Path(settings.config_path) if settings.config_path else default_config_path(env)
    if not path.is_file():
        if settings.context or settings.config_path:
            raise UsageError(
                f"--argocd-context/--argocd-config: the argocd CLI config {path} does not exist",
                hint="run `argocd login <server>` to create it, or pass --argocd-server and "
                "--auth-token instead",
            )
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(
            f"the argocd CLI config {path} is not readable YAML: {getattr(e, 'problem', e)}",
            hint=f"fix or remove {path} (`argocd context` reads it), or pass --argocd-config",
        ) from None
    if not isinstance(loaded, dict):
        return {}
    name = settings.context or str(loaded.get("current-context") or "")
    if not name:
        return {}
    context = _named(loaded.get("contexts"), "name", name)
    if not context:
        known = ", ".join(str(c.get("name")) for c in loaded.get("contexts") or [] if c)
        raise UsageError(
            f"--argocd-context {name!r} is not defined in {path}",
            hint=f"pass one of: {known or '(none defined; run `argocd login`)'}",
        )
    server = _named(loaded.get("servers"), "server", str(context.get("server") or ""))
    user = _named(loaded.get("users"), "name", str(context.get("user") or ""))
    return {"server": server, "user": user}


def split_address(address: str, plaintext: bool) -> tuple[str, str, bool]:
    """(scheme, host:port, plaintext) of ``host[:port]`` or ``http(s)://host[:port][/path]``;
    a URL's path is returned as part of the host:port for the root path."""
    text = address.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--argocd-server {address!r}: not host:port or an http(s):// URL",
                hint=SERVER_HINT,
            )
        plain = parts.scheme == "http"
        return parts.scheme, parts.netloc + parts.path.rstrip("/"), plain
    if not text or any(c in text for c in " /?#@"):
        raise UsageError(
            f"--argocd-server {address!r}: not host:port or an http(s):// URL", hint=SERVER_HINT
        )
    return ("http" if plaintext else "https"), text, plaintext


def resolve(settings: ArgoApiSettings, env: dict[str, str] | None = None) -> ApiTarget:
    """The ApiTarget, or UsageError naming what is missing and how to give it."""
    env = dict(os.environ) if env is None else env
    cli = from_cli_config(settings, env)
    server_entry, user = cli.get("server") or {}, cli.get("user") or {}
    address = settings.server or str(server_entry.get("server") or "")
    token = settings.auth_token or str(user.get("auth-token") or "")
    if not address:
        raise UsageError("no Argo CD API server given", hint=SERVER_HINT)
    plaintext = settings.plaintext or bool(server_entry.get("plain-text"))
    scheme, hostport, plaintext = split_address(address, plaintext)
    if not token:
        raise UsageError(
            f"no Argo CD token for {address}: ARGOCD_AUTH_TOKEN is unset", hint=SERVER_HINT
        )
    root = settings.grpc_web_root_path or str(server_entry.get("grpc-web-root-path") or "")
    base = f"{scheme}://{hostport}" + (f"/{root.strip('/')}" if root.strip("/") else "")
    verify: bool | str = True
    if settings.insecure or server_entry.get("insecure"):
        verify = False
    elif settings.ca_file:
        verify = checked_pem_file(
            settings.ca_file, "--argocd-ca", "the Argo CD server's CA certificate(s)"
        )
    elif server_entry.get("certificate-authority-data"):
        verify = _ca_data_file(str(server_entry["certificate-authority-data"]))
    return ApiTarget(base_url=base, token=token, verify=verify)


def checked_pem_file(path: str, flag: str, what: str) -> str:
    """``path`` when it is a readable file of PEM certificate(s); else UsageError naming
    ``flag``. Checked before anything connects, builds or pushes."""
    hint = f"pass {flag} a PEM file of {what}"
    if not Path(path).is_file():
        state = "is not a file" if Path(path).exists() else "does not exist"
        raise UsageError(f"{flag} {path} {state}", hint=hint)
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise UsageError(
            f"{flag} {path} holds no readable PEM certificate: {e}", hint=hint
        ) from None
    return path


def _ca_data_file(data: str) -> str:
    """The config's base64 CA data as a file for the TLS library (removed at exit)."""
    import atexit

    handle = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)  # noqa: SIM115
    with handle:
        handle.write(base64.b64decode(data))
    atexit.register(lambda: Path(handle.name).unlink(missing_ok=True))
    return handle.name
