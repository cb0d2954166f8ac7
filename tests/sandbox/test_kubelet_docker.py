"""The deployment controller and kubelet against the real API server, registry and Docker.

Images are built FROM scratch with the static busybox and pushed to the session registry; the
controllers run in threads and talk to the API server over HTTP only.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest
import requests

from pipeline.sandbox.apiserver.server import APIServer
from pipeline.sandbox.controllers.containers import LABEL_INSTANCE
from pipeline.sandbox.controllers.deployment import DeploymentController
from pipeline.sandbox.controllers.kubelet import Kubelet
from pipeline.sandbox.controllers.scheduler import Scheduler
from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.sandbox.seed import pull_secret_manifest
from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from tests.fixtures.services import BuildImage, write_busybox_context
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
T = TypeVar("T")
NS = "apps"


class ImageBuilder:
    """Builds FROM-scratch busybox images and pushes them to the test registry."""

    def __init__(self, engine: DockerEngine, registry: Registry, workdir: Path) -> None:
        self.docker = docker.DockerClient(base_url=engine.host, timeout=300)
        self.registry = registry
        self.context = workdir / "context"
        self.context.mkdir()
        shutil.copy("/bin/busybox", self.context / "busybox")

    def push(self, repo: str, tag: str, cmd: str, marker: str = "") -> str:
        """Build ``repo:tag`` running ``sh -c cmd`` and push it; return the registry digest."""
        (self.context / "Dockerfile").write_text(
            "FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            f"ENV MARKER={marker or uuid.uuid4().hex}\n"
            f'ENTRYPOINT ["/bin/sh", "-c"]\nCMD ["{cmd}"]\n'
        )
        name = f"{self.registry.address}/{repo}"
        self.docker.images.build(
            path=str(self.context), tag=f"{name}:{tag}", network_mode="host", rm=True
        )
        self.docker.images.push(name, tag=tag)
        response = requests.head(
            f"{self.registry.url}/v2/{repo}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def builder(
    docker_engine: DockerEngine, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageBuilder]:
    b = ImageBuilder(docker_engine, registry, tmp_path_factory.mktemp("images"))
    yield b
    b.docker.close()


@pytest.fixture(scope="module")
def cluster(
    docker_engine: DockerEngine, auth_registry: Registry
) -> Iterator[tuple[KubeClient, str]]:
    server = APIServer(port=0)
    server.start()
    kube = KubeClient(server.url)
    kube.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    instance = f"test-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    kubelet = Kubelet(
        kube,
        docker_host=docker_engine.host,
        registry_ca=str(auth_registry.ca_cert),
        backoff_base=0.5,
        backoff_max=2,
        instance=instance,
    )
    threads = [
        threading.Thread(target=DeploymentController(kube).run, args=(stop,), daemon=True),
        threading.Thread(target=kubelet.run, args=(stop,), daemon=True),
        threading.Thread(target=Scheduler(kube).run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    yield kube, instance
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    server.stop()


def deployment(name: str, image: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


def pods_of(kube: KubeClient, app: str) -> list[Obj]:
    items: list[Obj] = kube.list(resource_path("v1", "pods", NS), label_selector=f"app={app}")[
        "items"
    ]
    return items


def container_status(pod: Obj) -> Obj:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    status: Obj = statuses[0]
    return status


def get_deployment(kube: KubeClient, name: str) -> Obj:
    return kube.get(resource_path("apps/v1", "deployments", NS, name))


def rolled_out(kube: KubeClient, name: str) -> Obj | None:
    """kubectl rollout status's success test (reference F.3)."""
    d = get_deployment(kube, name)
    st = d.get("status", {})
    want = d["spec"]["replicas"]
    done = (
        d["metadata"]["generation"] <= st.get("observedGeneration", 0)
        and st.get("updatedReplicas", 0) == want
        and st.get("replicas", 0) == want
        and st.get("availableReplicas", 0) == want
    )
    return d if done else None


def deadline_exceeded(kube: KubeClient, name: str) -> Obj | None:
    conds = {c["type"]: c for c in get_deployment(kube, name)["status"].get("conditions", [])}
    progressing: Obj = conds.get("Progressing", {})
    return progressing if progressing.get("reason") == "ProgressDeadlineExceeded" else None


