"""deploy-canary against registries that need credentials, end to end: Basic auth (htpasswd over
TLS) and Bearer tokens (the registry's token auth with the package's token service, the way
Docker Hub works). Credentials come from a Docker config ($DOCKER_CONFIG) or from the Kubernetes
pull secret the Application names in its image-updater ``<alias>.pull-secret`` annotation.

The sample service is set up like a private one: its images are pushed to the private
registry, its Deployments pull with ``imagePullSecrets`` (the sandbox kubelet resolves and pulls
with them, as the real kubelet does), and no password or token may appear in stdout, stderr,
the JSON report, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY or the sandbox daemon log.

The htpasswd registry serves TLS from a CA the test session generates, so those tests run their
own sandbox whose daemon trusts that CA (REQUESTS_CA_BUNDLE); dockerd trusts it through
certs.d (tests.fixtures.services.auth_registry).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.adapters.builder import select_builder
from pipeline.core.build import BuildRequest
from pipeline.core.images import parse_image_ref
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.sandbox.sample import UPDATER, SampleRepo, commit_all, create_sample_repo
from pipeline.sandbox.seed import (
    apply_application,
    pull_secret_manifest,
    wait_for_sample_pods,
)
from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from tests.fixtures.sandbox import PIPELINE, SandboxHandle, running_sandbox
from tests.fixtures.services import registry_credentials
from tests.integration.test_deploy_canary import running_digests

pytestmark = pytest.mark.integration

JWT_PREFIX = "eyJ"  # every JWT (the registry token) starts with base64url('{"')


@dataclass
class PrivateSample:
    repo: SampleRepo
    registry: Registry
    digests: dict[str, str]
    app_secret: str  # "<ns>/<name>" of the pull secret the Application names


def docker_config_json(registry: Registry) -> dict[str, Any]:
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    return {"auths": {registry.address: {"auth": auth}}}


def pull_secret(namespace: str, name: str, registry: Registry) -> dict[str, Any]:
    assert registry.username and registry.password
    return pull_secret_manifest(
        namespace, name, registry.address, registry.username, registry.password
    )


def _with_pull_secret(path: Path, secret: str) -> None:
    deployment = yaml.safe_load(path.read_text())
    deployment["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": secret}]
    path.write_text(yaml.safe_dump(deployment, sort_keys=False))


def private_sample(
    kube: KubeClient, registry: Registry, docker_host: str, work: Path, service: str
) -> PrivateSample:
    """The sample service with its images in ``registry`` and pull secrets where needed."""
    repo = create_sample_repo(work, registry=registry.address, service=service)
    for role in ("stable", "canary"):
        _with_pull_secret(repo.path / "base" / f"deployment-{role}.yaml", "regcred")
    commit_all(repo.path, "pull with regcred")
    secret_name = f"{service}-registry"
    annotations = repo.app_manifest["metadata"]["annotations"]
    for alias in ("stable", "canary"):
        annotations[f"{UPDATER}/{alias}.pull-secret"] = f"pullsecret:argocd/{secret_name}"
    builder = select_builder(docker_host, credentials=registry_credentials(registry))
    digests = {}
    for role, image in (("stable", repo.stable_image), ("canary", repo.canary_image)):
        pushed = builder.build_and_push(
            BuildRequest(
                context=repo.context_dir,
                image=parse_image_ref(image),
                labels={"org.opencontainers.image.revision": role},
            )
        )
        digests[role] = pushed.digest
    kube.create(resource_path("v1", "namespaces"), {"metadata": {"name": service}})
    kube.create(resource_path("v1", "secrets", service), pull_secret(service, "regcred", registry))
    kube.create(
        resource_path("v1", "secrets", "argocd"), pull_secret("argocd", secret_name, registry)
    )
    apply_application(kube, repo.app_manifest)
    wait_for_sample_pods(kube, repo, timeout=90)
    return PrivateSample(repo, registry, digests, f"argocd/{secret_name}")


def run_deploy(
    sandbox: SandboxHandle, sample: PrivateSample, tmp_path: Path, *extra: str,
    docker_config: dict[str, Any] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:  # fmt: skip
    """deploy-canary --output github with $DOCKER_CONFIG, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY."""
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(docker_config or {}))
    output, summary = tmp_path / "github-output", tmp_path / "summary.md"
    repo = sample.repo
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "DOCKER_HOST": sandbox.docker_host,
        "DOCKER_CONFIG": str(config_dir),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    proc = subprocess.run(
        [
            *PIPELINE, "deploy-canary", "--service", repo.namespace,
            "--image", repo.image_repository, "--tag", "{service}-api-dev-canary",
            "--context", str(repo.context_dir), "--run-id", "auth", "--timeout", "90",
            "--output", "github", *extra,
        ],
        env=env, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    return proc, output, summary


def github_values(output: Path) -> dict[str, str]:
    text = output.read_text()
    values = {}
    while text:
        head, _, text = text.partition("\n")
        name, _, delimiter = head.partition("<<")
        value, _, text = text.partition(f"\n{delimiter}\n")
        values[name] = value
    return values


def assert_no_secret(registry: Registry, texts: list[str]) -> None:
    assert registry.password
    basic = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    for text in texts:
        assert registry.password not in text
        assert basic not in text
        assert JWT_PREFIX not in text


def assert_deployed(
    sandbox: SandboxHandle, sample: PrivateSample, proc: subprocess.CompletedProcess[str],
    output: Path, summary: Path,
) -> dict[str, Any]:  # fmt: skip
    assert proc.returncode == ExitCode.OK, proc.stdout + proc.stderr
    values = github_values(output)
    report = json.loads(values["report"])
    (service,) = report["services"]
    assert (values["result"], service["result"]) == ("succeeded", "succeeded")
    digest = values["digest"]
    assert digest == service["digest"]
    assert running_digests(sandbox, sample.repo.namespace, sample.repo.selectors["canary"]) == {
        digest
    }
    assert running_digests(sandbox, sample.repo.namespace, sample.repo.selectors["stable"]) == {
        sample.digests["stable"]
    }
    assert report["requests"]["registry"].get("GET manifest", 0) == 0
    texts = [proc.stdout, proc.stderr, output.read_text(), summary.read_text()]
    assert_no_secret(sample.registry, [*texts, (sandbox.state_dir / "daemon.log").read_text()])
    return dict(service)


# -- token auth, on the session sandbox ---------------------------------------------------------


@pytest.fixture(scope="module")
def token_sample(
    sandbox: SandboxHandle, token_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> PrivateSample:
    return private_sample(
        sandbox.kube, token_registry, sandbox.docker_host, tmp_path_factory.mktemp("tok"), "tok"
    )


def test_token_registry_with_docker_config_credentials(
    sandbox: SandboxHandle, token_sample: PrivateSample, tmp_path: Path
) -> None:
    proc, output, summary = run_deploy(
        sandbox, token_sample, tmp_path, docker_config=docker_config_json(token_sample.registry)
    )
    service = assert_deployed(sandbox, token_sample, proc, output, summary)
    assert service["digest"] not in token_sample.digests.values()  # built and pushed by the run


def test_pull_secret_named_by_the_application_reads_the_digest_back(
    sandbox: SandboxHandle, token_sample: PrivateSample, tmp_path: Path
) -> None:
    """No Docker credentials at all: only the Application's pullsecret:argocd/... reference."""
    digest = token_sample.digests["canary"]
    proc, output, summary = run_deploy(
        sandbox, token_sample, tmp_path, "--no-build", "--digest", digest
    )
    service = assert_deployed(sandbox, token_sample, proc, output, summary)
    assert service["digest"] == digest


