"""`pipeline status`: per alias, what the registry has, what the Application pins, what the pods
run, and whether they agree. Reads only: one HEAD per alias, one GET of the Application, one
list each of Deployments, ReplicaSets and the workload's pods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.imageupdater.annotations import ImageConfig, ImageUpdaterConfig
from pipeline.core.imageupdater.strategies import Strategy
from pipeline.core.ports import Cluster
from pipeline.core.rollout import template_images
from pipeline.errors import PipelineError, Problem, UsageError
from pipeline.inspect.agreement import Agreement, judge
from pipeline.inspect.pins import Pin, current_pin, patched_deployments
from pipeline.inspect.workloads import PodImage, Workload, pod_images, resolve_workloads

Obj = dict[str, Any]
HeadDigest = Callable[[ImageConfig, str], str]  # (alias config, tag) -> digest


@dataclass
class AliasStatus:
    alias: str
    image: str
    strategy: str
    tag: str | None = None  # the tag asked of the registry
    registry_digest: str | None = None
    registry_error: str = ""
    pin: Pin | None = None
    workload: Workload | None = None
    pods: list[PodImage] = field(default_factory=list)
    agreement: Agreement = field(default_factory=lambda: Agreement(False, "unknown", ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "image": self.image,
            "strategy": self.strategy,
            "registry": {"tag": self.tag, "digest": self.registry_digest,
                         "error": self.registry_error or None},
            "application": self.pin.as_dict() if self.pin else None,
            "workload": None if self.workload is None else {
                "deployment": self.workload.deployment, "container": self.workload.container,
                "selector": self.workload.selector, "found_by": self.workload.how,
            },
            "pods": [p.as_dict() for p in self.pods],
            "agree": self.agreement.agree,
            "reason": self.agreement.reason,
            "message": self.agreement.message,
        }  # fmt: skip


def destination_namespace(app: Obj) -> str:
    namespace = app.get("spec", {}).get("destination", {}).get("namespace")
    if not namespace:
        raise UsageError(
            f"Application {app['metadata']['name']} has no spec.destination.namespace",
            hint="set it: status looks for the workloads there",
        )
    return str(namespace)


def _registry_tag(config: ImageConfig, pin: Pin | None) -> str | None:
    if config.strategy is Strategy.DIGEST:
        return config.image.tag
    return pin.tag if pin and pin.tag else None


def application_status(
    app: Obj,
    config: ImageUpdaterConfig,
    *,
    cluster: Cluster,
    head_digest: HeadDigest,
    service: str,
    aliases: tuple[str, ...] = (),
    selectors: dict[str, str] | None = None,
    namespace: str | None = None,
) -> list[AliasStatus]:
    """The status of every alias (or of ``aliases``) of one Application; the workloads are
    looked for in ``namespace``, by default the Application's destination namespace."""
    chosen = tuple(config.image(a) for a in aliases) if aliases else config.images
    namespace = namespace or destination_namespace(app)
    deployments, _ = cluster.list_objects("deployments", namespace)
    replicasets, _ = cluster.list_objects("replicasets", namespace)
    patched = {c.alias: patched_deployments(app, c) for c in config.images}
    workloads = resolve_workloads(
        app, config.images, deployments, service=service, patched=patched, overrides=selectors
    )
    by_name = {d["metadata"]["name"]: d for d in deployments}
    out = []
    for alias_config in chosen:
        status = AliasStatus(
            alias_config.alias, alias_config.image.full_name_with_tag, alias_config.strategy.value
        )
        out.append(status)
        workload = workloads.get(alias_config.alias)
        if isinstance(workload, Problem):
            status.agreement = Agreement(False, workload.reason, workload.message)
            continue
        assert workload is not None
        status.workload = workload
        status.pin = current_pin(app, alias_config, workload.deployment)
        status.tag = _registry_tag(alias_config, status.pin)
        if status.tag:
            try:
                status.registry_digest = head_digest(alias_config, status.tag)
            except PipelineError as e:
                status.registry_error = e.message
        pods, _ = cluster.list_objects("pods", namespace, workload.selector)
        status.pods = pod_images(
            by_name[workload.deployment], replicasets, pods, workload.container
        )
        template = template_images(by_name[workload.deployment])
        image = template.get(workload.container or "") or next(iter(template.values()), None)
        status.agreement = judge(status.registry_digest, status.pin, status.pods, image)
        if status.registry_error:
            status.agreement = Agreement(False, "registry-error", status.registry_error)
    return out
