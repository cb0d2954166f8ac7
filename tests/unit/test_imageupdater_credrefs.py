"""Credential references: reference 6, vectors 29-30, and their resolution (1.7)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest

from pipeline.core.imageupdater.credrefs import (
    CredentialRef,
    EnvRef,
    ExtScriptRef,
    SecretRef,
    parse_credential_ref,
    resolve_credentials,
)
from pipeline.core.ports import Credentials
from pipeline.errors import CredentialRefError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_registry_prefixed_secret() -> None:
    """Vector 29."""
    ref = parse_credential_ref(
        "gcr.io=secret:mynamespace/mysecret#anyfield", allow_registry_prefix=True
    )
    assert ref == SecretRef(
        "mynamespace", "mysecret", "anyfield", pull_secret=False, registry="gcr.io"
    )


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("pullsecret:ns/name", SecretRef("ns", "name", ".dockerconfigjson")),
        ("PullSecret:ns/name", SecretRef("ns", "name", ".dockerconfigjson")),
        ("secret:ns/name#token", SecretRef("ns", "name", "token", pull_secret=False)),
        ("env:DUMMY_SECRET", EnvRef("DUMMY_SECRET")),
        ("ext:/tmp/a.sh", ExtScriptRef("/tmp/a.sh")),
        ("ext:a.sh", ExtScriptRef("a.sh")),  # fails when resolved, not when parsed
    ],
)
def test_parse(text: str, ref: CredentialRef) -> None:
    assert parse_credential_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "secret:ns/name#",
        "secret:/name#f",
        "secret:ns/#f",
        "secret:ns/name",
        "pullsecret:/name",
        "pullsecret:ns",
        "pullsecret:ns/a/b",
        "secrets:ns/name",
        "env:",
        "nothing",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(CredentialRefError):
        parse_credential_ref(text)


@pytest.mark.parametrize("text", ["=secret:ns/name#f", "gcr.io=", "secret:ns/name#f"])
def test_parse_rejects_bad_registry_prefix(text: str) -> None:
    with pytest.raises(CredentialRefError):
        parse_credential_ref(text, allow_registry_prefix=True)


def dockerconfig(server: str, user: str, password: str) -> dict[str, Any]:
    config = {"auths": {server: {"auth": b64(f"{user}:{password}")}}}
    return {"metadata": {"name": "pull"}, "data": {".dockerconfigjson": b64(json.dumps(config))}}


def no_env(_: str) -> str | None:
    return None


def no_script(path: str) -> str:
    raise AssertionError(f"no script expected, got {path}")


def secrets(store: Mapping[tuple[str, str], Mapping[str, Any]]) -> Any:
    return lambda ns, name: store[(ns, name)]


def resolve(ref: CredentialRef, api_url: str, **kw: Any) -> Credentials:
    kw.setdefault("get_secret", secrets({}))
    kw.setdefault("getenv", no_env)
    kw.setdefault("run_script", no_script)
    return resolve_credentials(ref, api_url, **kw)


@pytest.mark.parametrize(
    "server", ["https://127.0.0.1:5443", "127.0.0.1:5443", "127.0.0.1:5443/v2/"]
)
def test_pull_secret_prefix_match(server: str) -> None:
    store = {("apps", "pull"): dockerconfig(server, "alice", "s3:cret")}
    creds = resolve(SecretRef("apps", "pull"), "https://127.0.0.1:5443", get_secret=secrets(store))
    assert creds == Credentials("alice", "s3:cret")


def test_pull_secret_without_matching_entry() -> None:
    store = {("apps", "pull"): dockerconfig("ghcr.io", "alice", "pw")}
    with pytest.raises(CredentialRefError, match="no valid auth entry"):
        resolve(SecretRef("apps", "pull"), "https://127.0.0.1:5443", get_secret=secrets(store))


def test_generic_secret_field() -> None:
    store = {("apps", "creds"): {"data": {"token": b64("bob:tok")}}}
    ref = SecretRef("apps", "creds", "token", pull_secret=False)
    assert resolve(ref, "https://r", get_secret=secrets(store)) == Credentials("bob", "tok")
    with pytest.raises(CredentialRefError, match="no field 'other'"):
        resolve(SecretRef("apps", "creds", "other", False), "https://r", get_secret=secrets(store))


def test_secret_value_without_colon() -> None:
    store = {("apps", "creds"): {"token": b64("just-a-token")}}
    with pytest.raises(CredentialRefError, match="user:password"):
        resolve(SecretRef("apps", "creds", "token", False), "https://r", get_secret=secrets(store))


def test_cross_namespace_secret_rejected_when_asked() -> None:
    store = {("other", "pull"): dockerconfig("r", "a", "b")}
    with pytest.raises(CredentialRefError, match="namespace"):
        resolve(
            SecretRef("other", "pull"), "https://r", get_secret=secrets(store), app_namespace="apps"
        )


def test_env() -> None:
    env = {"REG": "carol:pw"}
    assert resolve(EnvRef("REG"), "https://r", getenv=env.get) == Credentials("carol", "pw")
    with pytest.raises(CredentialRefError, match="not set"):
        resolve(EnvRef("MISSING"), "https://r", getenv=env.get)
    with pytest.raises(CredentialRefError, match="user:password"):
        resolve(EnvRef("BAD"), "https://r", getenv={"BAD": "nocolon"}.get)


def test_ext_script() -> None:
    out = {"/opt/creds.sh": "dave:pw\nignored second line\n"}
    assert resolve(
        ExtScriptRef("/opt/creds.sh"), "https://r", run_script=out.__getitem__
    ) == Credentials("dave", "pw")
    with pytest.raises(CredentialRefError, match="absolute"):
        resolve(ExtScriptRef("creds.sh"), "https://r")
    with pytest.raises(CredentialRefError, match="user:password"):
        resolve(ExtScriptRef("/opt/empty.sh"), "https://r", run_script=lambda _: "")


def test_password_never_in_repr() -> None:
    creds = resolve(EnvRef("REG"), "https://r", getenv={"REG": "u:topsecret"}.get)
    assert "topsecret" not in repr(creds)
