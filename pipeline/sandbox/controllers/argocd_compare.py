"""Desired-vs-live comparison and the apply merge of the sandbox Argo CD (pure functions).

- Tracking (Argo CD v3 default, ``docs/user-guide/resource_tracking.md``): the annotation
  ``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>``; the sandbox also
  sets the ``app.kubernetes.io/instance`` label (the label method's marker).
- Sync status: a resource is Synced when every field git specifies has the same value live
  (extra live fields such as defaults and ``status`` are ignored), OutOfSync otherwise.
- Apply: like ``kubectl apply`` (client-side): the object keeps a
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation, and a field that was in the
  last applied configuration but is gone from git is removed; lists are replaced whole.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]

TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def resource_ref(obj: Obj) -> dict[str, str]:
    """``{group, version, kind, namespace, name}`` as in ``status.resources[]``."""
    group, version = group_version(obj.get("apiVersion", ""))
    meta = obj.get("metadata", {})
    return {
        "group": group,
        "version": version,
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
    }


def tracking_id(app_name: str, obj: Obj) -> str:
    ref = resource_ref(obj)
    return f"{app_name}:{ref['group']}/{ref['kind']}:{ref['namespace']}/{ref['name']}"


def with_tracking(obj: Obj, app_name: str, namespace: str | None) -> Obj:
    """The object Argo CD applies: ``namespace`` defaulted (None for cluster-scoped kinds, which
    lose any namespace), tracking annotation and instance label set."""
    desired = copy.deepcopy(obj)
    meta = desired.setdefault("metadata", {})
    if namespace is None:
        meta.pop("namespace", None)
    elif not meta.get("namespace"):
        meta["namespace"] = namespace
    meta.setdefault("annotations", {})[TRACKING_ID] = tracking_id(app_name, desired)
    meta.setdefault("labels", {})[INSTANCE_LABEL] = app_name
    return desired


def with_last_applied(desired: Obj) -> Obj:
    """``desired`` carrying its own JSON as the last-applied annotation (``kubectl apply``)."""
    result = copy.deepcopy(desired)
    annotations = result.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.pop(LAST_APPLIED, None)
    text = json.dumps(result, sort_keys=True, separators=(",", ":"))
    annotations[LAST_APPLIED] = text
    return result


def is_subset(desired: Any, live: Any) -> bool:
    """Every field in ``desired`` has the same value in ``live`` (lists element-wise)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and is_subset(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return bool(desired == live) and isinstance(desired, bool) == isinstance(live, bool)
    return bool(desired == live)


def in_sync(desired: Obj, live: Obj | None) -> bool:
    if live is None:
        return False
    compared = copy.deepcopy(desired)
    meta = compared.get("metadata", {})
    meta.get("annotations", {}).pop(LAST_APPLIED, None)
    if meta.get("annotations") == {}:
        del meta["annotations"]
    return is_subset(compared, live)


def _three_way(live: Obj, desired: Obj, last: Any) -> Obj:
    merged = dict(live)
    if isinstance(last, dict):
        for key in last:
            if key not in desired:
                merged.pop(key, None)
    for key, value in desired.items():
        live_value = live.get(key)
        if isinstance(value, dict) and isinstance(live_value, dict):
            last_value = last.get(key) if isinstance(last, dict) else None
            merged[key] = _three_way(live_value, value, last_value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def applied(live: Obj, desired: Obj) -> Obj:
    """The object to PUT when ``desired`` (with its last-applied annotation) is applied over
    ``live``; ``status`` and server-set metadata are kept from ``live``."""
    text = live.get("metadata", {}).get("annotations", {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except ValueError:
        last = None
    merged = _three_way(live, desired, last)
    merged["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
    return merged
