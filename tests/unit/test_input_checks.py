"""Inputs refused before anything connects: numbers, label selectors, pipeline.yaml bytes, tag and
digest grammar, and the Kubernetes adapters' deadline (issue 13)."""

from __future__ import annotations

import pytest

from pipeline.adapters.kubefail import Deadline, transport_error
from pipeline.config import load_config
from pipeline.core.images import parse_image_ref, validate_digest, validate_tag
from pipeline.core.inputs import non_negative_count, non_negative_seconds, positive_seconds
from pipeline.core.selectors import check_label_selector
from pipeline.errors import DeployTimeoutError, KubeAccessError, UsageError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", 0, -1, "abc", None, [1, 2]])
def test_timeouts_must_be_finite_and_positive(value: object) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        positive_seconds("--timeout", value)


def test_good_numbers_pass() -> None:
    assert positive_seconds("--timeout", "2.5") == 2.5
    assert non_negative_seconds("--settle", 0) == 0
    assert non_negative_count("--crashloop-restarts", 0) == 0


@pytest.mark.parametrize("value", [-0.5, "nan", "inf"])
def test_settle_must_be_finite_and_not_negative(value: object) -> None:
    with pytest.raises(UsageError, match="--settle"):
        non_negative_seconds("--settle", value)


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_counts_are_whole_and_not_negative(value: object) -> None:
    with pytest.raises(UsageError, match="restarts"):
        non_negative_count("restarts", value)


@pytest.mark.parametrize(
    ("selector", "position"),
    [
        ("a=b,,c=d", "found ',' at character 5"),
        ("a=b,", "ends at character 4"),
        ("=b", "found '=' at character 1"),
        ("a=b c=d", "found 'c' at character 5"),
        ("a in x", "found 'x' at character 6"),
        ("a=-x", "found '-x' at character 3"),
        ("a/b/c=d", "found 'a/b/c' at character 1"),
        ("a in (x", "ends at character 7"),
    ],
)
def test_label_selectors_the_api_server_refuses(selector: str, position: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_label_selector(selector, "service 'auth'")
    assert position in caught.value.message and "service 'auth'" in caught.value.message


@pytest.mark.parametrize(
    "selector",
    [
        "",
        "app=auth-api,version=v2",
        "app == x, tier != db",
        "a in (x, y),!b,c notin (z)",
        "example.com/app=x",
        "a=",
        "a",
        "a>3",
    ],
)
def test_label_selectors_the_api_server_accepts(selector: str) -> None:
    assert check_label_selector(selector) == selector


@pytest.mark.parametrize("tag", ["tägé", "v1\n", ".v1", "-v1", "a" * 129, "v1 "])
def test_tags_are_distribution_grammar(tag: str) -> None:
    with pytest.raises(UsageError):
        validate_tag(tag)
    with pytest.raises(UsageError):
        parse_image_ref(f"127.0.0.1:5000/x:{tag}")


@pytest.mark.parametrize("digest", [DIGEST + "\n", DIGEST + " ", DIGEST.upper(), "sha256:abc"])
def test_digests_are_distribution_grammar(digest: str) -> None:
    with pytest.raises(UsageError):
        validate_digest(digest)


def test_good_tag_and_digest() -> None:
    assert validate_tag("auth-dev_canary.1") and validate_digest(DIGEST)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"image: !!binary aGVsbG8=\n", "(line 1, column 8): a binary value"),
        (b"services: [auth]\nwhen: 2024-01-01\n", "(line 2, column 7): a timestamp value"),
        (b"services: [auth]\nimage: caf\xe9\n", "is not UTF-8 text (line 2: byte 0xe9)"),
    ],
)
def test_pipeline_yaml_plain_data_and_utf8(tmp_path, data: bytes, named: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(data)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and named in caught.value.message


def test_deadline_bounds_each_request_by_the_time_left() -> None:
    now = [100.0]
    deadline = Deadline(clock=lambda: now[0])
    assert deadline.timeouts("get x") == (10.0, 30.0)  # no deadline: the per-request bound
    deadline.start(5)
    connect, read = deadline.timeouts("get x")
    assert connect == read == pytest.approx(5.5)
    now[0] += 6
    with pytest.raises(DeployTimeoutError, match="did not answer before the run's deadline"):
        deadline.timeouts("get x")
    deadline.extend_to(now[0] + 20)
    assert deadline.timeouts("get x")[1] == pytest.approx(20.5)
    deadline.extend_to(now[0])  # never earlier
    assert deadline.timeouts("get x")[1] == pytest.approx(20.5)


def test_tls_errors_are_named_tls() -> None:
    import ssl

    import urllib3

    deadline = Deadline()
    deadline.server = "https://10.0.0.1:6443"
    error = urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]
        "/api",
        urllib3.exceptions.SSLError(ssl.SSLError("CERTIFICATE_VERIFY_FAILED")),
    )
    mapped = transport_error("get x", error, deadline)
    assert isinstance(mapped, KubeAccessError) and mapped.reason == "kube-tls"
    assert "TLS to the API server https://10.0.0.1:6443" in mapped.message


@pytest.mark.parametrize(
    ("step", "done", "written"),
    [
        ("start", set(), "nothing written, nothing pushed"),
        ("build", set(), "nothing written, nothing pushed"),
        ("preflight", {"build"}, "nothing written, nothing pushed"),
        ("push", {"build", "preflight"}, "the canary tag may have been pushed"),
        ("resolve", {"push"}, "the canary tag may have been pushed"),
        ("pin", {"push", "resolve"}, "the pin may or may not have been written"),
        ("sync", {"pin"}, "pinned; the sync may have been requested"),
        ("verify", {"pin", "sync"}, "pinned and synced"),
    ],
)
def test_a_cancelled_deploy_says_what_it_wrote(step: str, done: set[str], written: str) -> None:
    from pipeline.commands.deploy import what_was_written

    message, hint = what_was_written(step, done)
    assert message.startswith(written) and "deploy-canary" in hint


def test_the_run_deadline_moves_when_the_push_and_the_pin_start() -> None:
    """--timeout counts from the push: a build longer than --timeout does not use it up."""
    from types import SimpleNamespace
    from typing import Any

    from pipeline.commands.deploy import _Progress
    from pipeline.core.events import StepStarted
    from pipeline.wiring import extend_deadline

    now = [0.0]
    deadline = Deadline(clock=lambda: now[0])
    deadline.start(10)
    registry = SimpleNamespace(deadline=deadline.at)
    deps: Any = SimpleNamespace(cluster=SimpleNamespace(deadline=deadline), registry=registry)
    reporter: Any = SimpleNamespace(emit=lambda event: None)
    progress = _Progress(reporter, pushed=lambda: extend_deadline(deps, 10))
    progress.emit(StepStarted("auth", "build"))
    now[0] = 100.0  # a long build
    progress.emit(StepStarted("auth", "push"))
    assert deadline.at == registry.deadline == pytest.approx(110.5)
    now[0] = 103.0
    progress.emit(StepStarted("auth", "pin"))
    assert deadline.at == registry.deadline == pytest.approx(113.5)
