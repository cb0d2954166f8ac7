"""Name validation and field validation (``fieldValidation=Strict|Warn|Ignore``).

Names: ``k8s.io/apimachinery/pkg/util/validation/validation.go`` (DNS-1123 subdomain for most
kinds; DNS-1123 label for Namespace; RBAC kinds only need a valid path segment).
Unknown fields: ``apiserver/pkg/endpoints/handlers``
strict decoding answers 400 ``strict decoding error: unknown field "spec.foo"``; Warn and
Ignore drop them (built-in decoding and CRD structural pruning both drop unknown fields).
Known fields are checked at the top level, in ``metadata`` and in ``spec``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pipeline.sandbox.apiserver import pruning
from pipeline.sandbox.apiserver.resources import RBAC, ResourceType
from pipeline.sandbox.apiserver.status import bad_request, invalid

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

# apimachinery/pkg/util/validation/validation.go: IsQualifiedName, IsValidLabelValue, RegexError
_QUALIFIED_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED = re.compile(f"^{_QUALIFIED_FMT}$")
_LABEL_VALUE_FMT = f"({_QUALIFIED_FMT})?"
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FMT}$")
QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    f"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_FMT}')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE_FMT}')"
)


_CACHED = 320  # longer strings are never valid keys or values: not worth keeping


def qualified_name_problems(value: str) -> tuple[str, ...]:
    """``validation.IsQualifiedName``: ``[prefix/]name`` (label keys, annotation keys)."""
    if len(value) > _CACHED:
        return tuple(_qualified_name_problems(value))
    return _cached_qualified_name_problems(value)


@functools.lru_cache(maxsize=4096)  # keys repeat across objects: checked once each
def _cached_qualified_name_problems(value: str) -> tuple[str, ...]:
    return tuple(_qualified_name_problems(value))


def _qualified_name_problems(value: str) -> list[str]:
    parts = value.split("/")
    problems: list[str] = []
    if len(parts) > 2:
        return [
            f"a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and "
            "'/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            problems.append("prefix part must be no more than 253 characters")
        elif not _SUBDOMAIN.match(prefix):
            problems.append(f"prefix part {SUBDOMAIN_MSG}")
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED.match(name):
        problems.append(f"name part {QUALIFIED_NAME_MSG}")
    return problems


def _value(value: str) -> tuple[str, ...]:
    """``validation.IsValidLabelValue``."""
    return _label_value(value) if len(value) <= _CACHED else _label_value.__wrapped__(value)


@functools.lru_cache(maxsize=4096)
def _label_value(value: str) -> tuple[str, ...]:
    problems = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _LABEL_VALUE.match(value):
        problems.append(LABEL_VALUE_MSG)
    return tuple(problems)


def metadata_causes(meta: Obj) -> list[tuple[str, str]]:
    """``ValidateLabels`` and the key checks of ``ValidateAnnotations`` (keys sorted: Go
    walks maps in random order), as 422 causes."""
    causes: list[tuple[str, str]] = []
    labels = meta.get("labels") or {}
    for key in sorted(labels):
        problems = qualified_name_problems(key)
        causes += [("metadata.labels", f'Invalid value: "{key}": {p}') for p in problems]
        value = str(labels[key])
        causes += [("metadata.labels", f'Invalid value: "{value}": {p}') for p in _value(value)]
    for key in sorted(meta.get("annotations") or {}):
        causes += [
            ("metadata.annotations", f'Invalid value: "{key}": {p}')
            for p in qualified_name_problems(key.lower())
        ]
    return causes


OBJECT_META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip

SPEC_FIELDS: dict[str, frozenset[str]] = {
    "Deployment": frozenset(
        {"replicas", "selector", "template", "strategy", "minReadySeconds",
         "revisionHistoryLimit", "paused", "progressDeadlineSeconds"}
    ),
    "ReplicaSet": frozenset({"replicas", "minReadySeconds", "selector", "template"}),
    "Pod": frozenset(
        {"volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
         "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
         "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
         "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
         "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName",
         "tolerations", "hostAliases", "priorityClassName", "priority", "dnsConfig",
         "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy",
         "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
         "schedulingGates", "resourceClaims", "resources", "hostnameOverride"}
    ),
    "Namespace": frozenset({"finalizers"}),
    "Node": frozenset(
        {"podCIDR", "podCIDRs", "providerID", "unschedulable", "taints", "configSource",
         "externalID"}
    ),
    "Application": frozenset(
        {"source", "sources", "destination", "project", "syncPolicy", "ignoreDifferences",
         "info", "revisionHistoryLimit", "sourceHydrator"}
    ),
}  # fmt: skip


def validate_name(rt: ResourceType, name: str) -> None:
    """422 Invalid for a name the real apiserver would refuse."""
    if not name:
        raise invalid(
            rt, "", [("metadata.name", "Required value: name or generateName is required")]
        )
    if rt.group == RBAC:  # ValidateRBACName = path.IsValidPathSegmentName ("system:view")
        problems = [f"may not be '{name}'"] if name in (".", "..") else []
        problems += [f"may not contain '{c}'" for c in "/%" if c in name]
        if problems:
            raise invalid(rt, name, [("metadata.name", f'Invalid value: "{name}": {problems[0]}')])
        return
    pattern, message, limit = (
        (_LABEL, LABEL_MSG, 63) if rt.kind == "Namespace" else (_SUBDOMAIN, SUBDOMAIN_MSG, 253)
    )
    if len(name) > limit:
        message = f"must be no more than {limit} characters"
    elif pattern.match(name):
        return
    raise invalid(rt, name, [("metadata.name", f'Invalid value: "{name}": {message}')])


def unknown_fields(rt: ResourceType, obj: Obj) -> list[str]:
    """Dotted paths of fields the kind's schema does not have."""
    if rt.schema is not None:  # a kind served by a CRD: its structural schema decides
        meta = obj.get("metadata")
        extra = (
            [f"metadata.{k}" for k in meta if k not in OBJECT_META_FIELDS]
            if isinstance(meta, dict)
            else []
        )
        return pruning.unknown_fields(rt.schema, obj) + extra
    known_top = {"apiVersion", "kind", "metadata", *rt.fields}
    unknown = [k for k in obj if k not in known_top]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        unknown += [f"metadata.{k}" for k in meta if k not in OBJECT_META_FIELDS]
    spec_fields = SPEC_FIELDS.get(rt.kind)
    spec = obj.get("spec")
    if spec_fields is not None and isinstance(spec, dict):
        unknown += [f"spec.{k}" for k in spec if k not in spec_fields]
    return unknown


def apply_field_validation(rt: ResourceType, obj: Obj, directive: str | None) -> list[str]:
    """Enforce ``fieldValidation``: Strict raises 400; otherwise drop unknown fields and
    return the warnings to send (only for Warn, the server default when unset)."""
    unknown = unknown_fields(rt, obj)
    if not unknown:
        return []
    mode = (directive or "Warn").strip()
    if mode not in ("Strict", "Warn", "Ignore"):
        raise bad_request(
            f"fieldValidation must be one of Ignore, Warn or Strict, got {directive!r}"
        )
    if mode == "Strict":
        raise bad_request(
            "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)
        )
    if rt.schema is not None:
        pruning.prune(rt.schema, obj)
        if isinstance(obj.get("metadata"), dict):
            for key in [k for k in obj["metadata"] if k not in OBJECT_META_FIELDS]:
                del obj["metadata"][key]
        return [f'unknown field "{f}"' for f in unknown] if mode == "Warn" else []
    for path in unknown:
        parent: Any = obj
        *heads, last = path.split(".")
        for head in heads:
            parent = parent.get(head, {})
        parent.pop(last, None)
    return [f'unknown field "{f}"' for f in unknown] if mode == "Warn" else []
