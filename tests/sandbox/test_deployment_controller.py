"""Deployment/ReplicaSet semantics and the image-resolving kubelet, without Docker.

The kubelet runs without ``docker_host``: images are resolved against the real registry (a
manifest pushed over the Distribution API), and a resolvable container runs and is Ready.
Controllers talk to the real sandbox API server over HTTP; ``kubectl`` is the stock binary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from pipeline.sandbox.apiserver.server import APIServer
from pipeline.sandbox.controllers.deployment import DeploymentController
from pipeline.sandbox.controllers.kubelet import Kubelet
from pipeline.sandbox.controllers.scheduler import Scheduler
from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.services.registry import Registry
from pipeline.tools import kubectl_path
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
T = TypeVar("T")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _put(registry: Registry, repo: str, ref: str, body: bytes, media_type: str) -> str:
    response = requests.put(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        data=body,
        headers={"Content-Type": media_type},
        timeout=10,
    )
    response.raise_for_status()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_manifest(registry: Registry, repo: str, tag: str, *, index: bool = False) -> str:
    """Push a minimal image (config blob + manifest, optionally wrapped in an index)."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": {"m": uuid.uuid4().hex}}}
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    start = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=10)
    start.raise_for_status()
    location = start.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    sep = "&" if "?" in location else "?"
    requests.put(
        f"{location}{sep}digest={config_digest}", data=config, timeout=10
    ).raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    if not index:
        return _put(registry, repo, tag, manifest, OCI_MANIFEST)
    manifest_digest = _put(
        registry, repo, "sha256:" + hashlib.sha256(manifest).hexdigest(), manifest, OCI_MANIFEST
    )
    wrapper = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    return _put(registry, repo, tag, wrapper, OCI_INDEX)


class Cluster:
    def __init__(self, kube: KubeClient, namespace: str, kubeconfig: Path) -> None:
        self.kube = kube
        self.ns = namespace
        self.kubeconfig = kubeconfig

    def create_deployment(self, name: str, image: str, **spec: Any) -> Obj:
        container = {"name": "app", "image": image, **spec.pop("container", {})}
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [container]},
                },
                **spec,
            },
        }
        return self.kube.create(resource_path("apps/v1", "deployments", self.ns), body)

    def patch_deployment(self, name: str, body: Obj) -> Obj:
        return self.kube.patch(resource_path("apps/v1", "deployments", self.ns, name), body)

    def deployment(self, name: str) -> Obj:
        return self.kube.get(resource_path("apps/v1", "deployments", self.ns, name))

    def replica_sets(self, app: str) -> list[Obj]:
        path = resource_path("apps/v1", "replicasets", self.ns)
        items: list[Obj] = self.kube.list(path, label_selector=f"app={app}")["items"]
        return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))

    def pods(self, app: str) -> list[Obj]:
        path = resource_path("v1", "pods", self.ns)
        items: list[Obj] = self.kube.list(path, label_selector=f"app={app}")["items"]
        return items

    def events(self) -> list[Obj]:
        items: list[Obj] = self.kube.list(resource_path("v1", "events", self.ns))["items"]
        return items

    def rolled_out(self, name: str) -> Obj | None:
        d = self.deployment(name)
        st, want = d.get("status", {}), d["spec"]["replicas"]
        done = d["metadata"]["generation"] <= st.get("observedGeneration", 0) and (
            st.get("updatedReplicas", 0) == st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
        )
        live = [p for p in self.pods(name) if not p["metadata"].get("deletionTimestamp")]
        return d if done and len(live) == want else None

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl_path(), "--kubeconfig", str(self.kubeconfig), "-n", self.ns, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server = APIServer(port=0)
    server.start()
    kube = KubeClient(server.url)
    kube.create("/api/v1/namespaces", {"metadata": {"name": "web"}})
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "s", "cluster": {"server": server.url}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    stop = threading.Event()
    kubelet = Kubelet(kube, docker_host=None, backoff_base=0.5, backoff_max=2)
    threads = [
        threading.Thread(target=DeploymentController(kube).run, args=(stop,), daemon=True),
        threading.Thread(target=kubelet.run, args=(stop,), daemon=True),
        threading.Thread(target=Scheduler(kube).run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    yield Cluster(kube, "web", kubeconfig)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server.stop()


def test_rollout_creates_a_replica_set_per_template(cluster: Cluster, registry: Registry) -> None:
    digest = push_manifest(registry, "sim/app", "v1")
    image = f"{registry.address}/sim/app:v1"
    cluster.create_deployment("app", image, replicas=2)
    d = wait_for("rollout", lambda: cluster.rolled_out("app"))
    (rs,) = cluster.replica_sets("app")
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"app-{template_hash}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs["metadata"]["annotations"] == {
        REVISION: "1",
        "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3",
    }
    assert d["metadata"]["annotations"][REVISION] == "1"
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    pods = cluster.pods("app")
    assert {p["metadata"]["generateName"] for p in pods} == {f"app-{template_hash}-"}
    assert {p["status"]["containerStatuses"][0]["imageID"] for p in pods} == {
        f"{registry.address}/sim/app@{digest}"
    }
    messages = {e["message"] for e in cluster.events() if e["reason"] == "ScalingReplicaSet"}
    assert f"Scaled up replica set app-{template_hash} from 0 to 2" in messages
    result = cluster.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
    assert result.returncode == 0, result.stderr
    assert 'deployment "app" successfully rolled out' in result.stdout


def test_new_template_then_rollback_reuses_the_old_replica_set(
    cluster: Cluster, registry: Registry
) -> None:
    push_manifest(registry, "sim/roll", "v1")
    push_manifest(registry, "sim/roll", "v2")
    cluster.create_deployment("roll", f"{registry.address}/sim/roll:v1", replicas=2)
    wait_for("first rollout", lambda: cluster.rolled_out("roll"))
    first = cluster.replica_sets("roll")[0]["metadata"]["name"]
    v2 = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": f"{registry.address}/sim/roll:v2"}]
                }
            }
        }
    }
    cluster.patch_deployment("roll", v2)
    wait_for(
        "v2 rollout", lambda: len(cluster.replica_sets("roll")) == 2 and cluster.rolled_out("roll")
    )
    old, new = cluster.replica_sets("roll")
    assert (old["metadata"]["name"], old["spec"]["replicas"]) == (first, 0)
    assert new["spec"]["replicas"] == 2
    v1 = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": f"{registry.address}/sim/roll:v1"}]
                }
            }
        }
    }
    cluster.patch_deployment("roll", v1)

    def back_on_first() -> Obj | None:
        d = cluster.rolled_out("roll")
        return d if d and d["metadata"]["annotations"][REVISION] == "3" else None

    wait_for("rollback", back_on_first)
    replica_sets = {rs["metadata"]["name"]: rs for rs in cluster.replica_sets("roll")}
    assert len(replica_sets) == 2
    assert replica_sets[first]["metadata"]["annotations"][REVISION] == "3"
    assert replica_sets[first]["spec"]["replicas"] == 2


