"""The RBAC authorizer, evaluated like ``plugin/pkg/auth/authorizer/rbac/rbac.go``.

Rule matching is ``RuleAllows`` (``pkg/apis/rbac/v1/evaluation_helpers.go``): verbs, apiGroups,
resources (``pods/log``, ``*``, ``*/status``), resourceNames (a rule with names never matches a
request without one: list, watch, create, deletecollection) and nonResourceURLs (exact, ``*``,
or a ``prefix*``). Rules come from ``pkg/registry/rbac/validation/rule.go`` VisitRulesFor:
every ClusterRoleBinding whose subjects include the user, then (for namespaced requests) every
RoleBinding in the request's namespace; a RoleBinding to a ClusterRole grants its rules only in
that namespace. A binding whose role does not exist contributes an error that becomes the
denial reason (``RBAC: role.rbac.authorization.k8s.io "x" not found``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.sandbox.apiserver.authn import UserInfo
from pipeline.sandbox.apiserver.requestinfo import Attributes
from pipeline.sandbox.apiserver.resources import RBAC, served
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tokens import service_account_username

Obj = dict[str, Any]
CLUSTER_ROLES = served(RBAC, "v1", "clusterroles")
CLUSTER_ROLE_BINDINGS = served(RBAC, "v1", "clusterrolebindings")
ROLES = served(RBAC, "v1", "roles")
ROLE_BINDINGS = served(RBAC, "v1", "rolebindings")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class Grant:
    """One rule reached through one binding (the visitor's ``source`` and ``rule``)."""

    rule: Obj
    source: str


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def rule_allows(attrs: Attributes, rule: Obj) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule.get("nonResourceURLs") or [], attrs.path)
    if not _has(rule.get("apiGroups"), attrs.api_group):
        return False
    combined = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if not _resource_matches(rule.get("resources") or [], combined, attrs.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _resource_matches(resources: list[str], combined: str, subresource: str) -> bool:
    for resource in resources:
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def _url_matches(urls: list[str], path: str) -> bool:
    for url in urls:
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def _subject_applies(user: UserInfo, subject: Obj, namespace: str) -> bool:
    """``appliesToUser``: a ServiceAccount subject without a namespace means the binding's."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == service_account_username(sa_namespace, name)
    return False


def _describe(subject: Obj, binding_namespace: str) -> str:
    """``describeSubject``: ``ServiceAccount "name/ns"``, ``User "name"``, ``Group "name"``."""
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f'ServiceAccount "{subject.get("name", "")}/{namespace}"'
    return f'{subject.get("kind")} "{subject.get("name", "")}"'


class RBACAuthorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _role_rules(self, role_ref: Obj, namespace: str) -> list[Obj]:
        """``GetRoleReferenceRules``; raises LookupError with the lister's NotFound text."""
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "Role":
            role = self.store.find(ROLES, namespace, name)
            missing = f'role.{RBAC} "{name}" not found'
        elif kind == "ClusterRole":
            role = self.store.find(CLUSTER_ROLES, "", name)
            missing = f'clusterrole.{RBAC} "{name}" not found'
        else:
            raise LookupError(f'unsupported role reference kind: "{kind}"')
        if role is None:
            raise LookupError(missing)
        return [r for r in role.get("rules") or [] if isinstance(r, dict)]

    def visit(self, user: UserInfo, namespace: str) -> Iterator[Grant | LookupError]:
        """Every rule granted to ``user`` for ``namespace`` ("" = cluster scope), in the
        order of VisitRulesFor, with resolution errors in between."""
        bindings, _ = self.store.list_objects(CLUSTER_ROLE_BINDINGS, None, lambda _: True)
        scoped = [(b, "") for b in bindings]
        if namespace:
            role_bindings, _ = self.store.list_objects(ROLE_BINDINGS, namespace, lambda _: True)
            scoped += [(b, namespace) for b in role_bindings]
        for binding, binding_ns in scoped:
            subject = next(
                (
                    s
                    for s in binding.get("subjects") or []
                    if isinstance(s, dict) and _subject_applies(user, s, binding_ns)
                ),
                None,
            )
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            try:
                rules = self._role_rules(ref, binding_ns)
            except LookupError as e:
                yield e
                continue
            name = binding["metadata"]["name"]
            label = (
                f'RoleBinding "{name}/{binding_ns}"'
                if binding_ns
                else f'ClusterRoleBinding "{name}"'
            )
            role = f'{ref.get("kind")} "{ref.get("name")}"'
            source = f"{label} of {role} to {_describe(subject, binding_ns)}"
            for rule in rules:
                yield Grant(rule, source)

    def authorize(self, attrs: Attributes) -> Decision:
        errors: list[str] = []
        for item in self.visit(attrs.user, attrs.namespace):
            if isinstance(item, LookupError):
                errors.append(str(item))
            elif rule_allows(attrs, item.rule):
                return Decision(True, f"RBAC: allowed by {item.source}")
        return Decision(False, f"RBAC: {aggregate(errors)}" if errors else "")


def aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several deduplicated in
    brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
