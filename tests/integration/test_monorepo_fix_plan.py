"""A production-shaped monorepo on the first try: one image repository for every service, an
ApplicationSet (list generator) with image-updater annotations and an http(s) repoURL served by a
git server, an overlay `images` entry that rewrites the canary to the stable tag, Services,
HPAs, NetworkPolicies, PDBs and custom resources beside the Deployments.

The first run is refused before anything is pushed, with one fix plan for every service; the
patch applied and committed, the same command line succeeds in one round."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.services.githttp import GitServer, publish, run_git
from tests.fixtures.monorepo import Monorepo, write_monorepo
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.services import write_busybox_context
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration
SERVICES = ("orders", "catalog")
CRDS = (
    ("destinationrules", "DestinationRule", "networking.istio.io", "v1beta1"),
    ("servicemonitors", "ServiceMonitor", "monitoring.coreos.com", "v1"),
    ("externalsecrets", "ExternalSecret", "external-secrets.io", "v1beta1"),
)
APPSETS = resource_path("argoproj.io/v1alpha1", "applicationsets", "argocd")
APPS = resource_path("argoproj.io/v1alpha1", "applications", "argocd")


def _crd(plural: str, kind: str, group: str, version: str) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind},
            "versions": [{"name": version, "served": True, "storage": True, "schema": schema}],
        },
    }  # fmt: skip


def _ensure(sandbox: SandboxHandle, path: str, obj: dict[str, Any]) -> None:
    if sandbox.kube.get_or_none(f"{path}/{obj['metadata']['name']}") is None:
        sandbox.kube.create(path, obj)


@contextmanager
def served_platform(
    sandbox: SandboxHandle, build_image: Callable[..., str], tmp_path: Path,
    services: tuple[str, ...], appset_name: str = "dev-api",
) -> Iterator[tuple[Monorepo, GitServer, Path]]:  # fmt: skip
    """The monorepo of ``services`` served over HTTP, its images pushed, its ApplicationSet
    created and every Application synced."""
    (tmp_path / "served").mkdir()
    server = GitServer(tmp_path / "served").start()
    image = f"{sandbox.registry.address}/acme/platform"
    repo = write_monorepo(
        tmp_path / "gitops", image, repo_url=server.repo_url("platform-gitops"), services=services
    )
    run_git("checkout", "-q", "develop", cwd=repo.path)
    appset_file = repo.path / "argocd/applicationset-dev.yaml"
    appset = yaml.safe_load(appset_file.read_text())
    if appset["metadata"]["name"] != appset_name:  # the repository defines it under that name
        appset["metadata"]["name"] = appset_name
        appset_file.write_text(yaml.safe_dump(appset, sort_keys=False))
        run_git("commit", "-qam", f"ApplicationSet {appset_name}", cwd=repo.path)
    publish(repo.path, server.root, "platform-gitops")
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in CRDS:
        _ensure(sandbox, crds, _crd(*crd))
    context = write_busybox_context(tmp_path / "context", "platform")
    for svc in services:
        _ensure(sandbox, "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{svc}", "labels": {"domain": svc}},
            "spec": {"taints": [{"key": "domain", "value": svc, "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        })  # fmt: skip
        for tag in (f"{svc}-api-dev-latest", f"{svc}-api-dev-canary"):
            build_image(write_busybox_context(tmp_path / tag, tag), f"{image}:{tag}")
    sandbox.kube.create(APPSETS, appset)
    try:
        for svc in services:
            sandbox.wait_application(
                f"dev-api-{svc}",
                lambda a: a.get("status", {}).get("sync", {}).get("status") == "Synced",
                f"dev-api-{svc} Synced",
                timeout=120,
            )
        yield repo, server, context
    finally:
        sandbox.kube.delete(f"{APPSETS}/{appset_name}")
        server.stop()


@pytest.fixture
def platform(
    sandbox: SandboxHandle, build_image: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[Monorepo, GitServer, Path]]:
    with served_platform(sandbox, build_image, tmp_path, SERVICES) as served:
        yield served


def _deploy(
    sandbox: SandboxHandle, context: Path, *extra: str, services: tuple[str, ...] = SERVICES
) -> tuple[int, dict[str, Any], str]:
    args = ["deploy-canary", "--context", str(context), "--timeout", "150", "--output", "json"]
    for svc in services:
        args += ["--service", svc]
    proc = sandbox.cli(*args, *extra, timeout=300)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _canary_digest(image: str, svc: str) -> str:
    return RegistryClient().head_digest(parse_image_ref(f"{image}:{svc}-api-dev-canary")).digest


def test_refused_with_one_verified_fix_then_the_same_command_succeeds(
    sandbox: SandboxHandle, platform: tuple[Monorepo, GitServer, Path], tmp_path: Path
) -> None:
    repo, server, context = platform
    before = {svc: _canary_digest(repo.image, svc) for svc in SERVICES}
    patch = tmp_path / "fix.patch"

    code, report, stderr = _deploy(sandbox, context, "--fix-out", str(patch))
    assert code == ExitCode.MISCONFIGURED, stderr
    for service in report["services"]:
        reasons = {p["reason"] for p in service["problems"]}
        assert "override-rewrote-image" in reasons, service
    assert report["fix"]["verified"], report["fix"]
    assert {svc: _canary_digest(repo.image, svc) for svc in SERVICES} == before  # not pushed
    assert patch.read_text() == report["fix"]["patch"]

    run_git("apply", str(patch), cwd=repo.path)
    run_git("commit", "-qam", "canary: its own image name (pipeline fix plan)", cwd=repo.path)
    publish(repo.path, server.root, "platform-gitops")
    live = sandbox.kube.get(f"{APPSETS}/dev-api")
    fixed = yaml.safe_load((repo.path / "argocd/applicationset-dev.yaml").read_text())
    fixed["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    sandbox.kube.replace(f"{APPSETS}/dev-api", fixed)  # as kubectl apply -f would
    for svc in SERVICES:
        wait_for(
            f"dev-api-{svc} regenerated with the canary image name",
            lambda s=svc: (
                "argocd-image-updater.argoproj.io/canary.kustomize.image-name"
                in (sandbox.kube.get(f"{APPS}/dev-api-{s}")["metadata"].get("annotations") or {})
            ),
        )

    code, report, stderr = _deploy(sandbox, context)
    assert code == ExitCode.OK, stderr
    for service in report["services"]:
        assert service["result"] == "succeeded"
        assert all(p["imageID"].endswith(service["digest"]) for p in service["pods"])
        svc = service["service"]
        stable = sandbox.kube.get(
            resource_path("apps/v1", "deployments", repo.services[svc].namespace) + f"/{svc}-api"
        )
        image = stable["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{repo.image}:{svc}-api-dev-latest"  # stable untouched

    # status agrees: the canary's pin (under its own image name) is not read as stable's
    proc = sandbox.cli("status", *(a for svc in SERVICES for a in ("--service", svc)), "-o", "json")
    assert proc.returncode == ExitCode.OK, proc.stdout + proc.stderr
    document = json.loads(proc.stdout)
    for application in document["applications"]:
        assert application["agree"], application


DEVIATING = ("billing", "search", "gateway", "notify")


def _apply_and_publish(
    sandbox: SandboxHandle, repo: Monorepo, server: GitServer, patch: Path, appset_name: str
) -> None:
    """What the user does with the printed patch: git apply, commit, push, and apply the
    ApplicationSet's file; then wait for the Applications to carry the new annotations."""
    run_git("apply", str(patch), cwd=repo.path)
    run_git("commit", "-qam", "canary fixes (pipeline fix plan)", cwd=repo.path)
    publish(repo.path, server.root, "platform-gitops")
    live = sandbox.kube.get(f"{APPSETS}/{appset_name}")
    fixed = yaml.safe_load((repo.path / "argocd/applicationset-dev.yaml").read_text())
    fixed["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    sandbox.kube.replace(f"{APPSETS}/{appset_name}", fixed)  # as kubectl apply -f would


def test_every_problem_of_every_service_at_once_and_nothing_pushed(
    sandbox: SandboxHandle, build_image: Callable[..., str], tmp_path: Path
) -> None:
    """Services that deviate from the pattern, in one dry run: billing's canary is labeled
    version=canary, search's has replicas: 0, gateway's gRPC Deployment shares the stable tag,
    notify is deployed into the users namespace.
    Every problem comes at once, nothing is pushed, and one plan (the GitOps patch plus a
    pipeline.yaml patch for billing's selector) makes the same command succeed."""
    config = tmp_path / "pr" / "pipeline.yaml"
    config.parent.mkdir()
    config.write_text(
        "# the PR repository's settings\nservices:\n- billing\n- search\n- gateway\n- notify\n"
    )
    with served_platform(
        sandbox, build_image, tmp_path, DEVIATING, appset_name="dev-api-deviating"
    ) as (repo, server, context):
        before = {svc: _canary_digest(repo.image, svc) for svc in DEVIATING}
        fix = tmp_path / "fix.patch"
        code, report, stderr = _deploy(
            sandbox, context, "--dry-run", "--config", str(config), "--fix-out", str(fix),
            services=DEVIATING,
        )  # fmt: skip
        assert code == ExitCode.MISCONFIGURED, stderr
        problems = {
            s["service"]: {p["reason"]: p["message"] for p in s["problems"]}
            for s in report["services"]
        }
        assert (
            "--selector app=billing-api,version=canary"
            in problems["billing"]["canary-workload-not-found"]
        )
        assert {"override-rewrote-image", "canary-scaled-to-zero"} <= set(problems["search"])
        assert "override-rewrote-image" in problems["gateway"]
        assert "pin-reaches-stable" not in problems["gateway"]  # the gRPC one is stable's
        assert {svc: _canary_digest(repo.image, svc) for svc in DEVIATING} == before
        plan = report["fix"]
        assert plan["verified"], plan["unverified_reason"]
        assert "apps/search/base/deployment-canary.yaml" in plan["patch"]
        assert "replicas: 1" in plan["patch"]
        assert "apps/billing/base/deployment-canary.yaml" in plan["patch"]
        assert "selector: app=billing-api,version=canary" in plan["config_patch"]
        assert "namespace: users" in plan["config_patch"]  # notify's Application says so

        _apply_and_publish(sandbox, repo, server, fix, "dev-api-deviating")
        run_git("apply", str(fix.with_suffix(".config.patch")), cwd=config.parent)
        assert "# the PR repository's settings" in config.read_text()  # comments kept
        for svc in DEVIATING:
            wait_for(
                f"dev-api-{svc} regenerated with the canary image name",
                lambda s=svc: (
                    "argocd-image-updater.argoproj.io/canary.kustomize.image-name"
                    in (
                        sandbox.kube.get(f"{APPS}/dev-api-{s}")["metadata"].get("annotations") or {}
                    )
                ),
            )
        code, report, stderr = _deploy(
            sandbox, context, "--config", str(config), services=DEVIATING
        )
        assert code == ExitCode.OK, stderr
        assert [s["result"] for s in report["services"]] == ["succeeded"] * len(DEVIATING)
