"""Credential references (``<alias>.pull-secret``, ``registries.conf`` ``credentials``).

Grammar and errors follow ``registry-scanner/pkg/image/credentials.go``
``ParseCredentialSource`` (reference 1.7):

- ``pullsecret:<ns>/<name>``: a ``kubernetes.io/dockerconfigjson`` Secret, field
  ``.dockerconfigjson``; the ``auths`` entry whose key starts with the registry API URL, or
  with that URL minus ``http(s)://`` and trailing ``/``, and its base64 ``auth``.
- ``secret:<ns>/<name>#<field>``: a Secret field holding ``user:password``.
- ``env:<VAR>``: an environment variable holding ``user:password``.
- ``ext:<absolute path>``: a script whose first output line is ``user:password`` (image-updater
  kills it after 10 s). A relative path parses but fails when resolved.
- ``<registry>=<one of the above>`` when the caller allows a registry prefix.

Every stored credential is ``user:password`` split at the first ``:``. Parsing does no I/O;
:func:`resolve_credentials` takes the I/O as injected callables. v1.3.0 (#1733) rejects a
Secret in another namespace than the Application's: pass ``app_namespace`` to get that check.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.credentials import Credentials
from pipeline.errors import CredentialRefError

DOCKERCONFIG_FIELD = ".dockerconfigjson"
EXT_SCRIPT_TIMEOUT = 10.0
_FORMS = "pullsecret:<ns>/<name>, secret:<ns>/<name>#<field>, env:<VAR> or ext:/abs/path"


@dataclass(frozen=True)
class SecretRef:
    """``pullsecret:`` (field ``.dockerconfigjson``, ``pull_secret`` True) or ``secret:``."""

    namespace: str
    name: str
    field: str = DOCKERCONFIG_FIELD
    pull_secret: bool = True
    registry: str = ""


@dataclass(frozen=True)
class EnvRef:
    variable: str
    registry: str = ""


@dataclass(frozen=True)
class ExtScriptRef:
    path: str
    registry: str = ""


CredentialRef = SecretRef | EnvRef | ExtScriptRef


def format_credential_ref(ref: CredentialRef) -> str:
    """The reference as written (``parse_credential_ref`` of the result gives ``ref`` back)."""
    if isinstance(ref, SecretRef):
        where = f"{ref.namespace}/{ref.name}"
        text = f"pullsecret:{where}" if ref.pull_secret else f"secret:{where}#{ref.field}"
    elif isinstance(ref, EnvRef):
        text = f"env:{ref.variable}"
    else:
        text = f"ext:{ref.path}"
    return f"{ref.registry}={text}" if ref.registry else text


def _bad(text: str, why: str) -> CredentialRefError:
    return CredentialRefError(f"invalid credential reference {text!r}: {why}", hint=f"use {_FORMS}")


def _namespaced(text: str, value: str) -> tuple[str, str]:
    ns, sep, name = value.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise _bad(text, "the secret must be written '<namespace>/<name>'")
    return ns, name


def parse_credential_ref(text: str, *, allow_registry_prefix: bool = False) -> CredentialRef:
    """Parse a reference; raises CredentialRefError naming the problem."""
    registry, spec = "", text
    if allow_registry_prefix:
        registry, sep, spec = text.partition("=")
        if not sep or not registry or not spec:
            raise _bad(text, "expected '<registry>=<reference>'")
    kind, sep, value = spec.partition(":")
    if not sep or not kind or not value:
        raise _bad(text, "expected '<type>:<value>'")
    match kind.lower():
        case "pullsecret":
            ns, name = _namespaced(text, value)
            return SecretRef(ns, name, registry=registry)
        case "secret":
            secret, sep, field = value.partition("#")
            if not sep or not field:
                raise _bad(text, "a 'secret:' reference needs '#<field>'")
            ns, name = _namespaced(text, secret)
            return SecretRef(ns, name, field, pull_secret=False, registry=registry)
        case "env":
            return EnvRef(value, registry)
        case "ext":
            return ExtScriptRef(value, registry)
    raise _bad(text, f"unknown credential source {kind!r}")


def _user_password(value: str, where: str) -> Credentials:
    user, sep, password = value.partition(":")
    if not sep:
        raise CredentialRefError(
            f"{where} does not hold 'user:password'",
            hint="store the credential as '<user>:<password>' (a token goes after the ':')",
        )
    return Credentials(user, password)


def _secret_data(secret: Mapping[str, Any]) -> Mapping[str, Any]:
    data = secret.get("data", secret)
    return data if isinstance(data, Mapping) else {}


def _decoded(data: Mapping[str, Any], field: str, where: str) -> str:
    if field not in data:
        raise CredentialRefError(f"{where} has no field {field!r}", hint=f"add {field!r} to it")
    try:
        return base64.b64decode(str(data[field]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise CredentialRefError(f"field {field!r} of {where} is not base64 text") from e


def credentials_from_dockerconfig(config_json: str, api_url: str, where: str) -> Credentials:
    """image-updater's ``parseDockerConfigJson``: prefix match on the ``auths`` keys."""
    try:
        auths = json.loads(config_json).get("auths") or {}
    except (ValueError, AttributeError) as e:
        raise CredentialRefError(f"{where} does not hold Docker config JSON") from e
    bare = api_url.removeprefix("https://").removeprefix("http://").rstrip("/")
    for key, entry in auths.items():
        if not (key.startswith(api_url) or key.startswith(bare)) or not isinstance(entry, dict):
            continue
        try:
            auth = base64.b64decode(str(entry.get("auth", "")), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as e:
            raise CredentialRefError(f"the 'auth' of {key!r} in {where} is not base64") from e
        return _user_password(auth, f"the 'auth' of {key!r} in {where}")
    raise CredentialRefError(
        f"no valid auth entry for registry {api_url} in {where}",
        hint="create it with 'kubectl create secret docker-registry --docker-server=<registry>'",
    )


def resolve_credentials(
    ref: CredentialRef,
    api_url: str,
    *,
    get_secret: Callable[[str, str], Mapping[str, Any]],
    getenv: Callable[[str], str | None],
    run_script: Callable[[str], str],
    app_namespace: str | None = None,
) -> Credentials:
    """Credentials for ``api_url`` (e.g. ``https://127.0.0.1:5000``) from a parsed reference.

    ``get_secret(ns, name)`` returns the Secret (or its ``data`` map, base64 values);
    ``run_script(path)`` returns its stdout and should enforce :data:`EXT_SCRIPT_TIMEOUT`.
    """
    if isinstance(ref, SecretRef):
        where = f"secret {ref.namespace}/{ref.name}"
        if app_namespace is not None and ref.namespace != app_namespace:
            raise CredentialRefError(
                f"{where} is not in the Application's namespace {app_namespace!r}",
                hint="copy the secret into the Application's namespace (image-updater >= 1.3.0)",
            )
        value = _decoded(_secret_data(get_secret(ref.namespace, ref.name)), ref.field, where)
        if ref.pull_secret:
            return credentials_from_dockerconfig(value, api_url, where)
        return _user_password(value, f"field {ref.field!r} of {where}")
    if isinstance(ref, EnvRef):
        value_or_none = getenv(ref.variable)
        if not value_or_none:
            raise CredentialRefError(f"environment variable {ref.variable} is not set or empty")
        return _user_password(value_or_none, f"environment variable {ref.variable}")
    if not ref.path.startswith("/"):
        raise CredentialRefError(
            f"path to script must be absolute, but is {ref.path!r}",
            hint="write 'ext:/absolute/path/to/script'",
        )
    lines = run_script(ref.path).splitlines()
    return _user_password(lines[0].strip() if lines else "", f"the output of {ref.path}")
