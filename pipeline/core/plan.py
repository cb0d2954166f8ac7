"""The plan of one service's deploy: decided before any I/O, so `--dry-run` is free.

Pure functions only. The sync operation body follows Argo CD's ``Operation`` type
(``pkg/apis/application/v1alpha1/types.go``: initiatedBy, info, sync) as written by
``util/argo/argo.go SetAppOperation``; the ``info`` entries are our correlation marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.core.images import ImageRef, parse_image_ref
from pipeline.core.settings import DEFAULT_TAG, DeploySettings, ServiceTarget
from pipeline.errors import UsageError

RUN_ANNOTATION = "pipeline.dev/canary-run"
DIGEST_ANNOTATION = "pipeline.dev/canary-digest"
# JSON {"field": "<source path>.<section>.<key>", "entries": [...]}: what the pin replaced,
# written with the pin and put back by cleanup-canary (pipeline/core/previous.py)
PREVIOUS_ANNOTATION = "pipeline.dev/canary-previous"
INFO_RUN = "pipeline-run"
INFO_DIGEST = "pipeline-digest"
INFO_PR = "pipeline-pr"
# a digest for checks that need one before the push (never shown: see without_placeholder)
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
_FIELD_RE = re.compile(r"{([^{}]*)}")


def render_template(text: str, values: dict[str, str]) -> str:
    """Substitute ``{service}``-style fields; an unknown field is a usage error."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise UsageError(
                f"unknown field {{{key}}} in {text!r}",
                hint=f"available fields: {', '.join('{' + k + '}' for k in sorted(values))}",
            )
        return values[key]

    return _FIELD_RE.sub(substitute, text)


@dataclass(frozen=True)
class ServicePlan:
    """Everything decided for one service before touching the network."""

    service: str
    repository: ImageRef  # untagged
    tags: tuple[str, ...]  # moving canary tag first, then the traceable one
    app: str
    argocd_namespace: str
    namespace: str
    selector: str
    container: str | None
    timeout: float
    run_id: str
    run_key: str  # sortable: newer runs compare greater
    pr: str
    alias: str | None = None  # image-updater alias whose write-back settings apply

    @property
    def image(self) -> ImageRef:
        """The moving canary tag, e.g. ``127.0.0.1:5000/demo:auth-dev-canary``."""
        return self.repository.with_tag(self.tags[0])

    def pinned(self, digest: str) -> str:
        """The digest-pinned reference written for the canary: ``repo@sha256:...``."""
        return str(self.repository.with_digest(digest))


def run_key(started_ns: int, run_id: str) -> str:
    """Orders runs on one canary: start time first (zero-padded), run id breaks ties."""
    return f"{started_ns:020d}-{run_id}"


def template_values(target: ServiceTarget, settings: DeploySettings) -> dict[str, str]:
    build = settings.build
    return {"service": target.name, "short_sha": build.revision[:7], "pr": build.pr}


@dataclass(frozen=True)
class ApplicationName:
    argocd_namespace: str
    app: str


def application_name(target: ServiceTarget, settings: DeploySettings) -> ApplicationName:
    """The Application a target deploys through, known before its image is."""
    app = render_template(target.app, template_values(target, settings))
    return ApplicationName(settings.run.argocd_namespace, app)


def plan_service(target: ServiceTarget, settings: DeploySettings) -> ServicePlan:
    """The plan of a target whose image repository is known (alias.resolve_target first)."""
    build, run = settings.build, settings.run
    values = template_values(target, settings)
    short_sha = values["short_sha"]
    if not target.image:
        raise UsageError(
            f"no image repository for service {target.name!r}",
            hint="pass --image REGISTRY/REPO, set 'image:' in pipeline.yaml, or name it in the "
            "Application's argocd-image-updater image-list (--alias)",
        )
    repository = parse_image_ref(render_template(target.image, values))
    if repository.tag or repository.digest:
        raise UsageError(
            f"--image must be a repository without tag or digest, got {target.image!r}",
            hint="pass the tag with --tag, e.g. --image 127.0.0.1:5000/demo "
            "--tag '{service}-dev-canary'",
        )
    template = target.tag or DEFAULT_TAG
    tag = render_template(template, values)
    tags = (tag, f"{tag}-{short_sha}") if short_sha and "{short_sha}" not in template else (tag,)
    for t in tags:
        parse_image_ref(f"{repository.name}:{t}")  # validates the tag grammar
    return ServicePlan(
        service=target.name,
        repository=repository,
        tags=tags,
        app=render_template(target.app, values),
        argocd_namespace=run.argocd_namespace,
        namespace=render_template(target.namespace, values),
        selector=render_template(target.selector, values),
        container=target.container,
        timeout=run.timeout,
        run_id=run.run_id,
        run_key=run_key(run.started_ns, run.run_id),
        pr=build.pr,
        alias=target.alias,
    )


def plan_all(settings: DeploySettings) -> list[ServicePlan]:
    return [plan_service(t, settings) for t in settings.services]


def sync_operation(
    plan: ServicePlan, digest: str, deployment: str | None, sync_options: list[str] | None = None
) -> dict[str, Any]:
    """The ``.operation`` we write: a sync of the canary Deployment only, marked with our run.

    ``resources`` makes it a partial sync (Argo CD syncs only the listed objects), so stable is
    never re-applied by this run even when it has drifted. ``sync_options`` are the
    Application's ``spec.syncPolicy.syncOptions``, copied as argocd-server's Sync does (the
    controller reads only the operation's own, ``controller/sync.go``). ``retry`` is ``limit: 0``
    on purpose: a failed canary sync is reported at once, not after the app's back-off.
    """
    info = [{"name": INFO_RUN, "value": plan.run_id}, {"name": INFO_DIGEST, "value": digest}]
    if plan.pr:
        info.append({"name": INFO_PR, "value": plan.pr})
    sync: dict[str, Any] = {"revision": "", "prune": False, "syncStrategy": {"hook": {}}}
    if sync_options:
        sync["syncOptions"] = list(sync_options)
    if deployment:
        sync["resources"] = [
            {"group": "apps", "kind": "Deployment", "name": deployment, "namespace": plan.namespace}
        ]
    return {
        "initiatedBy": {"username": "pipeline-deploy-canary"},
        "info": info,
        "sync": sync,
        "retry": {"limit": 0},
    }


def operation_is_ours(operation: dict[str, Any] | None, plan: ServicePlan, digest: str) -> bool:
    """True when an operation (or operationState.operation) carries our run marker."""
    if not operation:
        return False
    info = {i.get("name"): i.get("value") for i in operation.get("info") or []}
    return info.get(INFO_RUN) == plan.run_id and info.get(INFO_DIGEST) == digest


def plan_as_dict(plan: ServicePlan) -> dict[str, Any]:
    return {
        "service": plan.service,
        "image": str(plan.image),
        "tags": [str(plan.repository.with_tag(t)) for t in plan.tags],
        "application": f"{plan.argocd_namespace}/{plan.app}",
        "namespace": plan.namespace,
        "selector": plan.selector,
        "timeout_seconds": plan.timeout,
        "run": {"id": plan.run_id, "key": plan.run_key, "pr": plan.pr},
        "alias": plan.alias,
    }
