"""The resource table: every kind the sandbox API server serves, one row each.

Discovery (``/api/v1``, ``/apis/<g>/<v>``), OpenAPI v3, routing, field selectors and strict
field validation are all derived from this table, so adding a kind is one row.
Short names and subresources follow the real servers: ``kubectl api-resources`` on a 1.3x
cluster and Argo CD's ``manifests/crds/*-crd.yaml`` (Application: ``subresources: {}``;
ApplicationSet: ``subresources: {status: {}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class ResourceType:
    """One served resource (a row of ``kubectl api-resources``)."""

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
    ResourceType("apps", "v1", "Deployment", "deployments", ("deploy",),
                 subresources=("status", "scale"), generation=True, categories=("all",)),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", ("rs",),
                 subresources=("status", "scale"), generation=True, categories=("all",)),
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
