"""Map a URL path onto a resource, namespace, name and subresource.

Follows the apiserver's path layout (``k8s.io/apiserver/pkg/endpoints/installer.go``):
``/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]`` and the same under
``/apis/{group}/{version}``. The deprecated ``/watch/`` prefix is accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import Catalog, ResourceType


@dataclass(frozen=True)
class Route:
    rt: ResourceType
    namespace: str | None  # None: all namespaces, or a cluster-scoped kind
    name: str | None
    subresource: str | None
    watch_prefix: bool = False

    @property
    def store_namespace(self) -> str:
        return self.namespace or ""


def split_group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """``["api", "v1", ...]`` or ``["apis", g, v, ...]`` into (group, version, rest)."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_resource_path(catalog: Catalog, group: str, version: str, rest: list[str]) -> Route:
    """Resolve the part after the group-version; 404 (no such resource) when it is unknown."""
    rest = [unquote(p) for p in rest]
    watch_prefix = bool(rest) and rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rt = catalog.find(group, version, rest[2])
        if rt is not None and rt.namespaced:
            return _route(rt, rest[1], rest[3:], watch_prefix)
    if not rest:
        raise st.no_such_resource()
    rt = catalog.find(group, version, rest[0])
    if rt is None:
        raise st.no_such_resource()
    if rt.namespaced:
        if len(rest) > 1:
            raise st.no_such_resource()
        return Route(rt, None, None, None, watch_prefix)
    return _route(rt, None, rest[1:], watch_prefix)


def _route(rt: ResourceType, namespace: str | None, tail: list[str], watch: bool) -> Route:
    if len(tail) > 2:
        raise st.no_such_resource()
    name = tail[0] if tail else None
    sub = tail[1] if len(tail) == 2 else None
    if sub is not None and sub not in rt.subresources:
        raise st.no_such_resource()
    if name == "":
        raise st.no_such_resource()
    return Route(rt, namespace, name, sub, watch)
