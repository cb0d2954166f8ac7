"""Nodes, the scheduler, pod network namespaces, probes and graceful deletion, against the real
API server, registry and Docker Engine, through the Python client and the stock kubectl."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.sandbox.apiserver.server import APIServer
from pipeline.sandbox.controllers.deployment import DeploymentController
from pipeline.sandbox.controllers.kubelet import Kubelet
from pipeline.sandbox.controllers.scheduler import Scheduler
from pipeline.sandbox.kubeclient import ApiError, KubeClient, resource_path
from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from pipeline.tools import kubectl_path
from tests.fixtures.waiting import wait_for
from tests.sandbox.test_kubelet_docker import ImageBuilder

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
NS = "nodes"


@dataclass
class Cluster:
    kube: KubeClient
    kubeconfig: Path
    image: str

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [kubectl_path(), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def pod(self, name: str) -> Obj | None:
        try:
            return self.kube.get(resource_path("v1", "pods", NS, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def events(self, name: str) -> list[Obj]:
        items: list[Obj] = self.kube.list(
            resource_path("v1", "events", NS), field_selector=f"involvedObject.name={name}"
        )["items"]
        return items

    def event(self, name: str, reason: str) -> Obj | None:
        return next((e for e in self.events(name) if e["reason"] == reason), None)


@pytest.fixture(scope="module")
def cluster(
    docker_engine: DockerEngine,
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    builder = ImageBuilder(docker_engine, registry, tmp_path_factory.mktemp("images"))
    builder.push("probe-server", "v1", "sleep 3600")
    builder.docker.close()
    server = APIServer(port=0)
    server.start()
    kube = KubeClient(server.url)
    kube.create("/api/v1/namespaces", {"metadata": {"name": NS}})
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
    kubelet = Kubelet(
        kube,
        docker_host=docker_engine.host,
        backoff_base=0.5,
        backoff_max=2,
        instance=f"nodes-{uuid.uuid4().hex[:8]}",
        manage_other_nodes=True,
    )
    threads = [
        threading.Thread(target=target, args=(stop,), daemon=True)
        for target in (kubelet.run, Scheduler(kube).run, DeploymentController(kube).run)
    ]
    for thread in threads:
        thread.start()
    yield Cluster(kube, kubeconfig, f"{registry.address}/probe-server:v1")
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    server.stop()


def server_pod(cluster: Cluster, name: str, script: str, **spec: Any) -> Obj:
    container = {
        "name": "app",
        "image": cluster.image,
        "command": ["/bin/sh", "-c", script],
        "ports": [{"name": "http", "containerPort": 8000}],
        **spec.pop("container", {}),
    }
    return cluster.kube.create(
        resource_path("v1", "pods", NS),
        {"metadata": {"name": name}, "spec": {"containers": [container], **spec}},
    )


def condition(pod: Obj | None, kind: str) -> Obj:
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def test_nodes_from_kubectl_apply_are_listed_with_labels_and_become_ready(
    cluster: Cluster,
) -> None:
    default = wait_for(
        "the kubelet's own Node",
        lambda: cluster.kube.get_or_none(resource_path("v1", "nodes", name="sandbox")),
    )
    assert default["metadata"]["labels"]["kubernetes.io/hostname"] == "sandbox"
    node_yaml = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "edge-1", "labels": {"domain": "edge", "tier": "web"}},
            "spec": {"taints": [{"key": "domain", "value": "edge", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "2Gi", "pods": "10"}},
        }
    )
    cluster.kubectl("apply", "-f", "-", stdin=node_yaml)

    def ready() -> Obj | None:
        node = cluster.kube.get(resource_path("v1", "nodes", name="edge-1"))
        return node if condition(node, "Ready").get("status") == "True" else None

    node = wait_for("edge-1 Ready", ready, timeout=30)
    assert node["status"]["allocatable"] == {"cpu": "2", "memory": "2Gi", "pods": "10"}
    assert condition(node, "Ready")["reason"] == "KubeletReady"
    listing = cluster.kubectl("get", "nodes", "--show-labels")
    lines = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert lines["edge-1"][1] == "Ready"
    assert "domain=edge,tier=web" in lines["edge-1"][-1]
    assert lines["sandbox"][1] == "Ready"


def test_pod_stays_pending_until_a_matching_tainted_node_exists(cluster: Cluster) -> None:
    toleration = {"key": "domain", "operator": "Equal", "value": "billing", "effect": "NoSchedule"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "billing", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "billing"}},
            "template": {
                "metadata": {"labels": {"app": "billing"}},
                "spec": {
                    "nodeSelector": {"domain": "billing"},
                    "tolerations": [toleration],
                    "containers": [
                        {
                            "name": "app",
                            "image": cluster.image,
                            "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}},
                        }
                    ],
                },
            },
        },
    }
    cluster.kube.create(resource_path("apps/v1", "deployments", NS), deployment)

    def pending_pod() -> Obj | None:
        pods = cluster.kube.list(resource_path("v1", "pods", NS), label_selector="app=billing")
        for pod in pods["items"]:
            if condition(pod, "PodScheduled").get("reason") == "Unschedulable":
                return dict(pod)
        return None

    pod = wait_for("Unschedulable", pending_pod, timeout=30)
    name = pod["metadata"]["name"]
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    event = wait_for("FailedScheduling", lambda: cluster.event(name, "FailedScheduling"))
    count = len(cluster.kube.list(resource_path("v1", "nodes"))["items"])
    message = event["message"]
    assert event["type"] == "Warning"
    assert event["source"]["component"] == "default-scheduler"
    assert message.startswith(f"0/{count} nodes are available: ")
    assert "node(s) didn't match Pod's node affinity/selector" in message
    assert message.endswith(
        f"preemption: 0/{count} nodes are available: {count} Preemption is not helpful for "
        "scheduling."
    )
    assert condition(pod, "PodScheduled")["message"] == message

    cluster.kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "billing-1", "labels": {"domain": "billing"}},
                "spec": {"taints": [{"key": "domain", "value": "billing", "effect": "NoSchedule"}]},
            }
        ),
    )

    def running() -> Obj | None:
        current = cluster.pod(name)
        return current if condition(current, "Ready").get("status") == "True" else None

    pod = wait_for("pod Ready on billing-1", running, timeout=60)
    assert pod["spec"]["nodeName"] == "billing-1"
    scheduled = wait_for("Scheduled", lambda: cluster.event(name, "Scheduled"))
    assert scheduled["message"] == f"Successfully assigned {NS}/{name} to billing-1"
    assert pod["status"]["qosClass"] == "Burstable"
    started = wait_for("Started", lambda: cluster.event(name, "Started"))
    assert started["source"] == {"component": "kubelet", "host": "billing-1"}


def test_two_pods_listen_on_the_same_port_in_their_own_namespaces(cluster: Cluster) -> None:
    probe = {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 1}
    script = "mkdir -p /www && echo $POD > /www/index.html && exec httpd -f -p 8000 -h /www"
    for name in ("twin-a", "twin-b"):
        server_pod(
            cluster,
            name,
            script,
            container={"readinessProbe": probe, "env": [{"name": "POD", "value": name}]},
        )

    def both_ready() -> list[Obj] | None:
        pods = [cluster.pod(n) for n in ("twin-a", "twin-b")]
        ready = [p for p in pods if p and condition(p, "Ready").get("status") == "True"]
        return ready if len(ready) == 2 else None

    pods = wait_for("both pods Ready", both_ready, timeout=60)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2 and all(ip.startswith("10.244.") for ip in ips)
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in pods)


def test_readiness_probe_failing_then_passing_flips_ready(cluster: Cluster) -> None:
    script = "mkdir -p /www && (sleep 4; echo ok > /www/ready) & exec httpd -f -p 8000 -h /www"
    probe = {"httpGet": {"path": "/ready", "port": 8000}, "periodSeconds": 1}
    server_pod(cluster, "slow-ready", script, container={"readinessProbe": probe})

    unhealthy = wait_for("Unhealthy", lambda: cluster.event("slow-ready", "Unhealthy"))
    assert unhealthy["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 404"
    pod = cluster.pod("slow-ready")
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "ContainersReady")["reason"] == "ContainersNotReady"
    assert pod is not None and pod["status"]["containerStatuses"][0]["started"] is True

    def ready() -> Obj | None:
        current = cluster.pod("slow-ready")
        return current if condition(current, "Ready").get("status") == "True" else None

    pod = wait_for("Ready", ready, timeout=30)
    assert pod["status"]["containerStatuses"][0]["ready"] is True


def test_liveness_failure_restarts_the_container_with_events(cluster: Cluster) -> None:
    script = (
        "mkdir -p /www && echo ok > /www/healthz; (sleep 2; rm /www/healthz) & "
        "exec httpd -f -p 8000 -h /www"
    )
    probe = {
        "httpGet": {"path": "/healthz", "port": 8000},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    server_pod(
        cluster,
        "flaky",
        script,
        terminationGracePeriodSeconds=2,
        container={"livenessProbe": probe},
    )

    def restarted() -> Obj | None:
        pod = cluster.pod("flaky")
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        return pod if statuses[0].get("restartCount", 0) >= 1 else None

    pod = wait_for("liveness restart", restarted, timeout=60)
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["reason"] == "Error"  # stopped: a non-zero exit
    killing = [e for e in cluster.events("flaky") if e["reason"] == "Killing"]
    assert [e["message"] for e in killing][:1] == [
        "Container app failed liveness probe, will be restarted"
    ]
    unhealthy = cluster.event("flaky", "Unhealthy")
    assert unhealthy is not None
    assert unhealthy["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 404"


def test_deletion_is_graceful_sigterm_then_removal(cluster: Cluster) -> None:
    script = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    server_pod(cluster, "graceful", script, terminationGracePeriodSeconds=30)

    def running() -> Obj | None:
        pod = cluster.pod("graceful")
        return pod if ((pod or {}).get("status") or {}).get("phase") == "Running" else None

    wait_for("Running", running, timeout=60)
    started = time.monotonic()
    cluster.kube.delete(resource_path("v1", "pods", NS, "graceful"))
    pod = cluster.pod("graceful")
    assert pod is not None, "a bound pod is not removed before its containers stop"
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert pod["metadata"]["deletionTimestamp"]
    wait_for("pod removed", lambda: cluster.pod("graceful") is None, timeout=30)
    assert time.monotonic() - started < 25  # the trap ran on SIGTERM; no 30 s SIGKILL wait
    assert cluster.event("graceful", "Killing")["message"] == "Stopping container app"  # type: ignore[index]


def test_exec_and_tcp_socket_probes(cluster: Cluster) -> None:
    exec_probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    tcp_probe = {"tcpSocket": {"port": 8001}, "periodSeconds": 1}
    containers = [
        {
            "name": "exec",
            "image": cluster.image,
            "command": [
                "/bin/sh",
                "-c",
                "mkdir -p /tmp; sleep 2; touch /tmp/ready; exec sleep 3600",
            ],
            "readinessProbe": exec_probe,
        },
        {
            "name": "tcp",
            "image": cluster.image,
            "command": ["/bin/sh", "-c", "sleep 2; exec httpd -f -p 8001 -h /"],
            "readinessProbe": tcp_probe,
        },
    ]
    cluster.kube.create(
        resource_path("v1", "pods", NS),
        {"metadata": {"name": "probes"}, "spec": {"containers": containers}},
    )

    def ready() -> Obj | None:
        pod = cluster.pod("probes")
        return pod if condition(pod, "Ready").get("status") == "True" else None

    pod = wait_for("both probes passing", ready, timeout=60)
    messages = [e["message"] for e in cluster.events("probes") if e["reason"] == "Unhealthy"]
    ip = pod["status"]["podIP"]
    assert f"Readiness probe failed: dial tcp {ip}:8001: connect: connection refused" in messages
    assert any(
        m.startswith("Readiness probe failed: cat: can't open '/tmp/ready'") for m in messages
    ), messages