def test_missing_credentials_fail_before_any_write(
    sandbox: SandboxHandle, token_sample: PrivateSample, tmp_path: Path
) -> None:
    kube = sandbox.kube
    app_path = resource_path("argoproj.io/v1alpha1", "applications", "argocd", "dev-api-tok")
    before = kube.get(app_path)
    secret = resource_path("v1", "secrets", "argocd", token_sample.app_secret.split("/")[1])
    saved = kube.get(secret)
    kube.delete(secret)
    try:
        proc, output, _ = run_deploy(
            sandbox,
            token_sample,
            tmp_path,
            "--no-build",
            "--digest",
            token_sample.digests["canary"],
        )
    finally:
        kube.create(resource_path("v1", "secrets", "argocd"), {
            k: v for k, v in saved.items() if k != "metadata"
        } | {"metadata": {"name": saved["metadata"]["name"], "namespace": "argocd"}})  # fmt: skip
    assert proc.returncode == ExitCode.REGISTRY, proc.stdout + proc.stderr
    values = github_values(output)
    service = json.loads(values["report"])["services"][0]
    assert service["reason"] == "registry-auth"
    assert token_sample.app_secret in service["message"]
    after = kube.get(app_path)  # nothing written: same spec, same run annotation
    assert after["spec"]["source"] == before["spec"]["source"]
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")


# -- htpasswd over TLS, on a sandbox that trusts the session's CA --------------------------------


@pytest.fixture(scope="module")
def tls_sandbox(
    tmp_path_factory: pytest.TempPathFactory,
    registry: Registry,
    auth_registry: Registry,
    docker_engine: DockerEngine,
) -> Iterator[SandboxHandle]:
    # the kubelet must trust the registry's CA (the engine trusts it through certs.d)
    state_dir = tmp_path_factory.mktemp("tls-sandbox")
    ca = str(auth_registry.ca_cert)
    with running_sandbox(state_dir, registry, docker_engine.host, "--registry-ca", ca) as sb:
        yield sb


def test_htpasswd_tls_registry_with_docker_config_credentials(
    tls_sandbox: SandboxHandle,
    auth_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    sample = private_sample(
        tls_sandbox.kube, auth_registry, tls_sandbox.docker_host,
        tmp_path_factory.mktemp("basic"), "basic",
    )  # fmt: skip
    proc, output, summary = run_deploy(
        tls_sandbox, sample, tmp_path, "--registry-ca", str(auth_registry.ca_cert),
        docker_config=docker_config_json(auth_registry),
    )  # fmt: skip
    service = assert_deployed(tls_sandbox, sample, proc, output, summary)
    assert service["digest"] not in sample.digests.values()
