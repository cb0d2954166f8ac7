"""A container's environment from its spec, Secrets and ConfigMaps (``makeEnvironmentVariables``
in the kubelet's ``kubelet_pods.go``).

``envFrom`` comes first (with ``prefix``), then ``env`` entries in order, each able to use
``$(VAR)`` of earlier ones (``expansion.MappingFuncFor``; ``$$`` escapes). A missing Secret or
ConfigMap, or a missing key, fails with CreateContainerConfigError and the kubelet's message
(``secret "x" not found``, ``couldn't find key k in Secret ns/x``) unless ``optional: true``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
# (kind, namespace, name) -> the object's data map (decoded), or None when it does not exist
ObjectLookup = Callable[[str, str, str], dict[str, str] | None]

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ContainerConfigError(Exception):
    """Becomes waiting reason CreateContainerConfigError with this message."""


def secret_data(secret: Obj) -> dict[str, str]:
    data = {
        k: base64.b64decode(v).decode(errors="replace")
        for k, v in (secret.get("data") or {}).items()
    }
    data.update(secret.get("stringData") or {})
    return data


def expand(value: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR.sub(replace, value)


def _source(kind: str, ref: Obj, namespace: str, lookup: ObjectLookup) -> dict[str, str] | None:
    data = lookup(kind, namespace, str(ref.get("name", "")))
    if data is None and not ref.get("optional"):
        noun = "secret" if kind == "Secret" else "configmap"
        raise ContainerConfigError(f'{noun} "{ref.get("name")}" not found')
    return data


def container_env(container: Obj, namespace: str, lookup: ObjectLookup) -> dict[str, str]:
    """The resolved environment of ``container`` in pod namespace ``namespace``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in source:
                data = _source(kind, source[key], namespace, lookup) or {}
                env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        value_from = var["valueFrom"]
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if key not in value_from:
                continue
            ref = value_from[key]
            source = _source(kind, ref, namespace, lookup)
            if source is None:
                break
            data = source
            if ref["key"] not in data:
                if ref.get("optional"):
                    break
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {kind} {namespace}/{ref.get('name')}"
                )
            env[name] = data[ref["key"]]
        if "fieldRef" in value_from:
            env[name] = str(value_from["fieldRef"].get("fieldPath", ""))
    return env


def field_ref_values(
    pod: Obj, env: dict[str, str], container: Obj, pod_ip: str = "127.0.0.1"
) -> dict[str, str]:
    """Fill ``fieldRef`` variables (metadata.name/namespace/uid, spec.nodeName, status.podIP)."""
    fields = {
        "metadata.name": pod["metadata"].get("name", ""),
        "metadata.namespace": pod["metadata"].get("namespace", ""),
        "metadata.uid": pod["metadata"].get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
    }
    out = dict(env)
    for var in container.get("env") or []:
        field_ref = (var.get("valueFrom") or {}).get("fieldRef")
        if field_ref:
            out[var["name"]] = str(fields.get(field_ref.get("fieldPath", ""), ""))
    return out
