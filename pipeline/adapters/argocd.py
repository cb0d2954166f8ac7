"""Argo CD Applications and ApplicationSets through the Kubernetes API (``CustomObjectsApi``).

Implements the ``Applications`` port of pipeline/deploy/ports.py. Writes are JSON merge patches
(``application/merge-patch+json``): the Application CRD has no status subresource, so one
patch can set ``.operation`` and clear ``status.operationState`` together (reference A.1, A.3).
"""

from __future__ import annotations

from kubernetes import client

from pipeline.adapters.kube import RequestStats, WatchLines, call_json
from pipeline.deploy.ports import Obj

GROUP, VERSION = "argoproj.io", "v1alpha1"
MERGE_PATCH = "application/merge-patch+json"


class ArgoApplications:
    def __init__(self, api: client.ApiClient, stats: RequestStats | None = None) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.stats = stats or RequestStats()

    def get_application(self, namespace: str, name: str) -> Obj:
        self.stats.count("get")
        return call_json(
            f"get Application {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP, VERSION, namespace, "applications", name,
        )  # fmt: skip

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        self.stats.count("patch")
        return call_json(
            f"patch Application {namespace}/{name}",
            self.custom.patch_namespaced_custom_object,
            GROUP, VERSION, namespace, "applications", name, body,
            _content_type=MERGE_PATCH,
        )  # fmt: skip

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        self.stats.count("get")
        return call_json(
            f"get ApplicationSet {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP, VERSION, namespace, "applicationsets", name,
        )  # fmt: skip

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> WatchLines:
        self.stats.count("watch")
        return WatchLines(
            f"watch Application {namespace}/{name}",
            lambda **kw: self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "applications",
                field_selector=f"metadata.name={name}",
                resource_version=resource_version or None,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, int(timeout)),
                watch=True,
                **kw,
            ),
        )  # fmt: skip
