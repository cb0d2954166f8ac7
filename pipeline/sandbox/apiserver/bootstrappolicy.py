"""Bootstrap ClusterRoles and ClusterRoleBindings, as the apiserver's RBAC post-start hook
creates them (``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go``).

- ``cluster-admin`` (everything) bound to group ``system:masters``;
- ``system:discovery``, ``system:basic-user`` and ``system:public-info-viewer`` bound to
  ``system:authenticated``: discovery, ``/version``, ``/openapi/*``, health and the
  self-reviews (``kubectl auth can-i``, ``kubectl auth whoami``) work for every token;
- the user-facing ``admin``, ``edit`` and ``view``, cut down to the kinds the sandbox serves
  (upstream they are aggregated from many ``system:aggregate-to-*`` roles; aggregation is not
  implemented). ``view`` cannot read Secrets; ``edit`` adds writes and ``serviceaccounts/token``;
  ``admin`` adds Roles and RoleBindings.

They carry the upstream label ``kubernetes.io/bootstrapping: rbac-defaults`` and the
``rbac.authorization.kubernetes.io/autoupdate: "true"`` annotation, and are created at start
when missing (deleted ones come back on the next start, as the reconciler does).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_META = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}
_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _rule(verbs: list[str], group: str, *resources: str) -> Obj:
    return {"verbs": verbs, "apiGroups": [group], "resources": list(resources)}


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


_VIEW = [
    _rule(READ, "", "configmaps", "endpoints", "events", "limitranges", "namespaces",
          "namespaces/status", "persistentvolumeclaims", "persistentvolumeclaims/status",
          "pods", "pods/log", "pods/status", "replicationcontrollers",
          "replicationcontrollers/scale", "replicationcontrollers/status", "resourcequotas",
          "resourcequotas/status", "serviceaccounts", "services", "services/status"),
    _rule(READ, "apps", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
          "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
          "statefulsets", "statefulsets/scale", "statefulsets/status"),
    _rule(READ, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
    _rule(READ, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
    _rule(READ, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
    _rule(READ, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
]  # fmt: skip
# no writes on endpoints: removed from edit/admin upstream in 1.22 (CVE-2021-25740)
_EDIT = [
    _rule([*READ, *WRITE], "", "configmaps", "persistentvolumeclaims", "pods",
          "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts",
          "services"),
    _rule(["create"], "", "serviceaccounts/token"),
    _rule(["impersonate"], "", "serviceaccounts"),
    _rule([*READ, *WRITE], "apps", "daemonsets", "deployments", "deployments/scale",
          "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
    _rule([*READ, *WRITE], "autoscaling", "horizontalpodautoscalers"),
    _rule([*READ, *WRITE], "batch", "cronjobs", "jobs"),
    _rule([*READ, *WRITE], "policy", "poddisruptionbudgets"),
    _rule([*READ, *WRITE], "networking.k8s.io", "ingresses", "networkpolicies"),
    *_VIEW,
]  # fmt: skip
_ADMIN = [
    _rule([*READ, *WRITE], "rbac.authorization.k8s.io", "roles", "rolebindings"),
    _rule(["create"], "authorization.k8s.io", "localsubjectaccessreviews"),
    *_EDIT,
]

CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [_rule(["*"], "*", "*"), _urls(["*"], ["*"])],
    "admin": _ADMIN,
    "edit": _EDIT,
    "view": _VIEW,
    "system:discovery": [_urls(["get"], _DISCOVERY_URLS)],
    "system:public-info-viewer": [_urls(["get"], _PUBLIC_URLS)],
    "system:basic-user": [
        _rule(["create"], "authorization.k8s.io", "selfsubjectaccessreviews"),
        _rule(["create"], "authorization.k8s.io", "selfsubjectrulesreviews"),
        _rule(["create"], "authentication.k8s.io", "selfsubjectreviews"),
    ],
}
CLUSTER_ROLE_BINDINGS: dict[str, list[str]] = {  # binding name = role name: bound groups
    "cluster-admin": ["system:masters"],
    "system:discovery": ["system:authenticated"],
    "system:basic-user": ["system:authenticated"],
    "system:public-info-viewer": ["system:authenticated", "system:unauthenticated"],
}


def cluster_roles() -> list[Obj]:
    return [
        {"metadata": {"name": name, **_META}, "rules": rules}
        for name, rules in CLUSTER_ROLES.items()
    ]


def cluster_role_bindings() -> list[Obj]:
    group = "rbac.authorization.k8s.io"
    return [
        {
            "metadata": {"name": name, **_META},
            "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": group, "kind": "Group", "name": g} for g in groups],
        }
        for name, groups in CLUSTER_ROLE_BINDINGS.items()
    ]
