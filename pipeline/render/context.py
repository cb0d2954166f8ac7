"""What the templates are rendered from: pipeline.yaml plus its ``ci:`` section, validated.

Building the context does no I/O: the CLI reads pipeline.yaml and passes the mapping in. The
``ci:`` section (every key optional)::

    ci:
      label: canary                        # the PR label that asks for a canary
      tool_repository: acme/argocd-canary  # GitHub repository of this project (the caller
      tool_ref: 0123...cdef                # uses its reusable workflow at this full commit
      tool_version: 0.2.0                  # SHA, and installs the tool from the same commit)
      base_branches: [develop]             # PRs into / pushes to these branches ([] = any PR)
      rebuild_on_push: false               # push to a base branch: rebuild + redeploy canaries
      registry: docker.io                  # registry to log in to [default: the image's]
      registry_username_secret: DOCKERHUB_USERNAME  # names of the caller's secrets
      registry_password_secret: DOCKERHUB_TOKEN
      argocd_server_secret: ARGOCD_SERVER  # Argo CD API server and account token (the
      argocd_token_secret: ARGOCD_AUTH_TOKEN  # default backend; docs/adoption.md)
      kubeconfig_secret: CANARY_KUBECONFIG # optional: when set and given, used instead
      argocd_account: pipeline-ci          # the Argo CD account `render rbac --backend argocd-api`
      argocd_project: default              # creates, and the AppProject of the Applications
      cache: gha                           # gha | registry | none
      cache_repository: docker.io/acme/shop-cache   # for cache: registry only
      pipeline_image: ghcr.io/acme/argocd-canary:0.2.0@sha256:...  # image Argo Workflows runs
      buildkit_image: moby/buildkit:v0.20.2-rootless@sha256:...
      git_repo: https://github.com/acme/app.git     # source the WorkflowTemplate clones
      workflow_namespace: argo             # where the WorkflowTemplate and its SA live
      registry_secret: registry-credentials         # dockerconfigjson Secret (Argo)
      argocd_secret: argocd-api-credentials  # Secret with ARGOCD_SERVER, ARGOCD_AUTH_TOKEN
                                           # (Argo; optional: without it, the ServiceAccount)
      poll_schedule: "*/2 * * * *"
      pull_secrets: [argocd/dockerhub-credentials]  # Secrets named by image-updater
                                           # pull-secret annotations: `get` is granted on each
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline import __version__
from pipeline.changes import service_paths
from pipeline.core.images import parse_image_ref
from pipeline.core.plan import render_template
from pipeline.core.settings import DEFAULT_APP, DEFAULT_NAMESPACE, DEFAULT_TAG
from pipeline.render.validate import (
    app_pattern_problem,
    cron_problem,
    dns_label_problem,
    image_problem,
    path_glob_problem,
    raise_problems,
    text_problem,
)

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
GITHUB_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+\Z")
TOOL_REF = re.compile(r"([0-9a-f]{40}|v\d+\.\d+\.\d+)\Z")

# moby/buildkit v0.20.2-rootless: the OCI index digest as published on Docker Hub (not verified
# against the registry from this build; cross-checked in several public repositories).
BUILDKIT_IMAGE = (
    "moby/buildkit:v0.20.2-rootless"
    "@sha256:cb5bb371545222c430528556acfdf424144b69897f5deaad391bd227187e90df"
)
CACHE_MODES = ("gha", "registry", "none")
CI_DEFAULTS = {
    "label": "canary",
    "tool_repository": "example/argocd-canary",
    "tool_ref": f"v{__version__}",
    "tool_version": __version__,
    "registry": "",
    "registry_username_secret": "CANARY_REGISTRY_USERNAME",
    "registry_password_secret": "CANARY_REGISTRY_PASSWORD",
    "argocd_server_secret": "ARGOCD_SERVER",
    "argocd_token_secret": "ARGOCD_AUTH_TOKEN",
    "kubeconfig_secret": "",
    "argocd_account": "pipeline-ci",
    "argocd_project": "default",
    "cache": "gha",
    "cache_repository": "",
    "rebuild_on_push": "false",
    "pipeline_image": f"ghcr.io/example/argocd-canary:{__version__}",
    "buildkit_image": BUILDKIT_IMAGE,
    "git_repo": "https://github.com/example/app.git",
    "workflow_namespace": "argo",
    "registry_secret": "registry-credentials",
    "argocd_secret": "argocd-api-credentials",
    "poll_schedule": "*/2 * * * *",
    "config_path": "pipeline.yaml",
}


@dataclass(frozen=True)
class ServiceContext:
    name: str
    namespace: str
    image: str  # repository without tag
    tag: str  # the moving canary tag
    context: str  # build context, relative to the repository root
    dockerfile: str
    paths: tuple[str, ...]
    app: str = ""  # the Argo CD Application; ``*`` where it depends on the PR or commit


@dataclass(frozen=True)
class RenderContext:
    services: tuple[ServiceContext, ...]
    argocd_namespace: str
    ci: dict[str, str]
    pull_secrets: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    base_branches: tuple[str, ...] = ()
    version: str = __version__

    @property
    def namespaces(self) -> list[str]:
        return sorted({s.namespace for s in self.services})

    @property
    def pull_secret_names(self) -> list[tuple[str, list[str]]]:
        """Per namespace, the pull Secrets the pipeline may read (rendered as resourceNames)."""
        namespaces = sorted({ns for ns, _ in self.pull_secrets})
        return [(ns, sorted({n for s, n in self.pull_secrets if s == ns})) for ns in namespaces]

    @property
    def argocd_policy(self) -> list[str]:
        """``policy.csv`` lines granting the CI account exactly what the pipeline calls through
        argocd-server (server/application/application.go): ``applications get`` (Get, the
        stream, the resource tree, /resource, /events), ``update`` (Patch), ``sync`` (Sync,
        TerminateOperation) and ``logs get`` (PodLogs), on each Application of the project; and
        ``applicationsets get`` in the project (the preflight's ApplicationSet check)."""
        role, project = f"role:{self.ci['argocd_account']}", self.ci["argocd_project"]
        grants = (("applications", "get"), ("applications", "update"),
                  ("applications", "sync"), ("logs", "get"))  # fmt: skip
        apps = sorted({s.app for s in self.services})
        lines = [f"p, {role}, {res}, {act}, {project}/{app}, allow"
                 for app in apps for res, act in grants]  # fmt: skip
        # the preflight reads the ApplicationSet that owns an Application (would it revert the
        # pin?); its RBAC object is <template project>/<ApplicationSet name>
        appsets = f"p, {role}, applicationsets, get, {project}/*, allow"
        return [*lines, appsets, f"g, {self.ci['argocd_account']}, {role}"]

    def as_template_vars(self) -> dict[str, Any]:
        return {"services": self.services, "ci": self.ci, "ctx": self}


def _entries(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    entries: dict[str, Mapping[str, Any]] = {}
    for item in config.get("services") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            entries[item["name"]] = item
    return entries


def build_context(config: Mapping[str, Any], source: str = "pipeline.yaml") -> RenderContext:
    """Validate every value that reaches a template; all problems are reported at once."""
    paths = service_paths(config)
    entries = _entries(config)
    problems: list[str | None] = []
    ci_raw = config.get("ci") or {}
    ci = {k: _text(ci_raw.get(k, v)) for k, v in CI_DEFAULTS.items()}
    optional = {"registry", "cache_repository", "kubeconfig_secret"}
    problems += [
        text_problem(f"ci.{k}", v)
        for k, v in ci.items()
        if k != "poll_schedule" and not (k in optional and v == "")
    ]
    problems += _github_problems(ci)
    base_branches, branch_problems = _base_branches(ci_raw.get("base_branches"))
    problems += branch_problems
    if ci["rebuild_on_push"] == "true" and not base_branches:
        problems.append("ci.rebuild_on_push needs ci.base_branches (the branches whose pushes "
                        "rebuild the canary)")  # fmt: skip
    problems.append(cron_problem("ci.poll_schedule", ci["poll_schedule"]))
    problems.append(dns_label_problem("ci.workflow_namespace", ci["workflow_namespace"]))
    problems.append(dns_label_problem("ci.registry_secret", ci["registry_secret"]))
    problems += _argocd_problems(ci)
    pull_secrets, secret_problems = _pull_secrets(ci_raw.get("pull_secrets"))
    problems += secret_problems
    argocd_namespace = config.get("argocd_namespace", "argocd")
    problems.append(dns_label_problem("argocd_namespace", argocd_namespace))
    services: list[ServiceContext] = []
    if not paths:
        problems.append("no services: list them under 'services:' (and their 'paths:')")
    for name, globs in paths.items():
        problems.append(dns_label_problem("service name", name))
        problems += [path_glob_problem(f"path glob of service {name!r}", g) for g in globs]
        entry = {**config, **entries.get(name, {})}
        values = {"service": name, "short_sha": "", "pr": ""}
        try:
            namespace = render_template(str(entry.get("namespace") or DEFAULT_NAMESPACE), values)
            tag = render_template(str(entry.get("tag") or DEFAULT_TAG), values)
            image = render_template(str(entry.get("image") or ""), values)
            app = render_template(
                str(entry.get("app") or DEFAULT_APP), {**values, "short_sha": "*", "pr": "*"}
            )
        except Exception as e:  # an unknown {field}: report it with the rest
            problems.append(f"service {name!r}: {e}")
            continue
        problems.append(dns_label_problem(f"namespace of service {name!r}", namespace))
        problems.append(image_problem(f"image of service {name!r}", image))
        problems.append(text_problem(f"tag of service {name!r}", tag))
        problems.append(app_pattern_problem(f"app of service {name!r}", app))
        context = str(entry.get("context") or ".")
        dockerfile = str(entry.get("file") or "Dockerfile")
        problems.append(path_glob_problem(f"context of service {name!r}", context))
        problems.append(path_glob_problem(f"file of service {name!r}", dockerfile))
        services.append(
            ServiceContext(name, namespace, image, tag, context, dockerfile, globs, app)
        )
    raise_problems(problems, source)
    if not ci["registry"] and services:
        ci["registry"] = parse_image_ref(services[0].image).registry
    return RenderContext(tuple(services), str(argocd_namespace), ci, pull_secrets, base_branches)


def _text(value: object) -> str:
    """A ``ci:`` value as rendered: YAML booleans as ``true``/``false``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _github_problems(ci: dict[str, str]) -> list[str | None]:
    """Values that name GitHub things: secrets, the tool's repository and ref, the cache."""
    problems: list[str | None] = []
    keys = ("registry_username_secret", "registry_password_secret", "argocd_server_secret",
            "argocd_token_secret", "kubeconfig_secret")  # fmt: skip
    for key in keys:
        if not SECRET_NAME.match(ci[key]) and not (key == "kubeconfig_secret" and not ci[key]):
            problems.append(f"ci.{key} {ci[key]!r} is not a secret name ([A-Za-z_][A-Za-z0-9_]*)")
    if not GITHUB_REPO.match(ci["tool_repository"]):
        problems.append(f"ci.tool_repository {ci['tool_repository']!r} is not OWNER/NAME")
    if not TOOL_REF.match(ci["tool_ref"]):
        problems.append(
            f"ci.tool_ref {ci['tool_ref']!r} must be a full 40-character commit SHA (or a "
            "release tag vX.Y.Z, which can be moved: prefer the SHA)"
        )
    if ci["cache"] not in CACHE_MODES:
        problems.append(f"ci.cache {ci['cache']!r} must be one of {', '.join(CACHE_MODES)}")
    if ci["cache"] == "registry":
        problems.append(image_problem("ci.cache_repository", ci["cache_repository"]))
    if ci["rebuild_on_push"] not in ("true", "false"):
        problems.append(f"ci.rebuild_on_push {ci['rebuild_on_push']!r} must be true or false")
    return problems


def _argocd_problems(ci: dict[str, str]) -> list[str | None]:
    """The Argo CD account (a local account: at most 32 characters, docs/operator-manual/
    user-management) and project that end up in policy.csv, where a comma would add a rule."""
    problems = [dns_label_problem("ci.argocd_secret", ci["argocd_secret"])]
    problems.append(dns_label_problem("ci.argocd_account", ci["argocd_account"]))
    if len(ci["argocd_account"]) > 32:
        problems.append(f"ci.argocd_account {ci['argocd_account']!r} is longer than 32 "
                        "characters (Argo CD's limit for local accounts)")  # fmt: skip
    if ci["argocd_project"] != "*":
        problems.append(dns_label_problem("ci.argocd_project", ci["argocd_project"]))
    return problems


def _base_branches(raw: object) -> tuple[tuple[str, ...], list[str | None]]:
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return (), ["ci.base_branches must be a list of branch names"]
    problems = [path_glob_problem(f"ci.base_branches entry {b!r}", b) for b in raw]
    return tuple(str(b) for b in raw), problems


def _pull_secrets(raw: object) -> tuple[tuple[tuple[str, str], ...], list[str | None]]:
    """``ci.pull_secrets``: ``namespace/name`` references, as in ``pullsecret:ns/name``."""
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return (), ["ci.pull_secrets must be a list of namespace/name entries"]
    refs: list[tuple[str, str]] = []
    problems: list[str | None] = []
    for entry in raw:
        namespace, _, name = str(entry).removeprefix("pullsecret:").partition("/")
        problems.append(
            dns_label_problem(f"namespace of ci.pull_secrets entry {entry!r}", namespace)
        )
        problems.append(dns_label_problem(f"name of ci.pull_secrets entry {entry!r}", name))
        refs.append((namespace, name))
    return tuple(refs), problems
