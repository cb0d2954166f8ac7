"""What state is the canary rollout in: a pure classifier over recorded API objects.

Follows the kubelet's waiting reasons (``pkg/kubelet/kuberuntime/kuberuntime_container.go``,
``pkg/kubelet/images/types.go``), kubectl's rollout-complete rule
(``polymorphichelpers/rollout_status.go``) and the "newest ReplicaSet" rule of the Deployment
controller (revision annotation, ``pod-template-hash`` label). Skaffold's
``pkg/diag/validator/validator.go`` is the model for failing fast on pull and crash states.
The loop that feeds this classifier lives in verify.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.images import image_id_is

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
PULL_REASONS = {
    "ErrImagePull": "err-image-pull",
    "ImagePullBackOff": "image-pull-backoff",
    "InvalidImageName": "invalid-image-name",
    "ErrImageNeverPull": "err-image-pull",
    "RegistryUnavailable": "err-image-pull",
}
CONFIG_REASONS = {"CreateContainerConfigError": "container-config-error"}
START_REASONS = {
    "CreateContainerError": "container-start-error",
    "RunContainerError": "container-start-error",
}


@dataclass(frozen=True)
class PodObservation:
    """What one canary pod reports; ``failure`` is a stable reason or ""."""

    name: str
    image_id: str
    ready: bool
    restarts: int
    waiting: str
    message: str
    ours: bool  # imageID's digest is the pushed digest
    failure: str = ""
    running: bool = False  # the container's state is running (since its last restart)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "imageID": self.image_id,
            "ready": self.ready,
            "restarts": self.restarts,
            "waiting": self.waiting,
        }


@dataclass(frozen=True)
class Verdict:
    state: str  # "done" | "waiting" | "failed"
    reason: str = ""
    message: str = ""
    pod: str = ""  # the failing pod, for diagnostics
    container: str = ""


def _status_of(pod: Obj, container: str | None) -> Obj:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    for status in statuses:
        if container is None or status.get("name") == container:
            return dict(status)
    return {}


def observe_pod(
    pod: Obj, digest: str, container: str | None, crash_restarts: int, config_digest: str = ""
) -> PodObservation:
    status = _status_of(pod, container)
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = str(waiting.get("reason") or "")
    restarts = int(status.get("restartCount") or 0)
    last_exit = ((status.get("lastState") or {}).get("terminated") or {}).get("exitCode")
    failure = PULL_REASONS.get(reason) or CONFIG_REASONS.get(reason) or START_REASONS.get(reason)
    crashing = reason == "CrashLoopBackOff" or (
        last_exit not in (None, 0) and not status.get("ready")
    )
    if not failure and crashing and restarts >= crash_restarts:
        failure = "crash-loop"
    image_id = str(status.get("imageID") or "")
    return PodObservation(
        name=str(pod.get("metadata", {}).get("name", "")),
        image_id=image_id,
        ready=bool(status.get("ready")),
        restarts=restarts,
        waiting=reason,
        message=str(waiting.get("message") or ""),
        ours=image_id_is(image_id, digest, config_digest),
        failure=failure or "",
        running=bool((status.get("state") or {}).get("running")),
    )


def labels_match(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selector (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def canary_deployments(deployments: list[Obj], selector: str) -> list[Obj]:
    """Deployments whose pod template carries the canary selector's labels."""
    return [
        d
        for d in deployments
        if labels_match(
            selector, d.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
        )
    ]


def template_images(deployment: Obj) -> dict[str, str]:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    return {str(c.get("name")): str(c.get("image", "")) for c in containers or []}


def newest_replicaset(deployment: Obj, replicasets: list[Obj]) -> Obj | None:
    """The ReplicaSet controlled by ``deployment`` with the Deployment's revision."""
    uid = deployment.get("metadata", {}).get("uid")
    revision = (deployment.get("metadata", {}).get("annotations") or {}).get(REVISION)
    for rs in replicasets:
        meta = rs.get("metadata", {})
        owned = any(
            o.get("uid") == uid and o.get("controller") for o in meta.get("ownerReferences") or []
        )
        if owned and revision and (meta.get("annotations") or {}).get(REVISION) == revision:
            return rs
    return None


def _carries(replicaset: Obj, digest: str, container: str | None) -> bool:
    """Does the ReplicaSet's pod template run ``digest`` (in ``container``, else any)?"""
    images = template_images(replicaset)
    if container:
        return digest in images.get(container, "")
    return any(digest in image for image in images.values())


def _progress_deadline_exceeded(deployment: Obj) -> str:
    for cond in deployment.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message") or "progress deadline exceeded")
    return ""


def judge_rollout(
    deployment: Obj | None,
    replicasets: list[Obj],
    pods: list[Obj],
    digest: str,
    container: str | None,
    crash_restarts: int = 2,
    config_digest: str = "",
) -> tuple[Verdict, list[PodObservation]]:
    """Is the canary done (every ready replica runs ``digest``), still going, or failed?

    ``pods`` are the pods matched by the canary selector; pods being deleted are skipped. Only
    pods of the ReplicaSet whose template carries ``digest`` decide a failure, and only once
    the Deployment's ``observedGeneration`` reached our write: the pods and conditions of an
    earlier (failed) rollout are history.
    """
    if deployment is None:
        return Verdict("failed", "canary-workload-not-found", "the canary Deployment is gone"), []
    name = deployment.get("metadata", {}).get("name", "")
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    images = template_images(deployment)
    image = images.get(container or "", "") if container else next(iter(images.values()), "")
    if digest not in image:
        return (
            Verdict(
                "failed",
                "override-rewrote-image",
                f"the live canary Deployment {name} runs {image!r}, not our digest {digest}: "
                "something between the Application and the cluster rewrote the image",
            ),
            [],
        )
    observed = [observe_pod(p, digest, container, crash_restarts, config_digest) for p in live]
    # Until the controller has observed our template, the newest ReplicaSet and the Progressing
    # condition are the previous rollout's (a failed canary's pods are history, not a verdict).
    status = deployment.get("status", {})
    if deployment["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return Verdict(
            "waiting", "", "waiting for the Deployment spec update to be observed"
        ), observed
    newest = newest_replicaset(deployment, replicasets)
    if newest is None or not _carries(newest, digest, container):
        return Verdict("waiting", "", "waiting for the ReplicaSet of our template"), observed
    hash_label = (newest.get("metadata", {}).get("labels") or {}).get("pod-template-hash")
    new_names = {
        p["metadata"]["name"]
        for p in live
        if (p["metadata"].get("labels") or {}).get("pod-template-hash") == hash_label
    }
    for obs in observed:
        if obs.failure and obs.name in new_names:
            detail = f": {obs.message}" if obs.message else ""
            return (
                Verdict(
                    "failed",
                    obs.failure,
                    f"pod {obs.name} is {obs.waiting or obs.failure}{detail}",
                    obs.name,
                    container or "",
                ),
                observed,
            )
    deadline = _progress_deadline_exceeded(deployment)
    if deadline:
        return Verdict("failed", "progress-deadline-exceeded", deadline), observed
    wanted = max(1, int(deployment.get("spec", {}).get("replicas", 1)))
    ready = [o for o in observed if o.ready]
    ours = [o for o in ready if o.ours and o.name in new_names]
    if len(ours) >= wanted and len(ours) == len(ready):
        return Verdict("done", "", f"{len(ours)} ready replica(s) run {digest}"), observed
    return (
        Verdict(
            "waiting",
            "",
            f"{len(ours)} of {wanted} replica(s) ready with our digest, "
            f"{len(ready)} ready in total",
        ),
        observed,
    )
