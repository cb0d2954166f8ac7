"""Pure parsing behind the registry client: challenges, Retry-After, rate limits, pages."""

from __future__ import annotations

import pytest

from pipeline.adapters.registry import _next_page
from pipeline.adapters.registry_auth import (
    Challenge,
    Redactor,
    TokenCache,
    parse_www_authenticate,
    preferred_challenge,
)
from pipeline.adapters.registry_limits import parse_rate_limit, parse_retry_after
from pipeline.adapters.registry_transport import is_loopback
from pipeline.core.ports import RateLimit
from pipeline.services.token_server import parse_scope


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/nginx:pull",
                    },
                )
            ],
        ),
        ('Basic realm="pipeline-registry"', [Challenge("basic", {"realm": "pipeline-registry"})]),
        (
            'Bearer realm="http://127.0.0.1:1/token",service="s",'
            'scope="repository:a/b:pull,push",error="insufficient_scope"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "http://127.0.0.1:1/token",
                        "service": "s",
                        "scope": "repository:a/b:pull,push",
                        "error": "insufficient_scope",
                    },
                )
            ],
        ),
        (
            'Basic realm="r", Bearer realm="t", service=s',
            [
                Challenge("basic", {"realm": "r"}),
                Challenge("bearer", {"realm": "t", "service": "s"}),
            ],
        ),
        (
            'Bearer realm="a \\"quoted\\" realm"',
            [Challenge("bearer", {"realm": 'a "quoted" realm'})],
        ),
        ("", []),
    ],
)
def test_parse_www_authenticate(header: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected


def test_bearer_is_preferred_over_basic() -> None:
    chosen = preferred_challenge(parse_www_authenticate('Basic realm="r", Bearer realm="t"'))
    assert chosen is not None and chosen.scheme == "bearer"
    assert preferred_challenge([]) is None


NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_docker_hub_rate_limit_headers() -> None:
    headers = {
        "ratelimit-limit": "100;w=21600",
        "ratelimit-remaining": "76;w=21600",
        "docker-ratelimit-source": "192.0.2.1",
    }
    assert parse_rate_limit(headers) == RateLimit(100, 76, 21600, "192.0.2.1")
    assert parse_rate_limit({"content-type": "x"}) is None


def test_token_cache_expires_with_the_clock() -> None:
    now = [100.0]
    cache = TokenCache(lambda: now[0])
    cache.put("r.example", "repository:a:pull", "tok-1", 60)
    assert cache.get("r.example", "repository:a:pull") == "tok-1"
    assert cache.get("r.example", "repository:b:pull") is None
    now[0] += 56  # expires a few seconds early, so a token is never used at its edge
    assert cache.get("r.example", "repository:a:pull") is None
    cache.put("r.example", "repository:a:pull", "tok-2", None)  # spec default: 60 s
    now[0] += 50
    assert cache.get("r.example", "repository:a:pull") == "tok-2"
    assert "tok-2" not in repr(cache)


def test_redactor_removes_every_secret_it_was_given() -> None:
    redact = Redactor()
    redact.add("hunter22", None, "dG9rZW4=")
    assert (
        redact("user:hunter22 and Basic dG9rZW4= done")
        == "user:<redacted> and Basic <redacted> done"
    )


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('</v2/team/app/tags/list?last=b&n=2>; rel="next"', "tags/list?last=b&n=2"),
        ("</v2/team/app/tags/list?n=2&last=b>; rel=next", "tags/list?n=2&last=b"),
        ("", None),
        ('</v2/team/app/tags/list?last=b>; rel="prev"', None),
    ],
)
def test_next_page_from_link_header(link: str, expected: str | None) -> None:
    assert _next_page(link, "team/app") == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("repository:team/app:pull,push", ("repository", "team/app", ["pull", "push"])),
        ("repository:127.0.0.1:5000/app:pull", ("repository", "127.0.0.1:5000/app", ["pull"])),
        ("registry:catalog:*", ("registry", "catalog", ["*"])),
        ("garbage", None),
    ],
)
def test_token_service_scope_parsing(
    scope: str, expected: tuple[str, str, list[str]] | None
) -> None:
    assert parse_scope(scope) == expected
