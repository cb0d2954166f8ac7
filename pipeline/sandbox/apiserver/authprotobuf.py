"""Protobuf bodies of the RBAC, TokenRequest and self-review kinds.

kubectl's typed commands send these as protobuf (``kubectl create role|clusterrole|rolebinding|
clusterrolebinding``, ``create token``, ``auth can-i``, ``auth can-i --list``, ``auth whoami``).
Field numbers from ``k8s.io/api/{rbac,authentication,authorization}/v1/generated.proto``
(checked against kubectl 1.37's request bodies). proto2 sends empty strings for unset
optional strings; JSON omits them, so they are dropped here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver.protowire import fields, object_meta

Obj = dict[str, Any]


def _message(data: bytes, strings: dict[int, str], lists: dict[int, str] | None = None) -> Obj:
    """A flat message of optional strings and repeated strings."""
    out: Obj = {}
    for number, _, raw in fields(data):
        if number in strings and raw:
            out[strings[number]] = raw.decode()
        elif lists and number in lists:
            out.setdefault(lists[number], []).append(raw.decode())
    return out


_RULE = {1: "verbs", 2: "apiGroups", 3: "resources", 4: "resourceNames", 5: "nonResourceURLs"}
_SUBJECT = {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"}
_ROLE_REF = {1: "apiGroup", 2: "kind", 3: "name"}
_RESOURCE_ATTRIBUTES = {
    1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource",
    7: "name",
}  # fmt: skip
_NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}
_BOUND_OBJECT = {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"}


def _role(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            obj.setdefault("rules", []).append(_message(raw, {}, _RULE))
    return obj


def _binding(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            subject = _message(raw, _SUBJECT)
            subject.setdefault("apiGroup", "")  # ServiceAccount subjects carry it empty
            obj.setdefault("subjects", []).append(subject)
        elif number == 3:
            obj["roleRef"] = _message(raw, _ROLE_REF)
    return obj


def _token_request(data: bytes) -> Obj:
    obj: Obj = {"spec": {}}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            for n, _, value in fields(raw):
                if n == 1:
                    obj["spec"].setdefault("audiences", []).append(value.decode())
                elif n == 4:
                    obj["spec"]["expirationSeconds"] = value
                elif n == 3:
                    obj["spec"]["boundObjectRef"] = _message(value, _BOUND_OBJECT)
    return obj


def _access_review(data: bytes) -> Obj:
    obj: Obj = {"spec": {}}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            for n, _, value in fields(raw):
                if n == 1:
                    attrs = _message(value, _RESOURCE_ATTRIBUTES)
                    obj["spec"]["resourceAttributes"] = attrs
                elif n == 2:
                    attrs = _message(value, _NON_RESOURCE_ATTRIBUTES)
                    obj["spec"]["nonResourceAttributes"] = attrs
    return obj


def _rules_review(data: bytes) -> Obj:
    obj: Obj = {"spec": {}}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            obj["spec"] = _message(raw, {1: "namespace"})
    return obj


def _user_review(data: bytes) -> Obj:
    meta = next((object_meta(raw) for n, _, raw in fields(data) if n == 1), {})
    return {"metadata": meta}


AUTH_DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Role": _role,
    "ClusterRole": _role,
    "RoleBinding": _binding,
    "ClusterRoleBinding": _binding,
    "TokenRequest": _token_request,
    "SelfSubjectAccessReview": _access_review,
    "SelfSubjectRulesReview": _rules_review,
    "SelfSubjectReview": _user_review,
}
