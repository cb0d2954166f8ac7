"""Create, update, patch: the REST strategies (``pkg/registry/*/strategy.go``) over the store.

- Create: namespace must exist (404 ``namespaces "x" not found``) and not be terminating
  (403); name or generateName; DNS-1123 validation (422); defaults; status reset for kinds
  whose strategy resets it (Pod ``Pending``, Deployment/ReplicaSet empty, CRs with a status
  subresource drop it).
- Update/patch on the main endpoint: kinds with a status subresource keep the stored status;
  on ``/status`` only status (plus labels/annotations) changes.
- Optimistic concurrency: a resourceVersion in the body (PUT or patch) that differs from the
  stored one is 409 Conflict; a PUT of a custom resource without one is 422 (reference E.2,
  ``customResourceStrategy.AllowUnconditionalUpdate`` is false).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.decoding import check_field_types, check_sizes
from pipeline.sandbox.apiserver.defaults import apply_defaults, initial_status
from pipeline.sandbox.apiserver.kindvalidation import validate_object
from pipeline.sandbox.apiserver.lifecycle import Lifecycle
from pipeline.sandbox.apiserver.managedfields import record_update
from pipeline.sandbox.apiserver.objectmeta import (
    generated_name,
    now_rfc3339,
    prepare_create,
    prepare_update,
    same_object,
)
from pipeline.sandbox.apiserver.resources import ResourceType, find
from pipeline.sandbox.apiserver.serversideapply import apply
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.validation import validate_name

Obj = dict[str, Any]
NAMESPACES = find("", "v1", "namespaces")
SERVICE_ACCOUNTS = find("", "v1", "serviceaccounts")
assert NAMESPACES is not None and SERVICE_ACCOUNTS is not None


def drop_nulls(value: Any) -> Any:
    """Nulls in objects vanish on write: CRD structural pruning drops nulls in non-nullable
    fields (reference E.1: ``add /operation null`` removes ``.operation``), and Go decoding of
    built-ins turns them into omitted zero values."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _check_type(rt: ResourceType, obj: Obj) -> None:
    if not isinstance(obj, dict):
        raise st.bad_request(f"Object '{rt.kind}' is invalid: body must be a JSON object")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version not in (None, rt.api_version) or kind not in (None, rt.kind):
        raise st.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
            if api_version != rt.api_version
            else f"Object kind {kind} does not match the expected kind {rt.kind}"
        )
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    check_field_types(rt, obj)
    obj.setdefault("metadata", {})


def _track(
    rt: ResourceType, old: Obj | None, new: Obj, manager: str | None, subresource: str | None
) -> None:
    if manager is None:
        return
    managed = record_update(rt, old, new, manager, subresource, now_rfc3339())
    if managed:
        new["metadata"]["managedFields"] = managed
    else:
        new["metadata"].pop("managedFields", None)


