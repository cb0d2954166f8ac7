"""One credentials home (pipeline/adapters/credential_refs.py): deploy-canary's pull-secret
lookup and poll/status's registry pool resolve a reference alike, so the same bad ``ext:``
script or missing Secret fails with the same error, message and exit code in both."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.credential_refs import CredentialResolver, run_ext_script, stderr_tail
from pipeline.adapters.pullsecrets import ApplicationPullSecrets
from pipeline.adapters.registry_pool import RegistryPool
from pipeline.core.imageupdater.credrefs import format_credential_ref, parse_credential_ref
from pipeline.core.plan import plan_service
from pipeline.core.ports import Credentials, NotFound
from pipeline.core.settings import DeploySettings, ServiceTarget
from pipeline.errors import ExitCode, PipelineError, RegistryError
from tests.unit.fake_argocd import FakeApplications

U = "argocd-image-updater.argoproj.io/"
HOST = "registry.example.com:5000"
TARGET = ServiceTarget(name="auth", image=f"{HOST}/eco2")
PLANS = [plan_service(TARGET, DeploySettings(services=(TARGET,)))]


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "creds.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def no_secret(namespace: str, name: str) -> dict[str, Any]:
    raise NotFound(f"secrets {name!r} not found")


def both_paths(reference: str) -> tuple[PipelineError, PipelineError]:
    """The error deploy-canary's lookup raises and the one poll's pool raises, for one host."""
    app = {"metadata": {"name": "dev-api-auth", "annotations": {
        U + "image-list": f"canary={HOST}/eco2", U + "canary.pull-secret": reference}}}  # fmt: skip
    deploy = ApplicationPullSecrets(FakeApplications(app), no_secret, PLANS)
    pool = RegistryPool(get_secret=no_secret)
    errors = []
    for lookup in (deploy, pool.credentials(parse_credential_ref(reference))):
        with pytest.raises(PipelineError) as caught:
            lookup(HOST)
        errors.append(caught.value)
    pool.close()
    return errors[0], errors[1]


def same(a: PipelineError, b: PipelineError) -> tuple[Any, ...]:
    assert (type(a), a.message, a.hint, a.reason, a.exit_code) == (
        type(b), b.message, b.hint, b.reason, b.exit_code,
    )  # fmt: skip
    return type(a), a.reason, int(a.exit_code)


def test_a_failing_script_fails_alike_in_deploy_and_poll(tmp_path: Path) -> None:
    path = script(tmp_path, "echo 'ci:topsecret'\necho 'vault: token expired' >&2\nexit 3\n")
    deploy, poll = both_paths(f"ext:{path}")
    assert same(deploy, poll) == (RegistryError, "registry-auth", ExitCode.REGISTRY)
    assert deploy.message == f"credential script {path} exited 3: vault: token expired"
    assert "topsecret" not in deploy.message + deploy.hint


def test_a_missing_secret_fails_alike_in_deploy_and_poll() -> None:
    deploy, poll = both_paths("pullsecret:argocd/gone")
    assert same(deploy, poll) == (RegistryError, "registry-auth", ExitCode.REGISTRY)
    assert "'pullsecret:argocd/gone'" in deploy.message
    assert "kubectl create secret docker-registry -n argocd gone" in deploy.hint


def test_a_script_that_prints_no_credentials_fails_alike(tmp_path: Path) -> None:
    deploy, poll = both_paths(f"ext:{script(tmp_path, 'echo nothing-useful')}")
    assert same(deploy, poll)[1:] == ("bad-credential-ref", ExitCode.USAGE)
    assert "nothing-useful" not in deploy.message


def test_a_good_script_gives_its_first_line(tmp_path: Path) -> None:
    path = script(tmp_path, "echo 'ci:pw'\necho second\n")
    resolver = CredentialResolver(no_secret)
    assert resolver.resolve(parse_credential_ref(f"ext:{path}"), HOST) == Credentials("ci", "pw")


def test_a_script_past_the_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    path = script(tmp_path, "echo 'starting' >&2\nsleep 30 &\nsleep 30\n")
    with pytest.raises(RegistryError) as caught:
        run_ext_script(str(path), timeout=0.5)
    assert caught.value.message == f"credential script {path} did not finish within 0.5s: starting"


def test_a_script_that_cannot_start_says_so(tmp_path: Path) -> None:
    path = tmp_path / "missing.sh"
    with pytest.raises(RegistryError, match="could not be started: No such file") as caught:
        run_ext_script(str(path))
    assert caught.value.reason == "registry-auth"


def test_the_stderr_tail_keeps_the_end() -> None:
    assert stderr_tail(b"x" * 500 + b" the cause\n", limit=12) == "...xx the cause"
    assert stderr_tail(None) == ""


@pytest.mark.parametrize(
    "text",
    ["pullsecret:argocd/creds", "secret:ns/name#token", "env:REG_CREDS", "ext:/opt/c.sh",
     "ghcr.io=pullsecret:argocd/ghcr"],
)  # fmt: skip
def test_a_reference_formats_back_to_its_text(text: str) -> None:
    ref = parse_credential_ref(text, allow_registry_prefix="=" in text)
    assert format_credential_ref(ref) == text
