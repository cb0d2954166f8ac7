"""Every command through both backends: the Kubernetes API (a kubeconfig) and the Argo CD API
(only ARGOCD_SERVER and a project token, no kubeconfig at all), with the same outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from pipeline.core.images import digest_from_image_id
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend, api_env, sandbox_token
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import deploy, running_digests

pytestmark = pytest.mark.integration


def app_path(name: str) -> str:
    return resource_path("argoproj.io/v1alpha1", "applications", "argocd", name)


def test_deploy_canary_through_either_backend_runs_the_pushed_digest(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    seeded = make_sample()
    code, report, stderr = deploy(sandbox, seeded, via=backend)
    (service,) = report["services"]
    why = f"{service['reason']}: {service['message']} ({service['hint']})\n{stderr}"
    assert (code, service["result"]) == (ExitCode.OK, "succeeded"), why
    assert report["backend"]["name"] == backend.name
    digest = service["digest"]
    assert {digest_from_image_id(p["imageID"]) for p in service["pods"] if p["ready"]} == {digest}
    repo = seeded.repo
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {digest}
    stable = running_digests(sandbox, repo.namespace, repo.selectors["stable"])
    assert stable == {seeded.digests["stable"]}
    token = backend.env.get("ARGOCD_AUTH_TOKEN")
    if token:
        assert token not in json.dumps(report) + stderr
        assert set(report["requests"]) == {"registry", "argocd"}


def registry_digest(sandbox: SandboxHandle, image: str, tag: str) -> str:
    repository = image.split("/", 1)[1]
    resp = requests.head(
        f"http://{sandbox.registry.address}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json, "
                 "application/vnd.docker.distribution.manifest.v2+json, "
                 "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )  # fmt: skip
    return str(resp.headers.get("Docker-Content-Digest", ""))


@pytest.mark.parametrize(
    ("role", "actions", "missing"),
    [("nosync", "get,update", "sync"), ("noupdate", "get,sync", "update")],
)
def test_a_token_without_a_needed_action_stops_before_any_write_or_push(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path_factory: Any,
    role: str, actions: str, missing: str,
) -> None:  # fmt: skip
    seeded = make_sample()
    repo = seeded.repo
    token = sandbox_token(sandbox, "--project", "default", "--role", role, "--actions", actions)
    ci = Backend("argocd-api", api_env(sandbox, tmp_path_factory.mktemp("home"), token))
    app_before = sandbox.kube.get(app_path(repo.app_name))
    tag = f"{repo.namespace}-api-dev-canary"
    pushed_before = registry_digest(sandbox, repo.image_repository, tag)

    code, report, stderr = deploy(sandbox, seeded, via=ci)

    (service,) = report["services"]
    assert (code, service["reason"]) == (ExitCode.KUBE_ACCESS, "argocd-forbidden")
    assert f"applications, {missing}" in service["message"]
    assert f"p, role:<ci-role>, applications, {missing}, default/{repo.app_name}" in service["hint"]
    app_after = sandbox.kube.get(app_path(repo.app_name))
    assert app_after["metadata"]["resourceVersion"] == app_before["metadata"]["resourceVersion"]
    assert registry_digest(sandbox, repo.image_repository, tag) == pushed_before
    assert token["token"] not in json.dumps(report) + stderr


def test_a_token_for_another_project_reads_the_application_as_not_found(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path_factory: Any
) -> None:
    seeded = make_sample()
    token = sandbox_token(sandbox, "--project", "elsewhere", "--role", "ci")
    ci = Backend("argocd-api", api_env(sandbox, tmp_path_factory.mktemp("home"), token))

    code, report, stderr = deploy(sandbox, seeded, via=ci)

    (service,) = report["services"]
    assert code == ExitCode.MISCONFIGURED, stderr
    problem = service["problems"][0]
    assert problem["reason"] == "application-not-found"
    assert "or this token may not get it" in problem["message"]
    assert f"<project>/{seeded.repo.app_name}" in problem["fix"]


def test_connection_problems_are_named_with_their_fix(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backends: dict[str, Backend]
) -> None:
    repo = make_sample().repo
    api = backends["argocd-api"]
    out = sandbox.cli("sandbox", "status", "--state-dir", str(sandbox.state_dir), "-o", "json")
    status = json.loads(out.stdout)
    secure, ca = status["argocd_secure_server"], status["certificate_authority"]
    args = ["status", "--app", repo.app_name, "-o", "json"]

    def run(**env: str) -> Any:
        return api.cli(*args, extra=env)

    cases = {
        "tls, system CAs": (run(ARGOCD_SERVER=secure), ExitCode.KUBE_ACCESS, "TLS"),
        "tls, given CA": (run(ARGOCD_SERVER=secure, PIPELINE_ARGOCD_CA=ca), ExitCode.OK, ""),
        "tls, --insecure": (run(ARGOCD_SERVER=secure, PIPELINE_INSECURE="1"), ExitCode.OK, ""),
        "refused": (run(ARGOCD_SERVER="http://127.0.0.1:9"), ExitCode.KUBE_ACCESS, "unreachable"),
        "bad token": (run(ARGOCD_AUTH_TOKEN="x.y.z"), ExitCode.KUBE_ACCESS, "ARGOCD_AUTH_TOKEN"),
        "malformed": (run(ARGOCD_SERVER="ftp://x"), ExitCode.USAGE, "--argocd-server"),
    }
    for name, (out, code, text) in cases.items():
        assert out.returncode == code, f"{name}: {out.stdout}\n{out.stderr}"
        assert text in out.stdout + out.stderr, f"{name}: {out.stdout}\n{out.stderr}"
        assert "Traceback" not in out.stderr, name
        assert api.env["ARGOCD_AUTH_TOKEN"] not in out.stdout + out.stderr, name


def test_sandbox_env_for_the_argocd_api_is_all_a_user_needs(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backends: dict[str, Backend]
) -> None:
    repo = make_sample().repo
    out = sandbox.cli("sandbox", "env", "--argocd-api", "--state-dir", str(sandbox.state_dir))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "unset KUBECONFIG"
    exported = dict(
        line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export")
    )
    assert set(exported) == {"ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "DOCKER_HOST"}
    status = backends["argocd-api"].cli(
        "status", "--app", repo.app_name, "-o", "json", extra=exported
    )
    assert status.returncode == 0, status.stderr
