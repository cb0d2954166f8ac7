"""Do the registry, the Application's pin and the pods agree? A pure judgement with a reason.

Digests are compared as ``sha256:<hex>`` only: the pod's ``imageID`` is normalised first
(``docker-pullable://``, repository prefix; reference/argocd-image-updater.md 8.4), and for a
multi-arch image the registry's HEAD digest and the imageID are both the index digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.images import same_digest
from pipeline.inspect.pins import Pin
from pipeline.inspect.workloads import PodImage


@dataclass(frozen=True)
class Agreement:
    agree: bool
    reason: str  # stable identifier
    message: str


def _short(digest: str | None) -> str:
    return digest[:19] if digest else "nothing"


def judge(
    registry_digest: str | None,
    pin: Pin | None,
    pods: list[PodImage],
    template_image: str | None = None,
) -> Agreement:
    """Agreement when every pod of the newest ReplicaSet runs the pinned digest, and the pin
    is what the registry's tag points at now (without a pin: the pods run the tag's digest).
    ``template_image``: the live Deployment's image for the container, to tell a pin that the
    rendered manifests lose (an overlay rewrite: a sync does not help) from pods not rolled
    out yet."""
    pinned = pin.digest if pin else None
    started = [p for p in pods if p.digest]
    if registry_digest is None:
        return Agreement(False, "registry-unknown", "the registry has no digest for the tag")
    if pin is not None and pinned is None:
        return Agreement(
            False, "pin-without-digest", f"the Application pins {pin.image} without a digest"
        )
    if pinned is not None and not same_digest(pinned, registry_digest):
        return Agreement(
            False,
            "registry-ahead",
            f"the registry's tag points at {_short(registry_digest)}, the Application pins "
            f"{_short(pinned)}: run `pipeline poll --once` or deploy-canary",
        )
    if pinned is not None and template_image and pinned.split(":")[-1] not in template_image:
        return Agreement(
            False,
            "pin-not-rendered",
            f"the Application pins {_short(pinned)} but the live Deployment runs "
            f"{template_image}: something rewrites the image after the pin (an overlay "
            "`images` entry on the same name, or another patch). A sync does not fix it; "
            "see docs/troubleshooting.md, override-rewrote-image",
        )
    if not pods:
        return Agreement(False, "no-pods", "no pod of the workload's newest ReplicaSet exists")
    if len(started) < len(pods):
        waiting = ", ".join(p.pod for p in pods if not p.digest)
        return Agreement(False, "pods-starting", f"pod(s) {waiting} have no imageID yet")
    expected = pinned or registry_digest
    stale = [p for p in started if not same_digest(p.digest, expected)]
    if stale:
        runs = ", ".join(f"{p.pod} runs {_short(p.digest)}" for p in stale)
        where = "pinned" if pinned else "in the registry"
        return Agreement(
            False, "pods-behind", f"{runs}; {_short(expected)} is {where}: sync or roll out"
        )
    what = "pin, registry" if pinned else "registry (tag not pinned)"
    return Agreement(True, "agree", f"{what} and {len(pods)} pod(s) agree on {_short(expected)}")
