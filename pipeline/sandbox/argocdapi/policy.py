"""Argo CD RBAC: ``policy.csv`` evaluated like argo-cd's casbin model (pure functions).

Sources (argoproj/argo-cd): ``assets/model.conf``, ``assets/builtin-policy.csv``,
``util/rbac/rbac.go`` (loadPolicyLine, globMatchFunc, enforce, PolicyCSV),
``server/rbacpolicy/rbacpolicy.go`` (EnforceClaims, enforceProjectToken) and
``pkg/apis/application/v1alpha1/app_project_types.go`` (ProjectPoliciesString).

- Request ``(sub, res, act, obj)``; matcher ``g(r.sub, p.sub) && glob(r.res, p.res) &&
  glob(r.act, p.act) && glob(r.obj, p.obj)``; effect ``some(allow) && !some(deny)``: an
  explicit deny wins over any allow, and no matching allow is a deny.
- ``g, <user|role>, <role>`` lines inherit transitively (casbin's role manager, depth 10);
  a subject always "has" itself.
- Globs are gobwas/glob without separators: ``*`` also crosses ``/``; ``?``, ``[a-z]``,
  ``[!x]``, ``{a,b}`` and ``\\`` escapes work.
- ``policy.default`` (a role) is tried first for every request; empty means default deny.
- A line is ``p`` with exactly 5 fields after the key or ``g`` with exactly 2, parsed as CSV
  with leading spaces trimmed; ``#`` starts a comment line. Anything else invalidates the
  policy (argo-cd then keeps its previous one; here the user policy is dropped).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

BUILTIN_POLICY = """\
p, role:readonly, applications, get, */*, allow
p, role:readonly, applicationsets, get, */*, allow
p, role:readonly, certificates, get, *, allow
p, role:readonly, clusters, get, *, allow
p, role:readonly, repositories, get, *, allow
p, role:readonly, write-repositories, get, *, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, accounts, get, *, allow
p, role:readonly, gpgkeys, get, *, allow
p, role:readonly, logs, get, */*, allow

p, role:admin, applications, create, */*, allow
p, role:admin, applications, update, */*, allow
p, role:admin, applications, update/*, */*, allow
p, role:admin, applications, delete, */*, allow
p, role:admin, applications, delete/*, */*, allow
p, role:admin, applications, sync, */*, allow
p, role:admin, applications, rollback, */*, allow
p, role:admin, applications, override, */*, allow
p, role:admin, applications, action/*, */*, allow
p, role:admin, applicationsets, get, */*, allow
p, role:admin, applicationsets, create, */*, allow
p, role:admin, applicationsets, update, */*, allow
p, role:admin, applicationsets, delete, */*, allow
p, role:admin, certificates, create, *, allow
p, role:admin, certificates, update, *, allow
p, role:admin, certificates, delete, *, allow
p, role:admin, clusters, create, *, allow
p, role:admin, clusters, update, *, allow
p, role:admin, clusters, delete, *, allow
p, role:admin, repositories, create, *, allow
p, role:admin, repositories, update, *, allow
p, role:admin, repositories, delete, *, allow
p, role:admin, write-repositories, create, *, allow
p, role:admin, write-repositories, update, *, allow
p, role:admin, write-repositories, delete, *, allow
p, role:admin, projects, create, *, allow
p, role:admin, projects, update, *, allow
p, role:admin, projects, delete, *, allow
p, role:admin, accounts, update, *, allow
p, role:admin, gpgkeys, create, *, allow
p, role:admin, gpgkeys, delete, *, allow
p, role:admin, exec, create, */*, allow

g, role:admin, role:readonly
g, admin, role:admin
"""

# util/rbac/rbac.go: Resources, Actions (what can-i accepts)
RESOURCES = (
    "clusters",
    "projects",
    "applications",
    "applicationsets",
    "repositories",
    "write-repositories",
    "certificates",
    "accounts",
    "gpgkeys",
    "logs",
    "exec",
    "extensions",
)
ACTIONS = (
    "get",
    "create",
    "update",
    "delete",
    "sync",
    "override",
    "action",
    "invoke",
)
PROJECT_SCOPED = ("applications", "applicationsets", "logs", "exec", "clusters", "repositories")
_MAX_ROLE_DEPTH = 10


class PolicyError(ValueError):
    """A line argo-cd's loader rejects ("invalid RBAC policy: <line>")."""


@dataclass(frozen=True)
class Rule:
    subject: str
    resource: str
    action: str
    obj: str
    effect: str


@dataclass
class Policy:
    rules: list[Rule] = field(default_factory=list)
    roles: dict[str, set[str]] = field(default_factory=dict)  # g: member -> direct roles

    def extend(self, other: Policy) -> Policy:
        merged = Policy(list(self.rules), {k: set(v) for k, v in self.roles.items()})
        merged.rules.extend(other.rules)
        for member, roles in other.roles.items():
            merged.roles.setdefault(member, set()).update(roles)
        return merged

    def has_role(self, subject: str, role: str) -> bool:
        """casbin ``g(subject, role)``: equal, or reachable through ``g`` lines."""
        if subject == role:
            return True
        frontier, seen = {subject}, {subject}
        for _ in range(_MAX_ROLE_DEPTH):
            frontier = {r for s in frontier for r in self.roles.get(s, ())} - seen
            if role in frontier:
                return True
            if not frontier:
                return False
            seen |= frontier
        return False

    def enforce(self, subject: str, resource: str, action: str, obj: str) -> bool:
        allowed = False
        for rule in self.rules:
            if not (
                self.has_role(subject, rule.subject)
                and glob_match(rule.resource, resource)
                and glob_match(rule.action, action)
                and glob_match(rule.obj, obj)
            ):
                continue
            if rule.effect == "deny":
                return False
            if rule.effect == "allow":
                allowed = True
        return allowed


def parse_policy(text: str) -> Policy:
    """Parse policy.csv text (``p``/``g`` lines, ``#`` comments, blank lines)."""
    policy = Policy()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = next(csv.reader([line], skipinitialspace=True))
        except (csv.Error, StopIteration) as e:
            raise PolicyError(f'error parsing policy line "{line}": {e}') from e
        key = tokens[0] if tokens else ""
        if key == "p" and len(tokens) == 6:
            policy.rules.append(Rule(*tokens[1:6]))
        elif key == "g" and len(tokens) == 3:
            policy.roles.setdefault(tokens[1], set()).add(tokens[2])
        else:
            raise PolicyError(f"invalid RBAC policy: {line}")
    return policy


def policy_csv(data: dict[str, str]) -> str:
    """``rbac.PolicyCSV``: ``policy.csv`` then every other ``policy.*.csv`` key, sorted."""
    parts = [data.get("policy.csv", "")]
    for key in sorted(data):
        if key.startswith("policy.") and key.endswith(".csv") and key != "policy.csv":
            parts.append(data[key])
    return "\n".join(parts)


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(_translate(pattern) + r"\Z", re.DOTALL)
    except (re.error, ValueError):
        return None  # argo-cd logs "failed to compile pattern" and does not match


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError("unclosed [")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            chars = "".join("\\" + ch if ch in "\\^]" else ch for ch in body)
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise ValueError("unclosed {")
    return "".join(out)


def glob_match(pattern: str, value: str) -> bool:
    """``glob.Match(pattern, value)`` as argo-cd's ``globMatchFunc`` calls it."""
    compiled = _compile(pattern)
    return compiled is not None and compiled.match(value) is not None


@dataclass(frozen=True)
class Project:
    """What RBAC needs of an AppProject: its name and ``spec.roles``."""

    name: str
    roles: tuple[dict[str, object], ...] = ()

    def policies_string(self) -> str:
        """``AppProject.ProjectPoliciesString``: per role, get on the project itself, the
        role's policies, and ``g, <group>, proj:<project>:<role>`` for its groups."""
        lines: list[str] = []
        for role in self.roles:
            role_name = str(role.get("name", ""))
            lines.append(f"p, proj:{self.name}:{role_name}, projects, get, {self.name}, allow")
            lines.extend(str(p) for p in role.get("policies") or [])  # type: ignore[attr-defined]
            for group in role.get("groups") or []:  # type: ignore[attr-defined]
                lines.append(f"g, {group}, proj:{self.name}:{role_name}")
        return "\n".join(lines)


def project_subject(subject: str) -> tuple[str, str] | None:
    """``proj:<project>:<role>`` -> (project, role) (``GetProjectRoleFromSubject``)."""
    parts = subject.split(":")
    if len(parts) == 3 and parts[0] == "proj":
        return parts[1], parts[2]
    return None


class Enforcer:
    """``rbac.Enforcer`` with ``RBACPolicyEnforcer.EnforceClaims`` as its claims function."""

    def __init__(self, user_policy: str = "", default_role: str = "") -> None:
        self.base = parse_policy(BUILTIN_POLICY).extend(parse_policy(user_policy))
        self.default_role = default_role

    def enforce(
        self,
        subject: str | None,
        groups: Iterable[str],
        resource: str,
        action: str,
        obj: str,
        project: Project | None = None,
    ) -> bool:
        """``subject`` None is an anonymous request (only the default role applies).
        ``project``: the AppProject the object belongs to (``getProjectFromRequest``)."""
        if self.default_role and self.base.enforce(self.default_role, resource, action, obj):
            return True
        if subject is None:
            return False
        runtime = parse_policy(project.policies_string()) if project else Policy()
        policy = self.base.extend(runtime)
        scoped = project_subject(subject)
        if project is not None and scoped is not None:
            return scoped[0] == project.name and policy.enforce(subject, resource, action, obj)
        if policy.enforce(subject, resource, action, obj):
            return True
        return any(
            group in policy.roles and policy.enforce(group, resource, action, obj)
            for group in groups
        )


def project_of(resource: str, obj: str) -> str | None:
    """The AppProject name an RBAC object refers to (``getProjectFromRequest``)."""
    if resource in PROJECT_SCOPED:
        parts = obj.split("/")
        return parts[0] if len(parts) >= 2 else None
    if resource == "projects":
        return obj
    return None
