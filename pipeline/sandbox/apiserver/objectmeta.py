"""Server-owned object metadata: names, uids, timestamps, generation.

``k8s.io/apiserver/pkg/registry/rest/create.go`` (BeforeCreate: uid, creationTimestamp,
generateName with 5 random characters from ``utilrand.String``) and ``update.go``
(BeforeUpdate keeps uid/creationTimestamp; generation rules per strategy, see
reference E.2: built-ins and CRs with a status subresource bump on spec changes, a CR without
one on any change outside metadata).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]

# k8s.io/apimachinery/pkg/util/rand: consonants and digits that avoid bad words
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# k8s.io/apiserver/pkg/storage/names: maxNameLength 63, randomLength 5
_MAX_GENERATED_BASE = 63 - 5


def generated_name(prefix: str) -> str:
    """``names.SimpleNameGenerator.GenerateName``: the base cut to 58 characters, then 5 random
    ones, so a generated name never exceeds 63 (a ReplicaSet's pods keep a valid hostname)."""
    base = prefix[:_MAX_GENERATED_BASE]
    return base + "".join(random.choice(_ALPHANUMS) for _ in range(5))


def prepare_create(rt: ResourceType, obj: Obj) -> None:
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink"):
        meta.pop(key, None)
    if rt.generation:
        meta["generation"] = 1


def _comparable(rt: ResourceType, obj: Obj) -> Obj:
    skip = {"metadata"}
    if rt.builtin or rt.has_status_subresource:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


def prepare_update(rt: ResourceType, old: Obj, new: Obj) -> None:
    """Copy server-owned metadata from ``old`` and set ``generation``."""
    meta, old_meta = new.setdefault("metadata", {}), old["metadata"]
    for key in _SERVER_OWNED:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    meta.pop("selfLink", None)
    if rt.generation:
        bump = _comparable(rt, old) != _comparable(rt, new)
        meta["generation"] = int(old_meta.get("generation", 1)) + (1 if bump else 0)
    else:
        meta.pop("generation", None)


def same_object(old: Obj, new: Obj) -> bool:
    """True when a write changed nothing (resourceVersion aside): no RV bump, no event."""
    old_rv = old["metadata"].get("resourceVersion")
    new_meta = dict(new.get("metadata", {}))
    new_meta["resourceVersion"] = old_rv
    return {**new, "metadata": new_meta} == old
