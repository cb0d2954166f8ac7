"""Seed a running sandbox with the sample service: git repo, images, Argo CD Application.

Used by `pipeline sandbox sample` (the demo) and by the test fixtures, so both start from the
same state: stable and canary Deployments synced from git, their pods running images whose
digests are the registry's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.builder import select_builder
from pipeline.core.build import BuildRequest
from pipeline.core.images import parse_image_ref
from pipeline.errors import SandboxError
from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.sandbox.sample import PULL_SECRET, SampleRepo, create_sample_repo

Obj = dict[str, Any]


@dataclass(frozen=True)
class SeededSample:
    repo: SampleRepo
    digests: dict[str, str]  # "stable"/"canary" -> digest pushed


def build_sample_image(
    repo: SampleRepo,
    image: str,
    docker_host: str | None,
    *,
    revision: str = "sample",
    build_args: dict[str, str] | None = None,
) -> str:
    """Build the sample app from its context and push it under ``image``; return the digest.

    ``revision`` lands in the OCI revision label, so two revisions are two digests."""
    builder = select_builder(docker_host)
    result = builder.build_and_push(
        BuildRequest(
            context=repo.context_dir,
            dockerfile=None,
            image=parse_image_ref(image),
            extra_tags=[],
            labels={
                "org.opencontainers.image.title": "pipeline-sample",
                "org.opencontainers.image.revision": revision,
            },
            build_args=build_args or {},
            platforms=[],
            cache_from=[],
            cache_to=None,
            network="host",
        )
    )
    return result.digest


def pull_secret_manifest(
    namespace: str, name: str, registry: str, username: str, password: str
) -> Obj:
    """A ``kubernetes.io/dockerconfigjson`` Secret holding one registry's credentials."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = json.dumps({"auths": {registry: {"auth": auth}}}).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


def ensure_pull_secret(client: KubeClient, registry: str) -> None:
    """The Secret the sample's ``pullsecret:argocd/dockerhub-credentials`` annotation names,
    as real image-updater setups have it. The open sandbox registry accepts any credentials."""
    namespace, name = PULL_SECRET.removeprefix("pullsecret:").split("/")
    path = resource_path("v1", "secrets", namespace)
    if client.get_or_none(f"{path}/{name}") is None:
        client.create(path, pull_secret_manifest(namespace, name, registry, "sandbox", "unused"))


def apply_application(client: KubeClient, manifest: Obj) -> Obj:
    """Create the Application, or replace the live one with ``manifest``'s spec."""
    meta = manifest["metadata"]
    path = resource_path("argoproj.io/v1alpha1", "applications", meta["namespace"], meta["name"])
    live = client.get_or_none(path)
    if live is None:
        return client.create(path.rsplit("/", 1)[0], manifest)
    body = dict(manifest)
    body["metadata"] = {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}
    return client.replace(path, body)


def pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return ready and bool(statuses) and all(s.get("imageID") for s in statuses)


def wait_for_pods(
    client: KubeClient,
    namespace: str,
    selector: str,
    predicate: Callable[[list[Obj]], bool],
    *,
    timeout: float,
) -> list[Obj]:
    """Watch pods matching ``selector`` until ``predicate(pods)`` holds; fail at the deadline."""
    path = resource_path("v1", "pods", namespace)
    deadline = time.monotonic() + timeout
    pods: dict[str, Obj] = {}
    while time.monotonic() < deadline:
        listing = client.list(path, label_selector=selector)
        pods = {p["metadata"]["name"]: p for p in listing["items"]}
        if predicate(list(pods.values())):
            return list(pods.values())
        rv = listing["metadata"]["resourceVersion"]
        remaining = max(1, int(deadline - time.monotonic()))
        for event in client.watch(path, rv, timeout_seconds=remaining, label_selector=selector):
            if event["type"] == "ERROR":
                break
            pod = event["object"]
            if event["type"] == "DELETED":
                pods.pop(pod["metadata"]["name"], None)
            else:
                pods[pod["metadata"]["name"]] = pod
            if predicate(list(pods.values())):
                return list(pods.values())
    seen = {name: p.get("status", {}).get("containerStatuses") for name, p in pods.items()}
    raise SandboxError(f"pods {namespace}/{selector} not ready after {timeout:.0f}s: {seen}")


def seed_sample(
    client: KubeClient,
    work_dir: Path,
    *,
    registry: str,
    docker_host: str | None,
    shared_name_override: bool = False,
    service: str = "auth",
    timeout: float = 120,
) -> SeededSample:
    repo = create_sample_repo(
        work_dir, registry=registry, service=service, shared_name_override=shared_name_override
    )
    digests = {
        "stable": build_sample_image(repo, repo.stable_image, docker_host, revision="stable"),
        "canary": build_sample_image(repo, repo.canary_image, docker_host, revision="canary"),
    }
    ensure_pull_secret(client, registry)
    apply_application(client, repo.app_manifest)
    wait_for_sample_pods(client, repo, timeout)
    return SeededSample(repo=repo, digests=digests)


def wait_for_sample_pods(client: KubeClient, repo: SampleRepo, timeout: float) -> None:
    """Until the sample's stable and canary pods all run and are ready."""
    for role in ("stable", "canary"):
        wait_for_pods(
            client,
            repo.namespace,
            repo.selectors[role],
            lambda pods: bool(pods) and all(pod_ready(p) for p in pods),
            timeout=timeout,
        )