def test_rollout_runs_the_pushed_digest_then_rolls_to_a_new_one(
    cluster: tuple[KubeClient, str], builder: ImageBuilder, registry: Registry
) -> None:
    kube, _ = cluster
    digest_v1 = builder.push("web", "canary", "echo hello from v1; sleep 3600")
    image = f"{registry.address}/web:canary"
    body = deployment("web", image)
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    kube.create(resource_path("apps/v1", "deployments", NS), body)
    d = wait_for("first rollout", lambda: rolled_out(kube, "web"))
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    (pod,) = pods_of(kube, "web")
    status = container_status(pod)
    assert status["imageID"] == f"{registry.address}/web@{digest_v1}"
    assert status["containerID"].startswith("docker://")
    assert pod["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    first_hash = pod["metadata"]["labels"]["pod-template-hash"]

    log_path = resource_path("v1", "pods", NS, pod["metadata"]["name"]) + "/log"
    assert wait_for("logs", lambda: "hello from v1" in str(kube.request("GET", log_path)))

    digest_v2 = builder.push("web", "canary", "echo hello from v2; sleep 3600")
    assert digest_v2 != digest_v1
    kube.patch(
        resource_path("apps/v1", "deployments", NS, "web"),
        {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}},
    )

    def new_pod_on_v2() -> Obj | None:
        if not rolled_out(kube, "web"):
            return None
        pods = [p for p in pods_of(kube, "web") if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != 1 or pods[0]["metadata"]["labels"]["pod-template-hash"] == first_hash:
            return None
        return pods[0] if container_status(pods[0]).get("imageID") else None

    pod2 = wait_for("second rollout", new_pod_on_v2)
    assert container_status(pod2)["imageID"] == f"{registry.address}/web@{digest_v2}"
    d = get_deployment(kube, "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    replica_sets = kube.list(resource_path("apps/v1", "replicasets", NS), "app=web")["items"]
    by_hash = {rs["metadata"]["labels"]["pod-template-hash"]: rs for rs in replica_sets}
    assert by_hash[first_hash]["spec"]["replicas"] == 0
    progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_missing_tag_gives_err_image_pull_then_backoff(
    cluster: tuple[KubeClient, str], registry: Registry
) -> None:
    kube, _ = cluster
    image = f"{registry.address}/web:does-not-exist"
    pods_path = resource_path("v1", "pods", NS)
    since = kube.list(pods_path)["metadata"]["resourceVersion"]
    kube.create(
        resource_path("apps/v1", "deployments", NS),
        deployment("missing", image, progressDeadlineSeconds=2),
    )

    def reason_seen(reason: str) -> Obj | None:
        for pod in pods_of(kube, "missing"):
            waiting = container_status(pod).get("state", {}).get("waiting", {})
            if waiting.get("reason") == reason:
                return dict(waiting)
        return None

    def watched(reason: str) -> Obj:
        """ErrImagePull lasts until the next pull attempt: a watch sees it, a poll can miss it."""
        for event in kube.watch(pods_path, since, timeout_seconds=60, label_selector="app=missing"):
            waiting = container_status(event["object"]).get("state", {}).get("waiting", {})
            if waiting.get("reason") == reason:
                return dict(waiting)
        raise AssertionError(f"no pod of the Deployment reported {reason} within 60 s")

    err = watched("ErrImagePull")
    assert "not found" in err["message"]
    assert err["message"].startswith("rpc error: code = NotFound desc = failed to pull and unpack")
    backoff = wait_for("ImagePullBackOff", lambda: reason_seen("ImagePullBackOff"))
    assert backoff["message"] == f'Back-off pulling image "{image}"'
    (pod,) = pods_of(kube, "missing")
    assert container_status(pod)["imageID"] == ""
    cond = wait_for("ProgressDeadlineExceeded", lambda: deadline_exceeded(kube, "missing"))
    assert (cond["status"], cond["message"]) == (
        "False",
        f'ReplicaSet "{pod["metadata"]["labels"]["app"]}-'
        f'{pod["metadata"]["labels"]["pod-template-hash"]}" has timed out progressing.',
    )


def test_crashing_container_goes_into_crash_loop_backoff(
    cluster: tuple[KubeClient, str], builder: ImageBuilder, registry: Registry
) -> None:
    kube, _ = cluster
    builder.push("crash", "v1", "echo dying; exit 3")
    kube.create(
        resource_path("apps/v1", "deployments", NS),
        deployment("crash", f"{registry.address}/crash:v1", progressDeadlineSeconds=3),
    )

    def crash_looping() -> Obj | None:
        for pod in pods_of(kube, "crash"):
            status = container_status(pod)
            waiting = status.get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff" and status["restartCount"] >= 1:
                return status
        return None

    status = wait_for("CrashLoopBackOff", crash_looping)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "restarting failed container=app pod=crash-" in status["state"]["waiting"]["message"]

    cond = wait_for("ProgressDeadlineExceeded", lambda: deadline_exceeded(kube, "crash"))
    assert cond["status"] == "False"
    (pod,) = pods_of(kube, "crash")
    previous = resource_path("v1", "pods", NS, pod["metadata"]["name"]) + "/log?previous=true"
    assert "dying" in str(kube.request("GET", previous))


def test_deleting_a_pod_removes_its_container(
    cluster: tuple[KubeClient, str],
    builder: ImageBuilder,
    registry: Registry,
    docker_engine: DockerEngine,
) -> None:
    kube, instance = cluster
    builder.push("solo", "v1", "sleep 3600")
    pod = kube.create(
        resource_path("v1", "pods", NS),
        {
            "metadata": {"name": "solo"},
            "spec": {
                # `sleep` as PID 1 ignores SIGTERM: without this the kubelet waits the
                # default 30 s grace before SIGKILL, as a real one does
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": f"{registry.address}/solo:v1"}],
            },
        },
    )
    uid = pod["metadata"]["uid"]
    client = docker.DockerClient(base_url=docker_engine.host)

    def containers() -> list[Any]:
        labels = [f"{LABEL_INSTANCE}={instance}", f"io.kubernetes.pod.uid={uid}"]
        return list(client.api.containers(all=True, filters={"label": labels}))

    wait_for("container running", lambda: [c for c in containers() if c["State"] == "running"])
    assert kube.get(resource_path("v1", "pods", NS, "solo"))["spec"]["nodeName"] == "sandbox"
    kube.delete(resource_path("v1", "pods", NS, "solo"))
    wait_for("container removed", lambda: not containers() or None)
    client.close()


def waiting_reason(kube: KubeClient, pod: str) -> Obj | None:
    status = container_status(kube.get(resource_path("v1", "pods", NS, pod)))
    state: Obj = status.get("state", {}).get("waiting") or {}
    return state or None


def test_pull_secret_authenticates_against_a_private_registry(
    cluster: tuple[KubeClient, str],
    auth_registry: Registry,
    build_image: BuildImage,
    tmp_path: Path,
) -> None:
    kube, _ = cluster
    image = f"{auth_registry.address}/private/app:v1"
    context = write_busybox_context(tmp_path / "ctx", "private")
    (context / "busybox").chmod(0o755)  # the shared helper copies it without the exec bit
    digest = build_image(context, image, auth_registry)
    pods = resource_path("v1", "pods", NS)
    kube.create(
        pods,
        {"metadata": {"name": "anon"}, "spec": {"containers": [{"name": "app", "image": image}]}},
    )
    denied = wait_for("ErrImagePull without credentials", lambda: waiting_reason(kube, "anon"))
    assert denied["reason"] in ("ErrImagePull", "ImagePullBackOff")

    assert auth_registry.username and auth_registry.password
    secret = pull_secret_manifest(
        NS, "pull", auth_registry.address, auth_registry.username, auth_registry.password
    )
    kube.create(resource_path("v1", "secrets", NS), secret)
    kube.create(
        pods,
        {
            "metadata": {"name": "authed"},
            "spec": {
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [{"name": "app", "image": image}],
            },
        },
    )

    def ready() -> Obj | None:
        status = container_status(kube.get(pods + "/authed"))
        return status if status.get("ready") else None

    assert wait_for("authenticated pod ready", ready)["imageID"] == (
        f"{auth_registry.address}/private/app@{digest}"
    )


def test_stop_removes_containers_and_cleanup_removes_leftovers(
    cluster: tuple[KubeClient, str],
    builder: ImageBuilder,
    registry: Registry,
    docker_engine: DockerEngine,
) -> None:
    kube, _ = cluster
    digest = builder.push("stoppable", "v1", "sleep 3600")
    instance = f"stop-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    kubelet = Kubelet(kube, docker_host=docker_engine.host, node_name="other", instance=instance)
    thread = threading.Thread(target=kubelet.run, args=(stop,), daemon=True)
    thread.start()
    kube.create(
        resource_path("v1", "pods", NS),
        {
            "metadata": {"name": "on-other"},
            "spec": {
                "nodeName": "other",
                "containers": [{"name": "app", "image": f"{registry.address}/stoppable:v1"}],
            },
        },
    )
    client = docker.DockerClient(base_url=docker_engine.host)
    labels = {"label": [f"{LABEL_INSTANCE}={instance}"]}
    wait_for("container", lambda: client.api.containers(all=True, filters=labels))
    stop.set()
    thread.join(timeout=60)
    assert client.api.containers(all=True, filters=labels) == []
    kube.delete(resource_path("v1", "nodes", name="other"))  # no kubelet serves it any more

    client.containers.create(
        f"{registry.address}/stoppable@{digest}",
        labels={LABEL_INSTANCE: instance},
        network_mode="none",
    )
    Kubelet.cleanup(docker_engine.host, instance)
    assert client.api.containers(all=True, filters=labels) == []
    client.close()


def test_pull_policy_always_resolves_the_tag_again_on_restart(
    cluster: tuple[KubeClient, str], builder: ImageBuilder, registry: Registry
) -> None:
    kube, _ = cluster
    builder.push("moving", "canary", "exit 1")
    body = deployment("moving", f"{registry.address}/moving:canary")
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    kube.create(resource_path("apps/v1", "deployments", NS), body)

    def restarted() -> Obj | None:
        for pod in pods_of(kube, "moving"):
            status = container_status(pod)
            if status.get("restartCount", 0) >= 1:
                return status
        return None

    wait_for("a restart", restarted)
    fixed = builder.push("moving", "canary", "sleep 3600")

    def fixed_pods() -> list[Obj] | None:
        return pods_of(kube, "moving") if rolled_out(kube, "moving") else None

    (pod,) = wait_for("the fixed image running", fixed_pods)
    status = container_status(pod)
    assert status["imageID"] == f"{registry.address}/moving@{fixed}"
    assert status["restartCount"] >= 1
