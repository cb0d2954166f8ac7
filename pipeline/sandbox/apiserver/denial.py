"""The 403 ``Status`` of a denied request, as ``responsewriters.Forbidden`` writes it.

``k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go`` forbiddenMessage plus
``apierrors.NewForbidden(GroupResource, name, err)``::

    applications.argoproj.io "x" is forbidden: User "system:serviceaccount:ci:deployer"
    cannot patch resource "applications" in API group "argoproj.io" in the namespace "argocd"

``details: {name, group, kind: <resource>}`` (empty fields omitted); ``at the cluster scope``
for cluster-scoped requests; ``resource "pods/log"`` for subresources (the qualified resource
before "is forbidden" stays ``pods``); ``forbidden: User "u" cannot get path "/x"`` for
non-resource URLs. A non-empty authorizer reason is appended after ``": "``.
"""

from __future__ import annotations

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.requestinfo import Attributes

_SANITIZE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden_message(attrs: Attributes) -> str:
    """``responsewriters.forbiddenMessage``."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    head = (
        f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}"'
    )
    if attrs.namespace:
        return f'{head} in the namespace "{attrs.namespace}"'
    return f"{head} at the cluster scope"


def forbidden(attrs: Attributes, reason: str = "") -> st.ApiStatusError:
    """The 403 ``Status`` for a denied request."""
    why = forbidden_message(attrs).translate(_SANITIZE)
    if reason:
        why = f"{why}: {reason}"
    if not attrs.resource_request or not attrs.resource:
        return st.ApiStatusError(403, "Forbidden", f"forbidden: {why}", {})
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    details: dict[str, str] = {}
    if attrs.name:
        details["name"] = attrs.name
        message = f'{qualified} "{attrs.name}" is forbidden: {why}'
    else:
        message = f"{qualified} is forbidden: {why}"
    if attrs.api_group:
        details["group"] = attrs.api_group
    details["kind"] = attrs.resource
    return st.ApiStatusError(403, "Forbidden", message, details)
