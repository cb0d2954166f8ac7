"""The resource table: every kind the sandbox API server serves, one row each.

Discovery (``/api/v1``, ``/apis/<g>/<v>``), OpenAPI v3, routing, field selectors and strict
field validation are all derived from this table, so adding a kind is one row.
Short names and subresources follow the real servers: ``kubectl api-resources`` on a 1.3x
cluster and Argo CD's ``manifests/crds/*-crd.yaml`` (Application: ``subresources: {}``;
ApplicationSet: ``subresources: {status: {}}``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

RBAC = "rbac.authorization.k8s.io"
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

_META_FIELDS = ("metadata.name", "metadata.namespace")
# pkg/registry/core/pod/strategy.go PodToSelectableFields
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
)
# pkg/registry/core/event/strategy.go ToSelectableFields
_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_EVENT_FIELDS = (
    *(f"involvedObject.{f}" for f in _INVOLVED),
    "reason",
    "reportingComponent",
    "source",
    "type",
)


@dataclass(frozen=True, eq=False)
class ResourceType:
    """One served resource (a row of ``kubectl api-resources``).

    Identity is (group, plural): every served version of a CRD addresses the same stored
    objects (as they share one etcd prefix upstream), and a CRD update that changes short
    names, columns or the schema still does."""

    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    builtin: bool = True
    generation: bool = False
    # top-level fields besides apiVersion/kind/metadata (for strict decoding and pruning)
    fields: tuple[str, ...] = ("spec", "status")
    extra_field_labels: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default=())
    # False for create-only "review" kinds that are answered, never stored
    # (SelfSubjectAccessReview, SelfSubjectReview, SelfSubjectRulesReview)
    stored: bool = True
    # custom resources: the structural schema (openAPIV3Schema) used for pruning, and the
    # CRD's additionalPrinterColumns; None/() for built-ins
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    # custom resources: the CRD's storage version (objects are stored in it)
    storage_version: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceType):
            return NotImplemented
        return (self.group, self.plural) == (other.group, other.plural)

    def __hash__(self) -> int:
        return hash((self.group, self.plural))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def stored_api_version(self) -> str:
        """The apiVersion objects of this resource are stored with."""
        if not self.storage_version:
            return self.api_version
        return f"{self.group}/{self.storage_version}" if self.group else self.storage_version

    def view(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as this version serves it: conversion strategy ``None`` only rewrites
        ``apiVersion`` (``apiextensions-apiserver/pkg/apiserver/conversion/nop_converter.go``)."""
        if obj.get("apiVersion") in (None, self.api_version):
            return obj
        return {**obj, "apiVersion": self.api_version}

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` or ``applications.argoproj.io``: the name used in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status_subresource(self) -> bool:
        return "status" in self.subresources

    @property
    def field_labels(self) -> tuple[str, ...]:
        return _META_FIELDS + self.extra_field_labels

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", ("ns",), namespaced=False,
                 subresources=("status",), verbs=ALL_VERBS[:2] + ALL_VERBS[3:]),
    ResourceType("", "v1", "Pod", "pods", ("po",), subresources=("status", "log"),
                 generation=True, extra_field_labels=_POD_FIELDS, categories=("all",)),
    # Node: cluster-scoped, status subresource (kubectl api-resources: nodes, no)
    ResourceType("", "v1", "Node", "nodes", ("no",), namespaced=False, subresources=("status",),
                 extra_field_labels=("spec.unschedulable",)),
    ResourceType("", "v1", "Event", "events", ("ev",), extra_field_labels=_EVENT_FIELDS,
                 fields=("involvedObject", "reason", "message", "source", "firstTimestamp",
                         "lastTimestamp", "count", "type", "eventTime", "series", "action",
                         "related", "reportingComponent", "reportingInstance")),
    ResourceType("", "v1", "Secret", "secrets",
                 fields=("data", "stringData", "type", "immutable"),
                 extra_field_labels=("type",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", ("cm",),
                 fields=("data", "binaryData", "immutable")),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", ("sa",), subresources=("token",),
                 fields=("secrets", "imagePullSecrets", "automountServiceAccountToken")),
    ResourceType("", "v1", "Service", "services", ("svc",), subresources=("status",),
                 categories=("all",)),
    ResourceType("", "v1", "Endpoints", "endpoints", ("ep",), fields=("subsets",)),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", ("pvc",),
                 subresources=("status",)),
    ResourceType("", "v1", "LimitRange", "limitranges", ("limits",), fields=("spec",)),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", ("quota",),
                 subresources=("status",)),
    # ReplicationController: stored, no controller (no pods), no scale subresource here
    ResourceType("", "v1", "ReplicationController", "replicationcontrollers", ("rc",),
                 subresources=("status",), generation=True, categories=("all",)),
    ResourceType("apps", "v1", "Deployment", "deployments", ("deploy",),
                 subresources=("status", "scale"), generation=True, categories=("all",)),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", ("rs",),
                 subresources=("status", "scale"), generation=True, categories=("all",)),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", ("sts",),
                 subresources=("status", "scale"), generation=True, categories=("all",)),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", ("ds",), subresources=("status",),
                 generation=True, categories=("all",)),
    ResourceType("batch", "v1", "Job", "jobs", subresources=("status",), generation=True,
                 categories=("all",)),
    ResourceType("batch", "v1", "CronJob", "cronjobs", ("cj",), subresources=("status",),
                 generation=True, categories=("all",)),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 ("hpa",), subresources=("status",), generation=True, categories=("all",)),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", ("pdb",),
                 subresources=("status",), generation=True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", ("ing",),
                 subresources=("status",), generation=True),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", ("netpol",),
                 generation=True, fields=("spec",)),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                 "customresourcedefinitions", ("crd", "crds"), namespaced=False,
                 subresources=("status",), generation=True),
    ResourceType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
                 namespaced=False, verbs=("create",), fields=("status",), stored=False),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
                 "selfsubjectaccessreviews", namespaced=False, verbs=("create",), stored=False),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectRulesReview",
                 "selfsubjectrulesreviews", namespaced=False, verbs=("create",), stored=False),
    ResourceType(RBAC, "v1", "ClusterRole", "clusterroles", namespaced=False,
                 fields=("rules", "aggregationRule")),
    ResourceType(RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False,
                 fields=("subjects", "roleRef")),
    ResourceType(RBAC, "v1", "Role", "roles", fields=("rules",)),
    ResourceType(RBAC, "v1", "RoleBinding", "rolebindings", fields=("subjects", "roleRef")),
    ResourceType("argoproj.io", "v1alpha1", "Application", "applications", ("app", "apps"),
                 builtin=False, generation=True, fields=("spec", "status", "operation"),
                 categories=("argoproj",)),
    ResourceType("argoproj.io", "v1alpha1", "ApplicationSet", "applicationsets",
                 ("appset", "appsets"), subresources=("status",), builtin=False,
                 generation=True, categories=("argoproj",)),
    ResourceType("argoproj.io", "v1alpha1", "AppProject", "appprojects", ("appproj", "appprojs"),
                 builtin=False, generation=True, categories=("argoproj",)),
)  # fmt: skip


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first, in table order."""
    seen: list[tuple[str, str]] = []
    for rt in RESOURCES:
        if (rt.group, rt.version) not in seen:
            seen.append((rt.group, rt.version))
    return seen


def by_plural(group: str, plural: str) -> ResourceType | None:
    """The served resource ``plural`` in ``group`` (any version)."""
    return next((rt for rt in RESOURCES if rt.group == group and rt.plural == plural), None)


def find(group: str, version: str, plural: str) -> ResourceType | None:
    for rt in RESOURCES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def served(group: str, version: str, plural: str) -> ResourceType:
    """A resource the table is known to have (for module-level constants)."""
    rt = find(group, version, plural)
    if rt is None:
        raise LookupError(f"{plural}.{group}/{version} is not in the resource table")
    return rt


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    for rt in RESOURCES:
        if rt.api_version == api_version and rt.kind == kind:
            return rt
    return None


# kube-apiserver's group priority (``pkg/controlplane/apiserver`` legacy order)
_GROUP_ORDER = (
    "", "apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
)  # fmt: skip


class Catalog:
    """The kinds one API server serves: the built-in table plus those its
    CustomResourceDefinitions add while they exist (``apiextensions-apiserver``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._custom: dict[tuple[str, str, str], ResourceType] = {}

    def all(self) -> tuple[ResourceType, ...]:
        with self._lock:
            return RESOURCES + tuple(self._custom.values())

    def custom(self) -> tuple[ResourceType, ...]:
        with self._lock:
            return tuple(self._custom.values())

    def serve(self, group: str, plural: str, versions: list[ResourceType]) -> None:
        """Serve exactly ``versions`` of ``plural.group`` (replacing what was served)."""
        with self._lock:
            for key in [k for k in self._custom if (k[0], k[2]) == (group, plural)]:
                del self._custom[key]
            for rt in versions:
                self._custom[rt.key] = rt

    def withdraw(self, group: str, plural: str) -> list[ResourceType]:
        with self._lock:
            gone = [k for k in self._custom if (k[0], k[2]) == (group, plural)]
            return [self._custom.pop(k) for k in gone]

    def group_versions(self) -> list[tuple[str, str]]:
        """Core first, built-in groups in kube-apiserver's discovery order, then the rest
        (Argo CD's and CRDs' groups) in the order they were added."""
        seen: list[tuple[str, str]] = []
        for rt in self.all():
            if (rt.group, rt.version) not in seen:
                seen.append((rt.group, rt.version))
        order = {group: n for n, group in enumerate(_GROUP_ORDER)}
        return sorted(seen, key=lambda gv: order.get(gv[0], len(order)))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            custom = self._custom.get((group, version, plural))
        return custom or find(group, version, plural)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return next(
            (rt for rt in self.all() if rt.api_version == api_version and rt.kind == kind), None
        )

    def by_group_kind(self, group: str, kind: str) -> ResourceType | None:
        """Any served version of ``kind`` in ``group`` (objects are shared by all)."""
        return next((rt for rt in self.all() if rt.group == group and rt.kind == kind), None)
