"""Image pulls for one pod's containers, like the kubelet's ``images/image_manager.go``.

* An image loaded with ``pipeline sandbox load-image`` (``loadedimages.py``) is present on the
  node: unless the policy is ``Always``, it is used without any registry request.
* ``imagePullPolicy``: ``Always`` resolves the reference again on every container start;
  ``IfNotPresent`` reuses what this node pulled for the same spec string; ``Never`` fails with
  ErrImageNeverPull when nothing was pulled.
* A failed pull reports ErrImagePull and starts the pull backoff; while it runs the container
  waits in ImagePullBackOff (``Back-off pulling image "x"``), as ``IsInBackOffSinceUpdate``.
* Credentials come from the pod's ``imagePullSecrets``; missing ones only warn
  (``FailedToRetrieveImagePullSecret``), as the kubelet does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.adapters.credentials import PullSecretCredentials
from pipeline.core.images import ImageRef
from pipeline.errors import PipelineError
from pipeline.sandbox.controllers.containers import RuntimeRefused
from pipeline.sandbox.controllers.eventrecorder import NORMAL, WARNING
from pipeline.sandbox.controllers.imagepull import (
    ImageResolveError,
    ResolvedImage,
    backoff_message,
    never_pull_message,
    pull_policy,
)
from pipeline.sandbox.controllers.node import ContainerWaiting, NodeContext, go_duration
from pipeline.sandbox.kubeclient import resource_path

Obj = dict[str, Any]


def ensure_image(node: NodeContext, pod: Obj, container: Obj, ref: ImageRef) -> ResolvedImage:
    """The resolved (and, with Docker, pulled) image, honouring pull policy and backoff."""

    def event(event_type: str, reason: str, message: str) -> None:
        node.recorder.event(pod, event_type, reason, message)

    image = container["image"]
    policy = pull_policy(container)
    loaded = node.loaded.get(image) if policy != "Always" else None
    if loaded and node.runtime.has_image(loaded):
        event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return ResolvedImage(ref, "", local_id=loaded)
    with node.images_lock:
        cached = node.images.get(image)
    present = cached is not None and node.runtime.has_image(cached.image_id)
    if policy == "Never" and not present:
        event(WARNING, "ErrImageNeverPull", never_pull_message(image))
        raise ContainerWaiting("ErrImageNeverPull", never_pull_message(image), None)
    if cached is not None and present and policy != "Always":
        event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return cached
    key = f"{pod['metadata']['uid']}_{image}"
    now = node.clock()
    if node.pull_backoff.in_backoff_since_update(key, now):
        event(NORMAL, "BackOff", backoff_message(image))
        event(WARNING, "Failed", "Error: ImagePullBackOff")
        wait = max(node.pull_backoff.remaining_since_update(key), 0.01)
        raise ContainerWaiting("ImagePullBackOff", backoff_message(image), wait)
    event(NORMAL, "Pulling", f'Pulling image "{image}"')
    secrets = pull_secrets(node, pod)
    try:
        resolved = node.resolver.resolve(ref, secrets)
        if not node.runtime.has_image(resolved.image_id):
            creds = PullSecretCredentials(list(secrets))(ref.registry) if secrets else None
            node.runtime.pull(resolved.image_id, creds)
    except (ImageResolveError, RuntimeRefused, PipelineError) as e:
        message = (
            e.message
            if isinstance(e, ImageResolveError)
            else (f"rpc error: code = Unknown desc = {e}")
        )
        event(WARNING, "Failed", f'Failed to pull image "{image}": {message}')
        event(WARNING, "Failed", "Error: ErrImagePull")
        backoff = node.pull_backoff.next(key, node.clock())
        raise ContainerWaiting("ErrImagePull", message, min(backoff / 2, 1.0)) from e
    took = go_duration(max(node.clock() - now, 0.001))
    event(NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took}')
    with node.images_lock:
        node.images[image] = resolved
    return resolved


def pull_secrets(node: NodeContext, pod: Obj) -> list[Mapping[str, Any]]:
    """The pod's imagePullSecrets that exist; a Warning event names the missing ones."""
    namespace = pod["metadata"]["namespace"]
    found: list[Mapping[str, Any]] = []
    missing: list[str] = []
    for ref in pod["spec"].get("imagePullSecrets") or []:
        secret = node.client.get_or_none(
            resource_path("v1", "secrets", namespace, ref.get("name", ""))
        )
        if secret is None:
            missing.append(ref.get("name", ""))
        else:
            found.append(secret)
    if missing:
        node.recorder.event(
            pod,
            WARNING,
            "FailedToRetrieveImagePullSecret",
            f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
            "attempting to pull the image may not succeed.",
        )
    return found
