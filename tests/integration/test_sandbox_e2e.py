"""The sandbox end to end: `pipeline sandbox up` + the sample service, real registry, real Docker,
the stock kubectl. Each test seeds its own service so tests do not share state."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import digest_from_image_id, parse_image_ref
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample, build_sample_image, pod_ready, wait_for_pods
from pipeline.tools import kubectl_path
from tests.fixtures.sandbox import PIPELINE, SandboxHandle

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
APPS = "argoproj.io/v1alpha1"


def kubectl(sandbox: SandboxHandle, *args: str) -> str:
    result = subprocess.run(
        [kubectl_path(), "--kubeconfig", str(sandbox.kubeconfig), "--request-timeout=30s", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def running_digests(sandbox: SandboxHandle, namespace: str, selector: str) -> set[str | None]:
    pods = sandbox.kube.list(resource_path("v1", "pods", namespace), label_selector=selector)
    return {
        digest_from_image_id(status.get("imageID", ""))
        for pod in pods["items"]
        for status in pod.get("status", {}).get("containerStatuses", [])
    }


def waiting_reason(pods: list[Obj]) -> set[str]:
    return {
        s.get("state", {}).get("waiting", {}).get("reason", "")
        for p in pods
        for s in p.get("status", {}).get("containerStatuses", [])
    }


def test_sample_syncs_from_git_and_pods_run_the_registry_digests(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    app = sandbox.kube.get(resource_path(APPS, "applications", "argocd", repo.app_name))
    assert app["status"]["sync"]["status"] == "Synced"
    assert len(app["status"]["sync"]["revision"]) == 40
    registry = RegistryClient(insecure=[sandbox.registry.address])
    for role, image in (("stable", repo.stable_image), ("canary", repo.canary_image)):
        in_registry = registry.head_digest(parse_image_ref(image)).digest
        assert in_registry == seeded.digests[role]
        assert running_digests(sandbox, repo.namespace, repo.selectors[role]) == {in_registry}
    # the troubleshooting command people copy from READMEs, through the stock kubectl
    image_id = kubectl(
        sandbox, "get", "pod", "-n", repo.namespace, "-l", repo.selectors["canary"],
        "-o", "jsonpath={.items[0].status.containerStatuses[0].imageID}",
    )  # fmt: skip
    assert image_id == f"{repo.canary_image.rsplit(':', 1)[0]}@{seeded.digests['canary']}"
    assert repo.app_name in kubectl(sandbox, "get", "applications", "-n", "argocd")


def test_new_push_under_the_same_tag_reaches_the_pod_only_with_a_new_pod(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    """Real Kubernetes: re-syncing an unchanged template creates no pod, so a re-pushed tag is
    not picked up until a pod is recreated (imagePullPolicy Always then re-resolves the tag).
    That gap is why deploy-canary pins digests."""
    seeded = make_sample()
    repo = seeded.repo
    new_digest = build_sample_image(
        repo, repo.canary_image, sandbox.docker_host, revision=uuid.uuid4().hex
    )
    assert new_digest != seeded.digests["canary"]
    name = repo.app_name
    kubectl(sandbox, "annotate", "application", name, "-n", "argocd",
            "argocd.argoproj.io/refresh=hard", "--overwrite")  # fmt: skip
    sandbox.wait_application(
        name, lambda a: "argocd.argoproj.io/refresh" not in a["metadata"]["annotations"], "refresh"
    )
    marker = uuid.uuid4().hex
    operation = {
        "operation": {
            "initiatedBy": {"username": "tests"},
            "info": [{"name": "run", "value": marker}],
            "sync": {"revision": ""},
        }
    }
    kubectl(sandbox, "patch", "application", name, "-n", "argocd", "--type", "merge",
            "-p", json.dumps(operation))  # fmt: skip

    def synced_by_us(app: Obj) -> bool:
        state = app.get("status", {}).get("operationState", {})
        info = state.get("operation", {}).get("info", [])
        return state.get("phase") == "Succeeded" and {"name": "run", "value": marker} in info

    app = sandbox.wait_application(name, synced_by_us, "our sync")
    assert "operation" not in app
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {
        seeded.digests["canary"]
    }
    canary_deploy = f"{repo.app_name.removeprefix('dev-api-')}-api-canary"
    kubectl(sandbox, "rollout", "restart", f"deployment/{canary_deploy}", "-n", repo.namespace)
    kubectl(sandbox, "rollout", "status", f"deployment/{canary_deploy}", "-n", repo.namespace,
            "--timeout=60s")  # fmt: skip
    wait_for_pods(
        sandbox.kube,
        repo.namespace,
        repo.selectors["canary"],
        lambda pods: (
            len(pods) == 1
            and pod_ready(pods[0])
            and running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {new_digest}
        ),
        timeout=60,
    )
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {
        seeded.digests["stable"]
    }


def _deployment(name: str, image: str) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _namespace(sandbox: SandboxHandle) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    sandbox.kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def test_a_missing_tag_gives_image_pull_backoff(sandbox: SandboxHandle) -> None:
    ns = _namespace(sandbox)
    image = f"{sandbox.registry.address}/eco2:does-not-exist"
    sandbox.kube.create(resource_path("apps/v1", "deployments", ns), _deployment("ghost", image))
    pods = wait_for_pods(
        sandbox.kube, ns, "app=ghost", lambda p: "ImagePullBackOff" in waiting_reason(p), timeout=60
    )
    assert pods[0]["status"]["containerStatuses"][0]["imageID"] == ""
    events = kubectl(sandbox, "get", "events", "-n", ns)
    assert "Failed" in events and "does-not-exist" in events


def test_a_crashing_image_gives_crash_loop_backoff(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    image = f"{sandbox.registry.address}/eco2:crash-{uuid.uuid4().hex[:6]}"
    build_sample_image(seeded.repo, image, sandbox.docker_host, build_args={"CRASH": "1"})
    ns = _namespace(sandbox)
    sandbox.kube.create(resource_path("apps/v1", "deployments", ns), _deployment("crash", image))
    pods = wait_for_pods(
        sandbox.kube, ns, "app=crash", lambda p: "CrashLoopBackOff" in waiting_reason(p), timeout=60
    )
    status = pods[0]["status"]["containerStatuses"][0]
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["ready"] is False
    logs = kubectl(sandbox, "logs", "-n", ns, pods[0]["metadata"]["name"], "--previous")
    assert "CRASH=1" in logs


def test_an_overlay_images_entry_on_the_shared_name_rewrites_the_canary_tag(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    """kustomize matches `images` by name with any tag (reference C.4 row 0)."""
    seeded = make_sample(shared_name_override=True)
    repo = seeded.repo
    service = repo.app_name.removeprefix("dev-api-")
    deploy = sandbox.kube.get(
        resource_path("apps/v1", "deployments", repo.namespace, f"{service}-api-canary")
    )
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == repo.stable_image, "the canary Deployment runs the stable tag"
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {
        seeded.digests["stable"]
    }


def test_kubectl_with_a_service_account_token_meets_rbac_on_the_https_endpoint(
    sandbox: SandboxHandle,
) -> None:
    """kubectl sends tokens only over TLS (kubernetes/kubectl#744), so the sandbox serves HTTPS
    too; the plain-HTTP kubeconfig stays the loopback administrator."""
    status = json.loads(
        subprocess.run(
            [*PIPELINE, "sandbox", "status", "--state-dir", str(sandbox.state_dir), "-o", "json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    ns = _namespace(sandbox)
    kubectl(sandbox, "create", "serviceaccount", "reader", "-n", ns)
    kubectl(sandbox, "create", "rolebinding", "reader", "--clusterrole=view",
            f"--serviceaccount={ns}:reader", "-n", ns)  # fmt: skip
    token = kubectl(sandbox, "create", "token", "reader", "-n", ns).strip()
    as_reader = [
        kubectl_path(), "--kubeconfig", "/dev/null", "--server", status["secure_server"],
        "--certificate-authority", status["certificate_authority"], "--token", token,
    ]  # fmt: skip
    allowed = subprocess.run([*as_reader, "get", "pods", "-n", ns], capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr
    denied = subprocess.run(
        [*as_reader, "delete", "serviceaccount", "reader", "-n", ns], capture_output=True, text=True
    )
    assert denied.returncode != 0
    assert (
        f'serviceaccounts "reader" is forbidden: User "system:serviceaccount:{ns}:reader" '
        f'cannot delete resource "serviceaccounts" in API group "" in the namespace "{ns}"'
    ) in denied.stderr
