"""Argo CD Applications and ApplicationSets through the Kubernetes API, by path.

Implements the ``Applications`` port of pipeline/core/ports.py. Writes are JSON merge patches
(``application/merge-patch+json``): the Application CRD has no status subresource, so one
patch can set ``.operation`` and clear ``status.operationState`` together (reference A.1, A.3).
Requests go through adapters/kube.py ``api_request`` (no generated API classes to import).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kubernetes import client

from pipeline.adapters.kube import (
    RequestStats,
    WatchLines,
    api_request,
    namespaced,
    request_json,
    watch_query,
)
from pipeline.adapters.kubefail import Deadline
from pipeline.core.ports import Obj

GROUP, VERSION = "argoproj.io", "v1alpha1"
PREFIX = f"/apis/{GROUP}/{VERSION}"
MERGE_PATCH = "application/merge-patch+json"


def sync_patch(resource_version: str, operation: Obj) -> Obj:
    """One merge patch sets ``.operation`` and clears ``status.operationState``."""
    return {"metadata": {"resourceVersion": resource_version}, "operation": operation,
            "status": {"operationState": None}}  # fmt: skip


def terminate_patch(resource_version: str) -> Obj:
    """``status.operationState.phase: Terminating``, as ``argocd app terminate-op`` does."""
    return {"metadata": {"resourceVersion": resource_version},
            "status": {"operationState": {"phase": "Terminating"}}}  # fmt: skip


class ArgoApplications:
    backend = "kubernetes"

    def __init__(
        self, api: client.ApiClient, stats: RequestStats | None = None,
        deadline: Deadline | None = None,
    ) -> None:  # fmt: skip
        self.api = api
        self.stats = stats or RequestStats()
        self.deadline = deadline or Deadline()
        self.deadline.server = self.deadline.server or str(api.configuration.host)

    @cached_property
    def custom(self) -> Any:
        """The typed CustomObjectsApi, for callers outside the deploy path."""
        return client.CustomObjectsApi(self.api)

    def get_application(self, namespace: str, name: str) -> Obj:
        self.stats.count("get")
        path = namespaced(PREFIX, namespace, "applications", name)
        return request_json(
            f"get Application {namespace}/{name}", self.api, "GET", path, self.deadline
        )

    def list_applications(self, namespace: str, selector: str = "") -> list[Obj]:
        """Applications in ``namespace`` matching the label ``selector``."""
        self.stats.count("list")
        body = request_json(
            f"list Applications in {namespace}", self.api, "GET",
            namespaced(PREFIX, namespace, "applications"),
            query={"labelSelector": selector or None}, deadline=self.deadline,
        )  # fmt: skip
        return list(body.get("items") or [])

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        self.stats.count("patch")
        return request_json(
            f"patch Application {namespace}/{name}", self.api, "PATCH",
            namespaced(PREFIX, namespace, "applications", name),
            body=body, content_type=MERGE_PATCH, deadline=self.deadline,
        )  # fmt: skip

    def start_sync(self, namespace: str, name: str, resource_version: str, operation: Obj) -> Obj:
        return self.patch_application(namespace, name, sync_patch(resource_version, operation))

    def terminate_operation(self, namespace: str, name: str, resource_version: str) -> None:
        self.patch_application(namespace, name, terminate_patch(resource_version))

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        self.stats.count("get")
        path = namespaced(PREFIX, namespace, "applicationsets", name)
        return request_json(
            f"get ApplicationSet {namespace}/{name}", self.api, "GET", path, self.deadline
        )

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> WatchLines:
        self.stats.count("watch")
        path = namespaced(PREFIX, namespace, "applications")
        query = {
            **watch_query("", resource_version, timeout),
            "fieldSelector": f"metadata.name={name}",
        }
        what, limit = f"watch Application {namespace}/{name}", self.deadline
        return WatchLines(
            what,
            lambda: api_request(
                self.api, "GET", path, query=query, timeout=limit.timeouts(what, timeout + 10)
            ),
            limit,
        )
