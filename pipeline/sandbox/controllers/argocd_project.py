"""AppProject restrictions as the application-controller enforces them (pure functions).

Sources (argo-cd): ``util/argo/argo.go`` ValidatePermissions, validateSourcePermissions,
GetDestinationServer/GetDestinationCluster; ``pkg/apis/application/v1alpha1/app_project_types.go``
IsSourcePermitted, IsDestinationPermitted/isDestinationMatched, IsGroupKindNamePermitted,
globMatch; ``types.go`` isResourceInList/isNamedResourceInList (``filepath.Match``);
``util/git/git.go`` NormalizeGitURL; ``util/glob`` (gobwas/glob syntax); ``util/db/cluster.go``
(the one cluster the sandbox has: ``in-cluster`` at ``https://kubernetes.default.svc``);
``controller/sync.go`` validateSyncPermissions (the per-resource check of a sync).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

Obj = dict[str, Any]

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


_TOKEN = re.compile(r"\\(.)|(\*\*)|(\*)|(\?)|\[(!|\^)?([^\]]+)\]|\{([^}]*)\}|(.)", re.DOTALL)


def _translate(pattern: str, separators: str, braces: bool) -> str:
    """A glob as a regex, token by token (escape, ``**``, ``*``, ``?``, class, braces, char)."""
    one = f"[^{re.escape(separators)}]" if separators else "."
    parts: list[str] = []
    for token in _TOKEN.finditer(pattern):
        escaped, double, star, mark, negate, members, options, char = token.groups()
        if double is not None:
            parts.append(".*" if braces else f"{one}*")
        elif star is not None:
            parts.append(f"{one}*")
        elif mark is not None:
            parts.append(one)
        elif members is not None:
            members = "".join("\\" + m if m in "\\^[]" else m for m in members)
            parts.append(f"[{'^' if negate else ''}{members}]")
        elif options is not None and braces:
            alternatives = (_translate(o, separators, braces) for o in options.split(","))
            parts.append("(?:" + "|".join(alternatives) + ")")
        else:
            literal = escaped if escaped is not None else char
            parts.append(re.escape(literal if literal is not None else token.group(0)))
    return "".join(parts)


@lru_cache(maxsize=1024)
def _compiled(pattern: str, separators: str, braces: bool) -> re.Pattern[str]:
    return re.compile(_translate(pattern, separators, braces), re.DOTALL)


def glob_match(pattern: str, value: str, separators: str = "") -> bool:
    """``util/glob.Match`` (gobwas/glob): ``*`` stops at a separator, ``**`` does not,
    ``?``, ``[a-z]``, ``[!a]``, ``{a,b}``, ``\\`` escapes."""
    return _compiled(pattern, separators, True).fullmatch(value) is not None


def path_match(pattern: str, value: str) -> bool:
    """Go ``filepath.Match`` (the resource white/blacklists): no braces, ``*`` stops at '/'."""
    return _compiled(pattern, "/", False).fullmatch(value) is not None


def _deny(pattern: str) -> bool:
    return pattern.startswith("!")


def _glob_allow(pattern: str, value: str, separators: str = "") -> bool:
    """``globMatch(pattern, val, allowNegation=true)``: ``!p`` is true when ``p`` misses."""
    if _deny(pattern):
        return not glob_match(pattern[1:], value, separators)
    return pattern == "*" or glob_match(pattern, value, separators)


def normalize_git_url(repo: str) -> str:
    """``git.NormalizeGitURL``: lower case, ``git@host:path`` as ``git@host/path``, no ``.git``."""
    repo = repo.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    repo = repo.removesuffix(".git")
    return repo.removeprefix("ssh://")


def source_permitted(project: Obj, repo_url: str) -> bool:
    """``IsSourcePermitted``: some entry matches; a ``!`` entry that matches denies at once."""
    source = normalize_git_url(repo_url)
    matched = False
    for entry in (project.get("spec") or {}).get("sourceRepos") or []:
        entry = str(entry)
        normalized = (
            "!" + normalize_git_url(entry[1:]) if _deny(entry) else normalize_git_url(entry)
        )
        if _glob_allow(normalized, source, "/"):
            matched = True
        elif _deny(normalized):
            return False
    return matched


def destination_permitted(project: Obj, server: str, name: str, namespace: str) -> bool:
    """``isDestinationMatched`` for the cluster (server and name) and ``namespace``."""
    matched = False
    for item in (project.get("spec") or {}).get("destinations") or []:
        item_name, item_server = str(item.get("name") or ""), str(item.get("server") or "")
        item_namespace = str(item.get("namespace") or "")
        name_ok = bool(name) and _glob_allow(item_name, name)
        server_ok = bool(server) and _glob_allow(item_server, server)
        namespace_ok = _glob_allow(item_namespace, namespace)
        if (server_ok or name_ok) and namespace_ok:
            matched = True
        elif (not name_ok and _deny(item_name)) or (
            not server_ok and _deny(item_server) and namespace_ok
        ):
            return False  # Go: a || (b && c)
        elif not namespace_ok and _deny(item_namespace) and server_ok:
            return False
    return matched


def _in_list(group: str, kind: str, name: str | None, items: list[Obj]) -> bool:
    for item in items:
        if not path_match(str(item.get("kind") or ""), kind):
            continue
        if not path_match(str(item.get("group") or ""), group):
            continue
        if name is None or not item.get("name") or path_match(str(item["name"]), name):
            return True
    return False


def group_kind_permitted(project: Obj, group: str, kind: str, name: str, namespaced: bool) -> bool:
    """``IsGroupKindNamePermitted``: namespaced kinds are allowed unless a whitelist exists and
    misses them or the blacklist has them; cluster-scoped kinds need a whitelist entry."""
    spec = project.get("spec") or {}
    if namespaced:
        white = spec.get("namespaceResourceWhitelist")
        black = spec.get("namespaceResourceBlacklist") or []
        listed = white is None or (len(white) != 0 and _in_list(group, kind, None, white))
        return listed and not (black and _in_list(group, kind, None, black))
    white = spec.get("clusterResourceWhitelist") or []
    black = spec.get("clusterResourceBlacklist") or []
    return (
        bool(white)
        and _in_list(group, kind, name, white)
        and not _in_list(group, kind, name, black)
    )


def destination_cluster(destination: Obj) -> tuple[str, str]:
    """(server, name) of the destination's cluster, or ValueError with Argo CD's message."""
    name = str(destination.get("name") or "")
    server = str(destination.get("server") or "")
    if name and server:
        raise ValueError(
            f"application destination can't have both name and server defined: {name} {server}"
        )
    if server:
        server = server.rstrip("/")
        if server != IN_CLUSTER_SERVER:
            quoted = json.dumps(server)
            raise ValueError(
                f"error getting cluster by server {json.dumps(destination.get('server'))}: "
                f"rpc error: code = NotFound desc = cluster {quoted} not found"
            )
        return IN_CLUSTER_SERVER, IN_CLUSTER_NAME
    if name:
        if name != IN_CLUSTER_NAME:
            raise ValueError(f"there are no clusters with this name: {name}")
        return IN_CLUSTER_SERVER, IN_CLUSTER_NAME
    raise ValueError("Destination server missing from app spec")


def validate_permissions(spec: Obj, project: Obj) -> list[str]:
    """``ValidatePermissions`` for a single-source app: the InvalidSpecError messages."""
    source = spec.get("source") or {}
    project_name = (project.get("metadata") or {}).get("name", "")
    repo = str(source.get("repoURL") or "")
    if not repo or not (source.get("path") or source.get("chart")):
        return ["spec.source.repoURL and either spec.source.path or spec.source.chart are required"]
    if source.get("chart") and not source.get("targetRevision"):
        return ["spec.source.targetRevision is required if the manifest source is a helm chart"]
    messages = []
    if not source_permitted(project, repo):
        messages.append(f"application repo {repo} is not permitted in project '{project_name}'")
    destination = spec.get("destination") or {}
    try:
        server, name = destination_cluster(destination)
    except ValueError as e:
        return [*messages, str(e)]
    namespace = str(destination.get("namespace") or "")
    if not destination_permitted(project, server, name, namespace):
        shown = name if destination.get("name") else server
        messages.append(
            f"application destination server '{shown}' and namespace '{namespace}' do not match "
            f"any of the allowed destinations in project '{project_name}'"
        )
    return messages


def resource_refusal(project: Obj, obj: Obj, namespaced: bool) -> str | None:
    """``validateSyncPermissions``: why the sync may not apply ``obj`` (None: it may)."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata") or {}
    project_name = (project.get("metadata") or {}).get("name", "")
    if not group_kind_permitted(project, group, kind, str(meta.get("name") or ""), namespaced):
        return f"resource {group}:{kind} is not permitted in project {project_name}"
    namespace = str(meta.get("namespace") or "")
    if namespaced and not destination_permitted(
        project, IN_CLUSTER_SERVER, IN_CLUSTER_NAME, namespace
    ):
        return f"namespace {namespace} is not permitted in project '{project_name}'"
    return None
