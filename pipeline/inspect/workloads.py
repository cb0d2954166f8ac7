"""Which Deployment and container an image-updater alias drives, and what its pods run.

An alias names an image, not a workload; we find the workload in the Application's
destination namespace, first rule that applies:

1. the annotation ``pipeline.dev/<alias>.selector`` on the Application (or ``--selector``);
2. for the alias ``canary``: deploy-canary's convention ``app={service}-api,version=v2``;
3. the one Deployment not claimed by another alias that runs the alias's repository, preferring
   one whose image still carries the watched tag, then one this Application's patches target.

Rules 1 and 2 match the pod template labels, as deploy-canary's preflight does. What the pods
run is the ``imageID`` of the newest ReplicaSet's pods (the Deployment controller's revision
rule, pipeline/core/rollout.py); Kubernetes reports ``""`` before the container started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.images import digest_from_image_id, parse_image_ref
from pipeline.core.imageupdater.annotations import ImageConfig
from pipeline.core.rollout import canary_deployments, newest_replicaset, template_images
from pipeline.core.settings import DEFAULT_SELECTOR
from pipeline.errors import Problem, UsageError

Obj = dict[str, Any]
SELECTOR_ANNOTATION = "pipeline.dev/{alias}.selector"


@dataclass(frozen=True)
class Workload:
    deployment: str
    container: str | None
    selector: str  # label selector of its pods
    how: str  # which rule found it


@dataclass(frozen=True)
class PodImage:
    pod: str
    image_id: str
    digest: str | None
    ready: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "imageID": self.image_id,
            "digest": self.digest,
            "ready": self.ready,
        }


def _match_labels(deployment: Obj) -> str:
    labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _container_for(deployment: Obj, config: ImageConfig) -> tuple[str | None, str]:
    """(container name, its image) running the alias's repository."""
    wanted = config.image.registry_ref()
    for name, image in template_images(deployment).items():
        try:
            ref = parse_image_ref(image)
        except UsageError:
            continue
        if (ref.registry, ref.repository) == (wanted.registry, wanted.repository):
            return name, image
    images = template_images(deployment)
    return (next(iter(images)), "") if len(images) == 1 else (None, "")


def alias_selector(app: Obj, alias: str, service: str, override: str | None = None) -> str | None:
    """Rules 1 and 2: the selector named for the alias, if any."""
    if override:
        return override
    annotations = app.get("metadata", {}).get("annotations") or {}
    named = annotations.get(SELECTOR_ANNOTATION.format(alias=alias))
    if named:
        return str(named)
    if alias == "canary":
        return DEFAULT_SELECTOR.format(service=service)
    return None


def resolve_workloads(
    app: Obj,
    configs: tuple[ImageConfig, ...],
    deployments: list[Obj],
    *,
    service: str,
    patched: dict[str, set[str]] | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, Workload | Problem]:
    """Map every alias to its Deployment, or to a Problem saying why none could be chosen.

    ``patched`` maps an alias to the Deployments the Application's patches pin for it.
    """
    found: dict[str, Workload | Problem] = {}
    claimed: set[str] = set()
    pending = []
    for config in configs:
        selector = alias_selector(app, config.alias, service, (overrides or {}).get(config.alias))
        if selector is None:
            pending.append(config)
            continue
        matches = canary_deployments(deployments, selector)
        if len(matches) != 1:
            found[config.alias] = Problem(
                "workload-not-found" if not matches else "workload-ambiguous",
                f"{len(matches)} Deployment(s) have pods labelled {selector} for alias "
                f"{config.alias!r}",
                f"set the annotation {SELECTOR_ANNOTATION.format(alias=config.alias)} on the "
                "Application to the pod labels of the alias's Deployment",
            )
            continue
        name = matches[0]["metadata"]["name"]
        claimed.add(name)
        found[config.alias] = Workload(
            name, _container_for(matches[0], config)[0], selector, "selector"
        )
    for config in pending:
        found[config.alias] = _by_image(config, deployments, claimed, (patched or {}))
    return found


def _by_image(
    config: ImageConfig, deployments: list[Obj], claimed: set[str], patched: dict[str, set[str]]
) -> Workload | Problem:
    running = []
    for d in deployments:
        container, image = _container_for(d, config)
        if d["metadata"]["name"] not in claimed and container is not None and image:
            running.append((d, container, image))
    tagged = [r for r in running if image_tag(r[2]) == config.image.tag and config.image.tag]
    targeted = [r for r in running if r[0]["metadata"]["name"] in patched.get(config.alias, set())]
    for candidates, how in (
        (tagged, "watched tag"),
        (targeted, "patch target"),
        (running, "image"),
    ):
        if len(candidates) == 1:
            d, container, _ = candidates[0]
            claimed.add(d["metadata"]["name"])
            return Workload(d["metadata"]["name"], container, _match_labels(d), how)
    return Problem(
        "workload-ambiguous" if running else "workload-not-found",
        f"{len(running)} Deployment(s) run {config.image.full_name} for alias {config.alias!r}",
        f"set the annotation {SELECTOR_ANNOTATION.format(alias=config.alias)} on the "
        "Application to the pod labels of the alias's Deployment",
    )


def image_tag(image: str) -> str | None:
    try:
        return parse_image_ref(image).tag
    except UsageError:
        return None


def pod_images(
    deployment: Obj, replicasets: list[Obj], pods: list[Obj], container: str | None
) -> list[PodImage]:
    """imageIDs of the live pods of the Deployment's newest ReplicaSet."""
    newest = newest_replicaset(deployment, replicasets)
    hash_label = ((newest or {}).get("metadata", {}).get("labels") or {}).get("pod-template-hash")
    out = []
    for pod in pods:
        meta = pod.get("metadata", {})
        if (
            meta.get("deletionTimestamp")
            or (meta.get("labels") or {}).get("pod-template-hash") != hash_label
        ):
            continue
        for status in pod.get("status", {}).get("containerStatuses") or []:
            if container is None or status.get("name") == container:
                image_id = str(status.get("imageID") or "")
                out.append(
                    PodImage(
                        str(meta.get("name")),
                        image_id,
                        digest_from_image_id(image_id),
                        bool(status.get("ready")),
                    )
                )
                break
    return sorted(out, key=lambda p: p.pod)