def test_recreate_and_revision_history_limit(cluster: Cluster, registry: Registry) -> None:
    push_manifest(registry, "sim/rec", "v1")
    cluster.create_deployment(
        "rec",
        f"{registry.address}/sim/rec:v1",
        replicas=2,
        strategy={"type": "Recreate"},
        revisionHistoryLimit=0,
    )
    wait_for("first rollout", lambda: cluster.rolled_out("rec"))
    cluster.patch_deployment(
        "rec", {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}}
    )

    def only_new_rs() -> list[Obj] | None:
        sets = cluster.replica_sets("rec")
        return sets if len(sets) == 1 and cluster.rolled_out("rec") else None

    (rs,) = wait_for("recreate rollout, old RS pruned", only_new_rs)
    assert rs["metadata"]["annotations"][REVISION] == "2"


def test_scaling_creates_and_deletes_pods(cluster: Cluster, registry: Registry) -> None:
    push_manifest(registry, "sim/scale", "v1")
    cluster.create_deployment("scale", f"{registry.address}/sim/scale:v1", replicas=3)
    wait_for("three pods", lambda: cluster.rolled_out("scale"))
    cluster.patch_deployment("scale", {"spec": {"replicas": 1}})
    d = wait_for("one pod", lambda: cluster.rolled_out("scale"))
    assert d["status"]["replicas"] == 1
    assert len(cluster.replica_sets("scale")) == 1


