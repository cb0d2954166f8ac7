"""User impersonation (``kubectl --as``, ``--as-group``), like
``k8s.io/apiserver/pkg/endpoints/filters/impersonation.go``.

Headers ``Impersonate-User``, ``Impersonate-Group`` (repeatable), ``Impersonate-Uid`` and
``Impersonate-Extra-<key>``. The requester needs verb ``impersonate`` on ``users`` (or on
``serviceaccounts`` in the account's namespace for ``system:serviceaccount:<ns>:<name>``),
``groups``, ``uids`` and ``userextras/<key>`` (the last two in ``authentication.k8s.io``);
otherwise 403. A ServiceAccount impersonated without groups gets its fixed groups; every
impersonated user except ``system:anonymous`` gets ``system:authenticated``.

Repeated headers arrive joined with ``,`` (RFC 9110 field combining), so a group name
containing a comma cannot be impersonated here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authn import AUTHENTICATED, UserInfo
from pipeline.sandbox.apiserver.denial import forbidden
from pipeline.sandbox.apiserver.rbac import Decision
from pipeline.sandbox.apiserver.requestinfo import Attributes
from pipeline.sandbox.apiserver.tokens import service_account_groups

_SA_PREFIX = "system:serviceaccount:"
_EXTRA = "impersonate-extra-"


def _targets(headers: Mapping[str, str], user: UserInfo) -> list[Attributes]:
    """The ``impersonate`` checks the requester must pass, one per requested identity part."""

    def check(resource: str, name: str, **more: str) -> Attributes:
        return Attributes(user, "impersonate", True, resource=resource, name=name, **more)

    auth_group = "authentication.k8s.io"
    name = headers["impersonate-user"]
    ns_name = name[len(_SA_PREFIX) :].split(":") if name.startswith(_SA_PREFIX) else []
    if len(ns_name) == 2:
        checks = [check("serviceaccounts", ns_name[1], namespace=ns_name[0])]
    else:
        checks = [check("users", name)]
    checks += [check("groups", group) for group in _list(headers.get("impersonate-group"))]
    if headers.get("impersonate-uid"):
        checks.append(check("uids", headers["impersonate-uid"], api_group=auth_group))
    for key, values in _extras(headers).items():
        checks += [check("userextras", v, api_group=auth_group, subresource=key) for v in values]
    return checks


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _extras(headers: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    return {
        key[len(_EXTRA) :]: tuple(_list(value))
        for key, value in headers.items()
        if key.startswith(_EXTRA)
    }


def impersonate(
    headers: Mapping[str, str], user: UserInfo, authorize: Callable[[Attributes], Decision]
) -> UserInfo:
    """The identity the request acts as (``user`` itself without impersonation headers)."""
    if "impersonate-user" not in headers:
        if any(k.startswith("impersonate-") for k in headers):
            raise st.internal(
                "requested impersonation of groups, uid or extra without impersonating a user"
            )
        return user
    for check in _targets(headers, user):
        decision = authorize(check)
        if not decision.allowed:
            raise forbidden(check, decision.reason)
    name = headers["impersonate-user"]
    groups = _list(headers.get("impersonate-group"))
    ns_name = name[len(_SA_PREFIX) :].split(":") if name.startswith(_SA_PREFIX) else []
    if len(ns_name) == 2 and not groups:
        groups = list(service_account_groups(ns_name[0]))
    if name != "system:anonymous" and not {AUTHENTICATED, "system:unauthenticated"} & set(groups):
        groups.append(AUTHENTICATED)
    return UserInfo(name, tuple(groups), headers.get("impersonate-uid", ""), _extras(headers))
