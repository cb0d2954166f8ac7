"""Settings precedence: flags over the service's pipeline.yaml entry over the top level."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.settings import ServiceTarget, build_targets
from pipeline.errors import UsageError

CONFIG = {
    "image": "127.0.0.1:5000/eco2",
    "tag": "{service}-api-dev-canary",
    "services": [
        "auth",
        {"name": "users", "context": "services/users", "file": "Dockerfile.users"},
    ],
}


def test_config_lists_services() -> None:
    targets = build_targets((), {}, CONFIG)
    assert targets == (
        ServiceTarget(name="auth", image="127.0.0.1:5000/eco2", tag="{service}-api-dev-canary"),
        ServiceTarget(
            name="users",
            image="127.0.0.1:5000/eco2",
            tag="{service}-api-dev-canary",
            context=Path("services/users"),
            dockerfile="Dockerfile.users",
        ),
    )


def test_flags_win() -> None:
    (target,) = build_targets(("users",), {"tag": "x-{service}", "file": "D"}, CONFIG)
    assert (target.tag, target.dockerfile, target.context) == (
        "x-{service}",
        "D",
        Path("services/users"),
    )


@pytest.mark.parametrize(
    ("names", "flags", "config", "message"),
    [
        ((), {}, {}, "no service given"),
        (("auth",), {}, {}, "no image repository"),
        (("auth",), {}, {"services": [{"name": "auth", "colour": "red"}]}, "unknown key"),
        (("auth",), {}, {"services": [42]}, "bad services entry"),
    ],
)
def test_usage_errors(names: tuple[str, ...], flags: dict[str, str], config: dict[str, object],
                      message: str) -> None:  # fmt: skip
    with pytest.raises(UsageError, match=message):
        build_targets(names, flags, config)
