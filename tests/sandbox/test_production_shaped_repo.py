"""Issue 10's first "Done when" item, end to end through `pipeline sandbox up`, the real registry
and Docker Engine: a production-shaped GitOps repository served over smart HTTP on loopback
(Services, HPAs, NetworkPolicies, Istio DestinationRules with their CRD installed first,
Deployments pinned to tainted ``domain`` nodes with httpGet probes on 8000 and resource
requests) stays Pending until the matching Nodes exist, then syncs Synced/Healthy;
``deploy-canary`` and ``cleanup-canary`` succeed on it. A service whose DestinationRule's CRD
is not installed fails the sync before anything is applied, with Argo CD's message.

The product names that reason: for a never-synced app (no canary Deployment because the sync
fails) deploy-canary exits sync-failed with Argo CD's message; behind the failing auto-sync's
retries, its timeout names the message and ``--terminate-running``. With
``--terminate-running`` the canary deploys, as on a real Argo CD, since its sync is
selective."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.images import digest_from_image_id
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.sample import application_manifest
from pipeline.sandbox.seed import ensure_pull_secret
from pipeline.services.githttp import GitServer, publish
from tests.fixtures.backends import Backend
from tests.fixtures.prodrepo import (
    domain_node,
    move_rule_to_uninstalled_group,
    overlay,
    write_context,
    write_prodrepo,
)
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.waiting import wait_for
from tests.integration.test_monorepo_fix_plan import _crd, _ensure

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
SERVICES = ("payments", "invoices")
UNCRD = "ledger"  # its DestinationRule is networking.acme.io/v1: no CRD defines that group
APPS = resource_path("argoproj.io/v1alpha1", "applications", "argocd")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
REFRESH = "argocd.argoproj.io/refresh"


def missing_crd(service: str) -> str:
    """Argo CD's message for the DestinationRule of networking.acme.io (no CRD defines it)."""
    return (
        "The Kubernetes API could not find networking.acme.io/DestinationRule for requested "
        f'resource {service}/{service}-api. Make sure the "DestinationRule" CRD is installed on '
        "the destination cluster."
    )


MISSING_CRD = missing_crd(UNCRD)


