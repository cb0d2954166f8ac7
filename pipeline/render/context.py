"""What the templates are rendered from: pipeline.yaml plus its ``ci:`` section, validated.

Building the context does no I/O: the CLI reads pipeline.yaml and passes the mapping in. The
``ci:`` section (every key optional)::

    ci:
      label: canary                        # the PR label that asks for a canary
      pipeline_package: argocd-canary==0.1.0   # what the GitHub job pip-installs
      pipeline_image: ghcr.io/acme/pipeline:0.1.0   # the image Argo Workflows runs
      buildkit_image: moby/buildkit:v0.16.0-rootless
      git_repo: https://github.com/acme/app.git     # source the WorkflowTemplate clones
      workflow_namespace: argo             # where the WorkflowTemplate and its SA live
      registry_secret: registry-credentials         # dockerconfigjson Secret (Argo)
      poll_schedule: "*/2 * * * *"
      pull_secrets: [argocd/dockerhub-credentials]  # Secrets named by image-updater
                                           # pull-secret annotations: `get` is granted on each
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline import __version__
from pipeline.changes import service_paths
from pipeline.core.plan import render_template
from pipeline.core.settings import DEFAULT_NAMESPACE, DEFAULT_TAG
from pipeline.render.validate import (
    cron_problem,
    dns_label_problem,
    image_problem,
    path_glob_problem,
    raise_problems,
    text_problem,
)

CI_DEFAULTS = {
    "label": "canary",
    "pipeline_package": f"argocd-canary=={__version__}",  # this project on PyPI
    "pipeline_image": f"ghcr.io/example/pipeline:{__version__}",
    "buildkit_image": "moby/buildkit:v0.16.0-rootless",
    "git_repo": "https://github.com/example/app.git",
    "workflow_namespace": "argo",
    "registry_secret": "registry-credentials",
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


@dataclass(frozen=True)
class RenderContext:
    services: tuple[ServiceContext, ...]
    argocd_namespace: str
    ci: dict[str, str]
    pull_secrets: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    version: str = __version__

    @property
    def namespaces(self) -> list[str]:
        return sorted({s.namespace for s in self.services})

    @property
    def pull_secret_names(self) -> list[tuple[str, list[str]]]:
        """Per namespace, the pull Secrets the pipeline may read (rendered as resourceNames)."""
        namespaces = sorted({ns for ns, _ in self.pull_secrets})
        return [(ns, sorted({n for s, n in self.pull_secrets if s == ns})) for ns in namespaces]

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
    ci = {k: str(ci_raw.get(k, v)) for k, v in CI_DEFAULTS.items()}
    problems += [text_problem(f"ci.{k}", v) for k, v in ci.items() if k != "poll_schedule"]
    problems.append(cron_problem("ci.poll_schedule", ci["poll_schedule"]))
    problems.append(dns_label_problem("ci.workflow_namespace", ci["workflow_namespace"]))
    problems.append(dns_label_problem("ci.registry_secret", ci["registry_secret"]))
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
        except Exception as e:  # an unknown {field}: report it with the rest
            problems.append(f"service {name!r}: {e}")
            continue
        problems.append(dns_label_problem(f"namespace of service {name!r}", namespace))
        problems.append(image_problem(f"image of service {name!r}", image))
        problems.append(text_problem(f"tag of service {name!r}", tag))
        context = str(entry.get("context") or ".")
        dockerfile = str(entry.get("file") or "Dockerfile")
        problems.append(path_glob_problem(f"context of service {name!r}", context))
        problems.append(path_glob_problem(f"file of service {name!r}", dockerfile))
        services.append(ServiceContext(name, namespace, image, tag, context, dockerfile, globs))
    raise_problems(problems, source)
    return RenderContext(tuple(services), str(argocd_namespace), ci, pull_secrets)


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
