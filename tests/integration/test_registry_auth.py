"""Basic (htpasswd over TLS) and Bearer-token auth against the real registry and dockerd.

Every test also checks that no password or token reaches a log record or an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.core.ports import Credentials
from pipeline.errors import PipelineError, RegistryError
from pipeline.services.registry import Registry
from tests.fixtures.services import BuildImage, registry_credentials, write_busybox_context

pytestmark = pytest.mark.integration

JWT_PREFIX = "eyJ"  # base64url of '{"' : every JWT header starts with it


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def assert_no_secret(registry: Registry, texts: list[str]) -> None:
    assert registry.password
    for text in texts:
        assert registry.password not in text
        assert JWT_PREFIX not in text


def error_texts(error: PipelineError) -> list[str]:
    return [str(error), error.hint, repr(error), repr(error.args)]


def wrong(registry: Registry) -> Credentials:
    return Credentials(registry.username or "", "not-the-" + (registry.password or ""))


def test_htpasswd_tls_registry(
    auth_registry: Registry,
    build_image: BuildImage,
    tmp_path: Path,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    ref = parse_image_ref(f"{auth_registry.address}/private/app:canary")
    pushed = build_image(write_busybox_context(tmp_path, "basic"), str(ref), auth_registry)
    ca = str(auth_registry.ca_cert)

    client = RegistryClient(registry_credentials(auth_registry), ca_bundle=ca)
    assert client.head_digest(ref).digest == pushed
    assert client.head_digest(ref).digest == pushed
    assert client.stats.count("HEAD", "manifest") == 3  # 401, retry, then Basic sent at once

    failures = []
    for credentials in (lambda host: wrong(auth_registry), None):
        with pytest.raises(RegistryError) as caught:
            RegistryClient(credentials, ca_bundle=ca).head_digest(ref)
        assert caught.value.reason == "registry-auth"
        assert f"docker login {auth_registry.address}" in caught.value.hint
        failures += error_texts(caught.value)
    assert_no_secret(auth_registry, failures + [r.getMessage() for r in all_logs.records])


def test_untrusted_certificate_is_reported_not_downgraded(auth_registry: Registry) -> None:
    ref = parse_image_ref(f"{auth_registry.address}/private/app:canary")
    with pytest.raises(RegistryError, match="certificate is not trusted") as caught:
        RegistryClient(registry_credentials(auth_registry)).head_digest(ref)
    assert "CA bundle" in caught.value.hint


def test_docker_push_with_wrong_password_is_a_registry_auth_error(
    auth_registry: Registry, build_image: BuildImage, tmp_path: Path
) -> None:
    intruder = Registry(
        address=auth_registry.address,
        scheme="https",
        data_dir=tmp_path,
        username=auth_registry.username,
        password="wrong-" + (auth_registry.password or ""),
    )
    context = write_busybox_context(tmp_path / "ctx", "denied")
    with pytest.raises(RegistryError) as caught:
        build_image(context, f"{auth_registry.address}/private/denied:v1", intruder)
    assert caught.value.reason == "registry-auth"
    assert_no_secret(auth_registry, error_texts(caught.value))
    assert intruder.password
    assert intruder.password not in str(caught.value) + caught.value.hint


def test_token_registry(
    token_registry: Registry,
    build_image: BuildImage,
    tmp_path: Path,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    ref = parse_image_ref(f"{token_registry.address}/private/tokened:canary")
    pushed = build_image(write_busybox_context(tmp_path, "token"), str(ref), token_registry)

    client = RegistryClient(registry_credentials(token_registry))
    assert client.head_digest(ref).digest == pushed
    assert client.head_digest(ref).digest == pushed
    assert client.stats.count("GET", "token") == 1  # cached per (host, scope)
    assert client.stats.count("GET", "manifest") == 0
    assert token_registry.token_server is not None
    grants = [g for g in token_registry.token_server.grants if g.name == "private/tokened"]
    assert any(g.subject == token_registry.username and "push" in g.actions for g in grants)

    failures = []
    for credentials in (lambda host: wrong(token_registry), None):
        with pytest.raises(RegistryError) as caught:
            RegistryClient(credentials).head_digest(ref)
        assert caught.value.reason == "registry-auth"
        failures += error_texts(caught.value)
    assert_no_secret(token_registry, failures + [r.getMessage() for r in all_logs.records])
    assert not [r for r in all_logs.records if "Bearer" in r.getMessage()]
