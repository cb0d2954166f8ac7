"""Test vector 35 (``config_test.go``, reference section 6) and the registries.conf semantics of
reference 1.8: pipeline/core/imageupdater/registriesconf.py."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.registriesconf import (
    RegistryConfig,
    endpoint_for,
    parse_go_duration,
    parse_registries_conf,
)
from pipeline.errors import ExitCode, RegistriesConfError

EXAMPLE = """
registries:
- name: Docker Hub
  api_url: https://registry-1.docker.io
  ping: yes
  credentials: secret:foo/bar#creds
  defaultns: library
  default: true
- name: Google Container Registry
  api_url: https://gcr.io
  prefix: gcr.io
  ping: no
  credentials: pullsecret:foo/bar
- name: GitHub Container Registry
  api_url: https://ghcr.io
  prefix: ghcr.io
  credentials: ext:/some/script
  credsexpire: 5h
  limit: 10
  tagsortmode: latest-first
- name: Quay
  api_url: https://quay.io
  prefix: quay.io/team
  insecure: true
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RegistriesConfError) as caught:
        parse_registries_conf(text)
    assert int(caught.value.exit_code) == int(ExitCode.USAGE)
    return [p.message for p in caught.value.problems]


def test_a_valid_document_parses_every_field() -> None:
    hub, gcr, ghcr, quay = parse_registries_conf(EXAMPLE)
    assert hub == RegistryConfig(
        name="Docker Hub", api_url="https://registry-1.docker.io", default=True,
        defaultns="library", credentials="secret:foo/bar#creds", ping=True,
    )  # fmt: skip
    assert (gcr.prefix, gcr.credentials) == ("gcr.io", "pullsecret:foo/bar")
    assert (ghcr.credsexpire, ghcr.limit, ghcr.tagsortmode) == (5 * 3600, 10, "latest-first")
    assert quay.insecure


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registries:\n- api_url: https://foo.io\n  ping: false\n", "name is missing"),
        ("registries:\n- name: Foobar Registry\n  ping: false\n", "API URL must be"),
        (
            "registries:\n- name: Foobar Registry\n  api_url: https://foobar.io\n  ping: false\n"
            "- name: Barbar Registry\n  api_url: https://barbar.io\n  ping: false\n",
            "already is Foobar Registry",
        ),
        (
            "registries:\n- name: Foobar Registry\n  api_url: https://foobar.io\n"
            "  ping: false\n  tagsortmode: invalid\n",
            "unknown tag sort mode",
        ),
        (
            "registries:\n- name: A\n  api_url: https://a.io\n  prefix: a.io\n  default: true\n"
            "- name: B\n  api_url: https://b.io\n  prefix: b.io\n  default: true\n",
            "cannot set registry",
        ),
    ],
)
def test_vector_35_errors(text: str, message: str) -> None:
    assert any(message in m for m in problems(text))


def test_vector_35_exact_wording() -> None:
    assert problems(
        "registries:\n- name: Foobar Registry\n  api_url: https://foobar.io\n"
        "- name: Barbar Registry\n  api_url: https://barbar.io\n"
    ) == [
        "there must be only one default registry (already is Foobar Registry), "
        "Barbar Registry needs a prefix"
    ]
    assert problems(
        "registries:\n- name: A\n  api_url: https://a.io\n  prefix: a.io\n  default: true\n"
        "- name: B\n  api_url: https://b.io\n  prefix: b.io\n  default: true\n"
    ) == [
        "cannot set registry b.io as default - only one default registry allowed, "
        "currently set to a.io"
    ]
    assert problems(
        "registries:\n- name: F\n  api_url: https://f.io\n  tagsortmode: unsorted\n"
    ) == ["unknown tag sort mode for registry F: unsorted"]


def test_strict_yaml_unknown_and_duplicate_keys_and_every_problem_at_once() -> None:
    found = problems(
        "registries:\n- name: A\n  api_url: https://a.io\n  ratelimit: 5\n"
        "- api_url: https://b.io\n  credentials: secrets:ns/x\n  prefix: b.io\n"
    )
    assert found == [
        "registries[0]: field ratelimit not found in type registry.RegistryConfiguration",
        "registry name is missing for entry "
        + repr(RegistryConfig(name="", api_url="https://b.io", prefix="b.io",
                              credentials="secrets:ns/x")),
    ]  # fmt: skip
    assert any("already set" in m for m in problems("registries:\n- name: A\n  name: B\n"))
    bad_credentials = "registries:\n- name: C\n  api_url: https://c.io\n  credentials: secrets:x\n"
    assert any("credentials of registry C" in m for m in problems(bad_credentials))


@pytest.mark.parametrize(
    ("text", "seconds"), [("5h", 18000), ("1h30m", 5400), ("1.5s", 1.5), ("0", 0), ("300ms", 0.3)]
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "h", "5d", "", "1h 2m"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("nginx", "Docker Hub"),  # no registry: the default entry
        ("gcr.io/project/app", "Google Container Registry"),  # exact prefix
        ("quay.io/team/app", "Quay"),  # longest prefix of registry/repo
        ("quay.io/other/app", None),  # no entry: the caller infers https://quay.io
    ],
)
def test_endpoint_lookup(image: str, name: str | None) -> None:
    found = endpoint_for(parse_registries_conf(EXAMPLE), image)
    assert (found.name if found else None) == name
