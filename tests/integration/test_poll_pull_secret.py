"""A pull secret stored as a real Secret in the sandbox authenticates poll against the
authenticated registry (htpasswd over TLS); a missing one fails only its Application; a failing
``ext:`` script fails poll and deploy-canary with the same error."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import pull_secret_manifest
from pipeline.services.registry import Registry
from tests.fixtures.sandbox import SandboxHandle, run_cli
from tests.fixtures.services import BuildImage, write_busybox_context
from tests.integration.test_poll_cycle import UPDATER, extra_app

pytestmark = pytest.mark.integration


def create_pull_secret(sandbox: SandboxHandle, name: str, registry: Registry) -> None:
    assert registry.username and registry.password
    secret = pull_secret_manifest(
        "argocd", name, registry.address, registry.username, registry.password
    )
    sandbox.kube.create(resource_path("v1", "secrets", "argocd"), secret)


def test_pull_secret_from_the_cluster_authenticates_poll(
    sandbox: SandboxHandle, auth_registry: Registry, build_image: BuildImage, tmp_path: Path
) -> None:
    label = uuid.uuid4().hex[:8]
    image = f"{auth_registry.address}/private-{label}:main"
    digest = build_image(write_busybox_context(tmp_path, label), image, auth_registry)
    create_pull_secret(sandbox, f"creds-{label}", auth_registry)
    for name, secret in (("good", f"creds-{label}"), ("nosecret", f"missing-{label}")):
        extra_app(sandbox, f"{name}-{label}", {"poll-test": label}, {
            UPDATER + "image-list": f"canary={image}",
            UPDATER + "canary.update-strategy": "digest",
            UPDATER + "canary.pull-secret": f"pullsecret:argocd/{secret}",
        })  # fmt: skip
    assert auth_registry.ca_cert is not None

    proc = sandbox.cli(
        "poll", "--dry-run", "-l", f"poll-test={label}", "--output", "json",
        "--registry-ca", str(auth_registry.ca_cert),
    )  # fmt: skip

    report = json.loads(proc.stdout)
    by_app = {a["application"]: a["aliases"][0] for a in report["applications"]}
    good, missing = by_app[f"argocd/good-{label}"], by_app[f"argocd/nosecret-{label}"]
    assert (good["result"], good["chosen"]) == ("planned", f"{image}@{digest}"), proc.stderr
    assert missing["result"] == "error" and f"missing-{label}" in missing["error"]["message"]
    assert proc.returncode != ExitCode.OK


def test_a_failing_ext_script_fails_alike_in_deploy_canary_and_poll(
    sandbox: SandboxHandle, auth_registry: Registry, tmp_path: Path
) -> None:
    """One credentials home: the same ``ext:`` reference, the same error in both commands."""
    label = uuid.uuid4().hex[:8]
    script = tmp_path / "creds.sh"
    script.write_text(
        "#!/bin/sh\necho 'ci-bot:not-shown'\necho 'vault: token expired' >&2\nexit 3\n"
    )
    script.chmod(0o755)
    repository = f"{auth_registry.address}/private-{label}"
    extra_app(sandbox, f"ext-{label}", {"poll-test": label}, {
        UPDATER + "image-list": f"canary={repository}:main",
        UPDATER + "canary.update-strategy": "digest",
        UPDATER + "canary.pull-secret": f"ext:{script}",
    })  # fmt: skip
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    env = {
        "KUBECONFIG": str(sandbox.kubeconfig),
        "DOCKER_HOST": sandbox.docker_host,
        "DOCKER_CONFIG": str(docker_config),  # no credentials but the Application's reference
    }
    ca = str(auth_registry.ca_cert)

    deploy = run_cli(
        [
            "deploy-canary", "--service", "svc", "--app", f"ext-{label}", "--image", repository,
            "--tag", "main", "--no-build", "--digest", "sha256:" + "e" * 64,
            "--registry-ca", ca, "--output", "json",
        ],
        env=env, timeout=120,
    )  # fmt: skip
    poll = run_cli(
        ["poll", "--dry-run", "-l", f"poll-test={label}", "--output", "json", "--registry-ca", ca],
        env=env, timeout=120,
    )  # fmt: skip

    (service,) = json.loads(deploy.stdout)["services"]
    (application,) = json.loads(poll.stdout)["applications"]
    error = application["aliases"][0]["error"]
    expected = f"credential script {script} exited 3: vault: token expired"
    assert (service["reason"], service["exit_code"], service["message"]) == (
        "registry-auth", ExitCode.REGISTRY, expected,
    ), deploy.stderr  # fmt: skip
    assert (error["reason"], error["exit_code"], error["message"]) == (
        service["reason"], service["exit_code"], service["message"],
    ), poll.stderr  # fmt: skip
    assert deploy.returncode == ExitCode.REGISTRY
    for text in (deploy.stdout, deploy.stderr, poll.stdout, poll.stderr):
        assert "not-shown" not in text