def test_missing_tag_times_out_the_rollout(cluster: Cluster, registry: Registry) -> None:
    cluster.create_deployment(
        "gone", f"{registry.address}/sim/gone:nope", progressDeadlineSeconds=1
    )

    def timed_out() -> Obj | None:
        conds = {
            c["type"]: c for c in cluster.deployment("gone").get("status", {}).get("conditions", [])
        }
        cond: Obj = conds.get("Progressing", {})
        return cond if cond.get("reason") == "ProgressDeadlineExceeded" else None

    wait_for("ProgressDeadlineExceeded", timed_out)
    result = cluster.kubectl("rollout", "status", "deployment/gone", "--timeout=20s")
    assert result.returncode != 0
    assert 'deployment "gone" exceeded its progress deadline' in result.stderr
    (pod,) = cluster.pods("gone")
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff")
    reasons = {
        e["reason"]
        for e in cluster.events()
        if e["involvedObject"]["name"] == pod["metadata"]["name"]
    }
    assert {"Scheduled", "Pulling", "Failed"} <= reasons


def test_index_digest_is_the_image_id(cluster: Cluster, registry: Registry) -> None:
    digest = push_manifest(registry, "sim/multi", "v1", index=True)
    cluster.create_deployment("multi", f"{registry.address}/sim/multi:v1")
    wait_for("rollout", lambda: cluster.rolled_out("multi"))
    (pod,) = cluster.pods("multi")
    assert (
        pod["status"]["containerStatuses"][0]["imageID"] == f"{registry.address}/sim/multi@{digest}"
    )


def test_invalid_image_name(cluster: Cluster) -> None:
    cluster.create_deployment("bad", "Not A Valid/Image")

    def waiting() -> Obj | None:
        for pod in cluster.pods("bad"):
            for status in pod.get("status", {}).get("containerStatuses", []):
                state: Obj = status["state"].get("waiting", {})
                if state.get("reason") == "InvalidImageName":
                    return state
        return None

    assert "invalid reference format" in wait_for("InvalidImageName", waiting)["message"]


def test_missing_secret_is_create_container_config_error_until_created(
    cluster: Cluster, registry: Registry
) -> None:
    push_manifest(registry, "sim/cfg", "v1")
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}]
    cluster.create_deployment("cfg", f"{registry.address}/sim/cfg:v1", container={"env": env})

    def config_error() -> Obj | None:
        for pod in cluster.pods("cfg"):
            for status in pod.get("status", {}).get("containerStatuses", []):
                state: Obj = status["state"].get("waiting", {})
                if state.get("reason") == "CreateContainerConfigError":
                    return state
        return None

    assert (
        wait_for("CreateContainerConfigError", config_error)["message"] == 'secret "api" not found'
    )
    cluster.kube.create(
        resource_path("v1", "secrets", cluster.ns),
        {"metadata": {"name": "api"}, "data": {"token": base64.b64encode(b"t").decode()}},
    )
    wait_for("running once the secret exists", lambda: cluster.rolled_out("cfg"))


def test_unscheduled_pod_is_bound_to_the_node(cluster: Cluster, registry: Registry) -> None:
    push_manifest(registry, "sim/bare", "v1")
    path = resource_path("v1", "pods", cluster.ns)
    cluster.kube.create(
        path,
        {
            "metadata": {"name": "bare", "labels": {"app": "bare"}},
            "spec": {"containers": [{"name": "c", "image": f"{registry.address}/sim/bare:v1"}]},
        },
    )

    def running() -> Obj | None:
        pod = cluster.kube.get(path + "/bare")
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    pod = running() or wait_for("running", running)
    assert pod["spec"]["nodeName"] == "sandbox"
    assert [c["type"] for c in pod["status"]["conditions"]] == [
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    ]
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("docker://")
    scheduled = [
        e
        for e in cluster.events()
        if e["reason"] == "Scheduled" and e["involvedObject"]["name"] == "bare"
    ]
    assert scheduled[0]["message"] == f"Successfully assigned {cluster.ns}/bare to sandbox"


def test_pod_names_of_a_long_deployment_never_exceed_63_characters(
    cluster: Cluster, registry: Registry
) -> None:
    """names.SimpleNameGenerator: the generateName base is cut to 58, then 5 random chars."""
    name = "checkout-" + "x" * 51  # 60 characters: the ReplicaSet's is 70 or 71 (hash length)
    push_manifest(registry, "sim/long", "v1")
    cluster.create_deployment(name, f"{registry.address}/sim/long:v1", replicas=3)
    wait_for("rollout", lambda: cluster.rolled_out(name))
    (rs,) = cluster.replica_sets(name)
    pods = cluster.pods(name)
    assert len(rs["metadata"]["name"]) > 63 and len(pods) == 3
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        assert len(pod_name) == 63
        assert pod_name.startswith(rs["metadata"]["name"][:58])
        assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
