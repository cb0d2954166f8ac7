"""Pod templates: the pod-template-hash, and the objects built from a template.

Follows kube-controller-manager: ``controller.ComputeHash`` (pkg/controller/controller_utils.go)
hashes the template with FNV-32a plus the collision count and encodes the decimal value with
``rand.SafeEncodeString`` (k8s.io/apimachinery/pkg/util/rand), so hashes contain no vowels and
cannot spell words. Kubernetes hashes a ``spew`` dump of the Go struct; we hash the canonical
JSON instead, which is just as stable across restarts but yields different values.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"

# k8s.io/apimachinery/pkg/util/rand: "bcdfghjklmnpqrstvwxz2456789"
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    value = _FNV32_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: map every byte onto the vowel-free alphabet."""
    return "".join(_SAFE_ALPHANUMS[ord(ch) % len(_SAFE_ALPHANUMS)] for ch in text)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` label value of a Deployment's ``spec.template``."""
    data = canonical_json(without_hash_label(template)).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def without_hash_label(template: Obj) -> Obj:
    """A copy of ``template`` without the pod-template-hash label (``EqualIgnoreHash``)."""
    out = copy.deepcopy(template)
    labels = out.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
        if not labels:
            out["metadata"].pop("labels")
    if "metadata" in out and not out["metadata"]:
        out.pop("metadata")
    return out


def templates_equal_ignoring_hash(a: Obj, b: Obj) -> bool:
    return canonical_json(without_hash_label(a)) == canonical_json(without_hash_label(b))


def owner_reference(owner: Obj) -> Obj:
    """A controller ownerReference pointing at ``owner``."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Obj) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences", []) or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def new_replica_set(deployment: Obj, template_hash: str, replicas: int, revision: int) -> Obj:
    """The ReplicaSet the deployment controller creates for the current template
    (``getNewReplicaSet`` in pkg/controller/deployment/sync.go)."""
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = template_hash
    selector = copy.deepcopy(deployment["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = template_hash
    labels = dict(template["metadata"]["labels"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{template_hash}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {REVISION: str(revision)},
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
            "selector": selector,
            "template": template,
        },
    }


def new_pod(replica_set: Obj) -> Obj:
    """A pod for ``replica_set`` (``GetPodFromTemplate`` in pkg/controller/controller_utils.go):
    labels and annotations from the template, ``generateName: <rs>-``, a controller ref."""
    template = replica_set["spec"]["template"]
    tmeta = template.get("metadata", {})
    metadata: Obj = {
        "generateName": f"{replica_set['metadata']['name']}-",
        "namespace": replica_set["metadata"]["namespace"],
        "labels": dict(tmeta.get("labels", {})),
        "ownerReferences": [owner_reference(replica_set)],
    }
    if tmeta.get("annotations"):
        metadata["annotations"] = dict(tmeta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": copy.deepcopy(template.get("spec", {})),
    }


def revision_of(obj: Obj) -> int:
    value = obj.get("metadata", {}).get("annotations", {}).get(REVISION, "0")
    try:
        return int(value)
    except ValueError:
        return 0
