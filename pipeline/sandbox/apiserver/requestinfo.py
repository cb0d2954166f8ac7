"""What a request asks to do, in the authorizer's terms (``authorizer.Attributes``).

Follows ``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`` NewRequestInfo:

- Paths outside ``/api/<v>/...`` and ``/apis/<g>/<v>/...`` (and those two prefixes with fewer
  than three segments, e.g. ``/api/v1``) are non-resource requests; the verb is the lower-case
  HTTP method and the rules that apply are ``nonResourceURLs``.
- Verbs: POST create, GET/HEAD get, PUT update, PATCH patch, DELETE delete; a GET without a
  name is ``list``, or ``watch`` with ``watch=true`` (or the ``/watch/`` prefix); a DELETE
  without a name is ``deletecollection``.
- ``/namespaces/{ns}/...`` sets the namespace; ``/api/v1/namespaces/{ns}`` itself is resource
  ``namespaces``, name ``{ns}``, *in* namespace ``{ns}`` (so a RoleBinding there can grant it).
- A list/watch whose ``fieldSelector`` requires ``metadata.name=<n>`` carries name ``<n>``, so
  ``resourceNames`` rules can allow it.

One deviation: the sandbox serves ``GET .../{plural}/{name}?watch=true`` as a watch of that
object (the real server answers a plain get), so it is authorized as ``watch`` with the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authn import UserInfo
from pipeline.sandbox.apiserver.messages import Request

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    """``authorizer.AttributesRecord``: the user plus what the request does."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def _watch_requested(req: Request) -> bool:
    """The ``watch`` parameter as the handler reads it; unparsable counts as a watch (the
    fall-back in NewRequestInfo) unless it spells false."""
    try:
        return req.flag("watch")
    except st.ApiStatusError:
        return req.query.get("watch", "").lower() not in ("false", "0")


def _name_from_field_selector(selector: str) -> str:
    """``fields.Selector.RequiresExactMatch("metadata.name")`` for ``a=b,c==d`` selectors."""
    for term in selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and not key.endswith("!") and key.strip() == "metadata.name":
                value = value.strip()
                if value and "/" not in value and "%" not in value and value not in (".", ".."):
                    return value
                return ""
    return ""


def request_attributes(req: Request, user: UserInfo) -> Attributes:
    parts = [unquote(p) for p in req.path.strip("/").split("/")]
    non_resource = Attributes(user, req.method.lower(), False, path=req.path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            return non_resource
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(req.method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if _watch_requested(req) else "list"
        name = _name_from_field_selector(req.query.get("fieldSelector", ""))
    elif name and verb == "get" and req.query.get("watch") is not None and _watch_requested(req):
        verb = "watch"  # the sandbox serves this as a watch (see the module docstring)
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        user, verb, True, req.path, namespace, group, version, resource, subresource, name
    )