class Operations:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lifecycle = Lifecycle(store)
        # admission-time mutators/validators run on every create after defaulting
        self.admission: list[Callable[[ResourceType, Obj], None]] = []
        # and on every update/patch, with (rt, stored, wanted) before defaulting
        self.update_admission: list[Callable[[ResourceType, Obj, Obj], None]] = []

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.find(NAMESPACES, "", namespace)  # type: ignore[arg-type]
        if ns is None:
            raise st.namespace_not_found(namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise st.forbidden(
                rt,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Obj,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> Obj:
        """Create ``body``; ``manager`` (the request's field manager) is recorded as an Update
        in managedFields (None: server-internal, or managedFields already computed)."""
        _check_type(rt, body)
        obj: Obj = drop_nulls(body)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise st.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise st.internal("resourceVersion should not be set on objects to be created")
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = generated_name(str(meta["generateName"]))
            name = str(meta.get("name") or "")
            validate_name(rt, name)
            self._check_namespace(rt, namespace, name)
            if self.store.find(rt, namespace if rt.namespaced else "", name) is not None:
                raise st.already_exists(rt, name)
            prepare_create(rt, obj)
            apply_defaults(rt.kind, obj)
            fresh = initial_status(rt.kind, obj)
            if fresh is not None:
                obj["status"] = fresh
            elif rt.has_status_subresource and rt.kind != "Node":
                # nodeStrategy.PrepareForCreate keeps status (kwok creates nodes with one)
                obj.pop("status", None)
            check_sizes(rt, obj)
            validate_object(rt, obj)
            for admit in self.admission:
                admit(rt, obj)
            _track(rt, None, obj, manager, None)
            if dry_run:  # ?dryRun=All: validated and defaulted, never stored
                return obj
            obj["apiVersion"] = rt.stored_api_version
            created = self.store.commit(rt, None, obj)
            if rt.kind == "Namespace":
                self._default_service_account(name)
            return created

    def _default_service_account(self, namespace: str) -> None:
        """The ServiceAccount controller's job: every namespace gets ``default``."""
        sa_rt = SERVICE_ACCOUNTS
        assert sa_rt is not None
        if self.store.find(sa_rt, namespace, "default") is None:
            sa: Obj = {"apiVersion": "v1", "kind": "ServiceAccount"}
            sa["metadata"] = {"name": "default", "namespace": namespace}
            prepare_create(sa_rt, sa)
            self.store.commit(sa_rt, None, sa)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> Obj:
        _check_type(rt, body)
        meta = body["metadata"]
        if meta.get("name") not in (None, name):
            raise st.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise st.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if not rt.builtin and not meta.get("resourceVersion"):
            raise st.invalid(
                rt,
                name,
                [
                    (
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
                by_resource=True,
            )
        return self.write(
            rt, namespace, name, lambda _: copy.deepcopy(body), subresource, dry_run, manager
        )

    def apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        config: Obj,
        manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Server-side apply of ``config`` by ``manager``; creates a missing object (True)."""
        with self.store.lock:
            if self.store.find(rt, namespace if rt.namespaced else "", name) is None:
                if subresource is not None:
                    raise st.not_found(rt, name)
                obj = apply(rt, None, config, manager, force, None, now_rfc3339())
                meta = obj.setdefault("metadata", {})
                if meta.get("name", name) != name:
                    raise st.bad_request(
                        f"the name of the object ({meta.get('name')}) does not match the name "
                        f"on the URL ({name})"
                    )
                meta["name"] = name
                return self.create(rt, namespace, obj, dry_run), True

            def change(current: Obj) -> Obj:
                return apply(rt, current, config, manager, force, subresource, now_rfc3339())

            return self.write(rt, namespace, name, change, subresource, dry_run), False

    def write(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> Obj:
        """Read-modify-write under the lock: ``change(current)`` returns the wanted object;
        ``manager`` is recorded as an Update in managedFields (see ``create``)."""
        ns_key = namespace if rt.namespaced else ""
        with self.store.lock:
            old = self.store.get(rt, ns_key, name)
            new = change(rt.view(old))
            if not isinstance(new, dict):
                raise st.bad_request("the patched object is not a JSON object")
            new = drop_nulls(new)
            _check_type(rt, new)
            meta = new["metadata"]
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise st.conflict(rt, name)
            if meta.get("name", name) != name:
                raise st.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on "
                    f"the URL ({name})"
                )
            meta["name"] = name
            if rt.namespaced:
                meta["namespace"] = namespace
            if subresource == "status":
                new = self._status_only(old, new)
            elif rt.has_status_subresource or rt.kind in ("Pod", "Namespace"):
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            for admit_update in self.update_admission:
                admit_update(rt, old, new)
            apply_defaults(rt.kind, new)  # before the generation check: defaults are no change
            check_sizes(rt, new)
            validate_object(rt, new)
            prepare_update(rt, old, new)
            _track(rt, old, new, manager, subresource)
            new["apiVersion"] = rt.stored_api_version
            if dry_run:
                return old if same_object(old, new) else new
            return self.store.commit(rt, old, new)

    @staticmethod
    def _status_only(old: Obj, new: Obj) -> Obj:
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = copy.deepcopy(new["status"])
        else:
            result.pop("status", None)
        for key in ("labels", "annotations"):
            if key in new["metadata"]:
                result["metadata"][key] = copy.deepcopy(new["metadata"][key])
        return result
