"""Bad input is refused before anything connects: exit 2 naming the input, as a user sees it."""

from __future__ import annotations

import pytest

from tests.fixtures.sandbox import run_cli

TARGET = ["deploy-canary", "--service", "auth", "--kubeconfig", "/nonexistent/kubeconfig"]


@pytest.mark.parametrize(
    ("extra", "code", "names"),
    [
        (["--image", "Bad Image"], 2, "invalid image reference 'Bad Image'"),
        (["--image", "127.0.0.1:5000/eco2", "--no-build", "--digest", "sha256:abc"], 2,
         "invalid digest 'sha256:abc'"),
        (["--image", "127.0.0.1:5000/eco2", "--tag", "bad tag-{service}"], 2,
         "bad tag 'bad tag-auth'"),
        (["--image", "127.0.0.1:5000/eco2", "--tag", "{servise}-canary"], 2, "servise"),
        (["--image", "127.0.0.1:5000/eco2"], 7, "no usable kubeconfig (/nonexistent/kubeconfig)"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_its_code_and_names_the_input(
    extra: list[str], code: int, names: str
) -> None:
    result = run_cli([*TARGET, *extra])
    assert result.returncode == code, result.stderr
    assert names in result.stderr
    assert "Traceback" not in result.stderr