@dataclass
class Platform:
    sandbox: SandboxHandle
    image: str
    context: Path
    digests: dict[str, str]  # tag -> digest pushed before the Applications exist
    repo: Path  # the work tree; `publish` pushes it to the server
    server: GitServer

    @property
    def repo_url(self) -> str:
        return self.server.repo_url("platform-gitops")

    def create_app(self, service: str) -> None:
        tags = {"stable": f"{service}-api-dev-latest", "canary": f"{service}-api-dev-canary"}
        self.sandbox.kube.create(
            APPS,
            application_manifest(
                name=f"dev-api-{service}",
                repo_url=self.repo_url,
                path=overlay(service),
                namespace=service,
                images={alias: f"{self.image}:{tag}" for alias, tag in tags.items()},
            ),
        )

    def ensure_synced(self, service: str) -> None:
        """``service``'s Application and domain Node exist and the app is Synced/Healthy."""
        if self.sandbox.kube.get_or_none(f"{APPS}/dev-api-{service}") is None:
            self.create_app(service)
        node = domain_node(service)
        if self.sandbox.kube.get_or_none(f"/api/v1/nodes/{node['metadata']['name']}") is None:
            self.sandbox.kube.create("/api/v1/nodes", node)
        self.sandbox.wait_application(f"dev-api-{service}", _healthy, "Synced/Healthy")

    def break_sync(self, service: str) -> Obj:
        """``service`` synced, then a commit moving its DestinationRule to a group without a
        CRD published and refreshed: returns the failed attempt's operation state."""
        rule = yaml.safe_load((self.repo / f"apps/{service}/base/destinationrule.yaml").read_text())
        if rule["apiVersion"] != "networking.acme.io/v1":
            self.ensure_synced(service)
            move_rule_to_uninstalled_group(self.repo, service)
            publish(self.repo, self.server.root, "platform-gitops")
            self.sandbox.kube.patch(
                f"{APPS}/dev-api-{service}", {"metadata": {"annotations": {REFRESH: "normal"}}}
            )
        state = self.failed_attempt(service)
        assert state["message"].startswith(
            f"one or more synchronization tasks are not valid: {missing_crd(service)}"
        )
        return state

    def pods(self, service: str, version: str) -> list[Obj]:
        listing = self.sandbox.kube.list(
            resource_path("v1", "pods", service),
            label_selector=f"app={service}-api,version={version}",
        )
        return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]

    def running_digests(self, service: str, version: str) -> set[str | None]:
        return {
            digest_from_image_id(s.get("imageID", ""))
            for p in self.pods(service, version)
            for s in (p.get("status") or {}).get("containerStatuses") or []
            if s.get("ready")
        }

    def failed_attempt(self, service: str) -> Obj:
        """The operation state once a sync attempt of ``service``'s Application failed."""

        def failed(app: Obj) -> bool:
            state = (app.get("status") or {}).get("operationState") or {}
            results = (state.get("syncResult") or {}).get("resources") or []
            return any(r.get("status") == "SyncFailed" for r in results)

        app = self.sandbox.wait_application(f"dev-api-{service}", failed, "a failed sync")
        return dict(app["status"]["operationState"])

    def deploy(self, service: str, pr: str, timeout: int, *extra: str) -> tuple[int, Obj, str]:
        """`pipeline deploy-canary` of ``service`` for pull request ``pr``; (exit, its one
        service's report, stderr)."""
        code, report, stderr = self.cli_json(
            "deploy-canary", "--service", service, "--context", str(self.context),
            "--timeout", str(timeout), "--pr", pr, "--run-id", f"prodrepo-{service}-{pr}", *extra,
        )  # fmt: skip
        (result,) = report["services"]
        return code, result, stderr

    def cli_json(self, *args: str) -> tuple[int, Obj, str]:
        proc = self.sandbox.cli(*args, "--output", "json", timeout=180)
        try:
            return proc.returncode, json.loads(proc.stdout), proc.stderr
        except json.JSONDecodeError:
            pytest.fail(f"no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="module")
def platform(
    sandbox: SandboxHandle,
    build_image: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    """The repository served over HTTP, the HTTP image pushed under every service's tags, the
    Istio CRD installed; no Application and no domain Node yet."""
    work = tmp_path_factory.mktemp("prodrepo")
    (work / "served").mkdir()
    server = GitServer(work / "served").start()
    image = f"{sandbox.registry.address}/acme/prod"
    repo = write_prodrepo(work / "gitops", image, (*SERVICES, UNCRD), uncrd=(UNCRD,))
    publish(repo, server.root, "platform-gitops")
    context = write_context(work / "context")
    digests = {
        tag: build_image(context, f"{image}:{tag}")
        for svc in (*SERVICES, UNCRD)
        for tag in (f"{svc}-api-dev-latest", f"{svc}-api-dev-canary")
    }
    _ensure(
        sandbox, CRDS, _crd("destinationrules", "DestinationRule", "networking.istio.io", "v1beta1")
    )
    ensure_pull_secret(sandbox.kube, sandbox.registry.address)
    try:
        yield Platform(sandbox, image, context, digests, repo, server)
    finally:
        for svc in (*SERVICES, UNCRD):  # the pods' containers stop with their namespace
            sandbox.kube.delete(f"{APPS}/dev-api-{svc}")
            sandbox.kube.delete(f"/api/v1/namespaces/{svc}")
        server.stop()


def _healthy(app: Obj) -> bool:
    status = app.get("status") or {}
    synced = (status.get("sync") or {}).get("status") == "Synced"
    return synced and (status.get("health") or {}).get("status") == "Healthy"


def _failed_scheduling(platform: Platform, service: str) -> list[Obj]:
    events = platform.sandbox.kube.list(resource_path("v1", "events", service))["items"]
    return [e for e in events if e["reason"] == "FailedScheduling"]


def test_syncs_once_the_domain_nodes_exist_and_a_canary_round_trips(
    platform: Platform,
) -> None:
    plat = platform
    kube = plat.sandbox.kube
    for svc in SERVICES:
        plat.create_app(svc)
    for svc in SERVICES:
        events = wait_for(f"{svc} FailedScheduling", partial(_failed_scheduling, plat, svc))
        assert "didn't match Pod's node affinity/selector" in events[0]["message"]
        assert all(not p["spec"].get("nodeName") for p in plat.pods(svc, "v1"))
        app = kube.get(f"{APPS}/dev-api-{svc}")
        assert app["status"]["health"]["status"] != "Healthy"

    for svc in SERVICES:
        kube.create(resource_path("v1", "nodes"), domain_node(svc))
    for svc in SERVICES:
        plat.sandbox.wait_application(f"dev-api-{svc}", _healthy, "Synced/Healthy", timeout=60)
        for version in ("v1", "v2"):
            pods = plat.pods(svc, version)
            assert {p["spec"]["nodeName"] for p in pods} == {f"pool-{svc}-1"}
        assert plat.running_digests(svc, "v2") == {plat.digests[f"{svc}-api-dev-canary"]}
        kube.get(f"/api/v1/namespaces/{svc}/services/{svc}-api")
        kube.get(f"/apis/autoscaling/v2/namespaces/{svc}/horizontalpodautoscalers/{svc}-api")
        kube.get(f"/apis/networking.k8s.io/v1/namespaces/{svc}/networkpolicies/{svc}-api-ingress")
        kube.get(f"/apis/networking.istio.io/v1beta1/namespaces/{svc}/destinationrules/{svc}-api")

    svc = SERVICES[0]
    stable_uids = sorted(p["metadata"]["uid"] for p in plat.pods(svc, "v1"))
    serve = plat.context / "serve.sh"
    serve.write_text(serve.read_text() + "# the pull request's change\n")
    code, result, stderr = plat.deploy(svc, "10", 90)
    assert (code, result["result"]) == (ExitCode.OK, "succeeded"), stderr
    digest = result["digest"]
    assert digest != plat.digests[f"{svc}-api-dev-canary"]
    assert plat.running_digests(svc, "v2") == {digest}
    assert sorted(p["metadata"]["uid"] for p in plat.pods(svc, "v1")) == stable_uids

    code, report, stderr = plat.cli_json(
        "cleanup-canary", "--service", svc, "--timeout", "90", "--pr", "10"
    )
    assert (code, report["result"]) == (ExitCode.OK, "cleaned"), stderr
    app = kube.get(f"{APPS}/dev-api-{svc}")
    assert "kustomize" not in app["spec"]["source"]
    plat.sandbox.wait_application(f"dev-api-{svc}", _healthy, "Synced/Healthy again", timeout=60)
    canary = kube.get(f"/apis/apps/v1/namespaces/{svc}/deployments/{svc}-api-canary")
    images = [c["image"] for c in canary["spec"]["template"]["spec"]["containers"]]
    assert images == [f"{plat.image}:{svc}-api-dev-canary"]  # git's tag again, no digest pin


def test_the_canary_round_trips_through_the_argocd_api_too(
    platform: Platform, backends: dict[str, Backend]
) -> None:
    """The same repository through the Argo CD API backend: a CI runner holding only
    ARGOCD_SERVER and a project token (no kubeconfig) deploys and cleans up the canary."""
    svc = SERVICES[1]
    platform.ensure_synced(svc)
    api = backends["argocd-api"]
    serve = platform.context / "serve.sh"
    serve.write_text(serve.read_text() + "# another pull request's change\n")

    def run(*args: str) -> tuple[int, Obj, str]:
        out = api.cli(*args, "--output", "json", timeout=180)
        try:
            return out.returncode, json.loads(out.stdout), out.stderr
        except json.JSONDecodeError:
            pytest.fail(f"no JSON (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")

    code, report, stderr = run(
        "deploy-canary", "--service", svc, "--context", str(platform.context), "--timeout", "90",
        "--pr", "20", "--run-id", f"prodrepo-api-{svc}",
    )  # fmt: skip
    (result,) = report["services"]
    assert (code, result["result"], report["backend"]["name"]) == (0, "succeeded", "argocd-api"), (
        stderr
    )
    assert platform.running_digests(svc, "v2") == {result["digest"]}
    code, report, stderr = run("cleanup-canary", "--service", svc, "--timeout", "90", "--pr", "20")
    assert (code, report["result"]) == (0, "cleaned"), stderr


def test_a_missing_crd_fails_the_sync_before_anything_is_applied(
    platform: Platform,
) -> None:
    plat = platform
    kube = plat.sandbox.kube
    assert kube.get_or_none(f"{CRDS}/destinationrules.networking.istio.io") is not None
    plat.create_app(UNCRD)
    state = plat.failed_attempt(UNCRD)
    # auto-sync retries 5 times by default (controller/appcontroller.go autoSync: Limit 5);
    # every attempt fails in getSyncTasks, before the namespace or any object is applied
    assert state["message"].startswith(
        f"one or more synchronization tasks are not valid: {MISSING_CRD}. Retrying attempt #1 "
    )
    failures = [r for r in state["syncResult"]["resources"] if r["status"] == "SyncFailed"]
    assert [(r["kind"], r["message"]) for r in failures] == [("DestinationRule", MISSING_CRD)]
    assert kube.get_or_none(f"/api/v1/namespaces/{UNCRD}") is None


def test_deploy_canary_on_a_never_synced_app_reports_the_failed_sync(
    platform: Platform,
) -> None:
    plat = platform
    if plat.sandbox.kube.get_or_none(f"{APPS}/dev-api-{UNCRD}") is None:
        plat.create_app(UNCRD)
    plat.failed_attempt(UNCRD)
    code, result, _ = plat.deploy(UNCRD, "11", 40)
    assert (code, result["reason"]) == (ExitCode.SYNC_FAILED, "sync-failed"), result["message"]
    assert MISSING_CRD in result["message"]


def test_deploy_canary_behind_a_failing_auto_sync_reports_its_reason(platform: Platform) -> None:
    svc = SERVICES[1]
    platform.break_sync(svc)
    code, result, _ = platform.deploy(svc, "12", 5)
    assert code != ExitCode.OK
    assert missing_crd(svc) in result["message"], result["message"]


def test_canary_of_a_synced_app_whose_next_commit_needs_a_missing_crd(platform: Platform) -> None:
    """The canary's sync is selective (``sync.resources``: the canary Deployment only), and
    gitops-engine builds its tasks from the selected resources only (``sync_context.go``
    getSyncTasks, ``containsResource``): with the running auto-sync terminated, the canary is
    deployed while the Application's full sync keeps failing on the missing CRD."""
    svc = SERVICES[1]
    platform.break_sync(svc)
    stable_uids = sorted(p["metadata"]["uid"] for p in platform.pods(svc, "v1"))
    code, result, stderr = platform.deploy(svc, "13", 60, "--terminate-running")
    assert (code, result["result"]) == (ExitCode.OK, "succeeded"), stderr
    assert platform.running_digests(svc, "v2") == {result["digest"]}
    assert sorted(p["metadata"]["uid"] for p in platform.pods(svc, "v1")) == stable_uids
    rules = platform.sandbox.kube.get_or_none("/apis/networking.acme.io/v1")
    assert rules is None  # never served, never applied
