"""The self-review APIs: answered for the requesting user, never stored.

- ``authorization.k8s.io/v1 SelfSubjectAccessReview`` (``kubectl auth can-i``):
  ``pkg/registry/authorization/selfsubjectaccessreview/rest.go``. Exactly one of
  ``spec.resourceAttributes`` / ``spec.nonResourceAttributes`` (else 422); the answer is the
  request echoed with ``status: {allowed, reason}`` (the RBAC reason on allow:
  ``RBAC: allowed by RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"``).
- ``authorization.k8s.io/v1 SelfSubjectRulesReview`` (``kubectl auth can-i --list``): the
  rules RBAC grants in ``spec.namespace``; ``system:masters`` gets ``*`` rules.
- ``authentication.k8s.io/v1 SelfSubjectReview`` (``kubectl auth whoami``): ``status.userInfo``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authn import UserInfo
from pipeline.sandbox.apiserver.endpoints import decode_body
from pipeline.sandbox.apiserver.messages import Request, Response
from pipeline.sandbox.apiserver.rbac import Decision, Grant, RBACAuthorizer
from pipeline.sandbox.apiserver.requestinfo import Attributes
from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]
Authorize = Callable[[Attributes], Decision]


def _echo(rt: ResourceType, body: Obj, status: Obj) -> Response:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    out: Obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
    if "spec" in body or rt.kind != "SelfSubjectReview":
        out["spec"] = body.get("spec") or {}
    out["status"] = status
    return Response.json(201, out)


def access_review(rt: ResourceType, body: Obj, user: UserInfo, authorize: Authorize) -> Obj:
    spec = body.get("spec") or {}
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        field = "spec.resourceAttributes"
        why = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        raise st.ApiStatusError(
            422,
            "Invalid",
            f'{rt.kind}.{rt.group} "" is invalid: {field}: Invalid value: "null": {why}',
            {"group": rt.group, "kind": rt.kind, "causes": [
                {"reason": "FieldValueInvalid", "message": f'Invalid value: "null": {why}',
                 "field": field}]},
        )  # fmt: skip
    if resource is not None:
        attrs = Attributes(
            user,
            resource.get("verb", ""),
            True,
            namespace=resource.get("namespace", ""),
            api_group=resource.get("group", ""),
            api_version=resource.get("version", ""),
            resource=resource.get("resource", ""),
            subresource=resource.get("subresource", ""),
            name=resource.get("name", ""),
        )
    else:
        assert non_resource is not None
        attrs = Attributes(user, non_resource.get("verb", ""), False, non_resource.get("path", ""))
    decision = authorize(attrs)
    status: Obj = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def rules_review(body: Obj, user: UserInfo, rbac: RBACAuthorizer) -> Obj:
    namespace = (body.get("spec") or {}).get("namespace", "")
    if user.is_superuser:
        return {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    resource_rules: list[Obj] = []
    non_resource_rules: list[Obj] = []
    errors: list[str] = []
    for item in rbac.visit(user, namespace):
        if not isinstance(item, Grant):
            errors.append(str(item))
            continue
        rule = item.rule
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
        if rule.get("resources"):
            entry = {k: rule.get(k) or [] for k in ("verbs", "apiGroups", "resources")}
            if rule.get("resourceNames"):
                entry["resourceNames"] = rule["resourceNames"]
            resource_rules.append(entry)
    status: Obj = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": bool(errors),
    }
    if errors:
        status["evaluationError"] = "; ".join(errors)
    return status


def user_review(user: UserInfo) -> Obj:
    info: Obj = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return {"userInfo": info}


def handle_review(
    req: Request, rt: ResourceType, user: UserInfo, authorize: Authorize, rbac: RBACAuthorizer
) -> Response:
    if req.method != "POST":
        raise st.method_not_allowed()
    body = decode_body(req, rt.kind)
    if rt.kind == "SelfSubjectAccessReview":
        return _echo(rt, body, access_review(rt, body, user, authorize))
    if rt.kind == "SelfSubjectRulesReview":
        return _echo(rt, body, rules_review(body, user, rbac))
    return _echo(rt, body, user_review(user))
