"""CustomResourceDefinitions: a CRD object makes the server serve its kind.

Follows ``k8s.io/apiextensions-apiserver``:
- Create/update (``pkg/registry/customresourcedefinition/strategy.go``, ``validation``): the
  name must be ``<plural>.<group>``; ``scope`` Namespaced|Cluster; at least one version and
  exactly one ``storage: true``; a v1 CRD needs ``schema.openAPIV3Schema`` on every version.
  Defaults: ``names.singular`` (lower-case kind), ``names.listKind`` (``<Kind>List``),
  ``conversion.strategy: None``; the ``customresourcecleanup.apiextensions.k8s.io`` finalizer.
- Status: the naming and establishing controllers set ``NamesAccepted`` (``NoConflicts``,
  "no conflicts found") and ``Established`` (``InitialNamesAccepted``, "the initial names
  have been accepted"), ``acceptedNames`` and ``storedVersions``. Upstream that happens a
  moment after the create; here it is in the same request, so the kind is served as soon as
  the create returns (``kubectl wait --for condition=established`` passes at once).
- Every ``served`` version is served at ``/apis/<group>/<version>`` (discovery, OpenAPI v3
  from the schema, REST, watch, ``/status`` when ``subresources.status`` is declared, Tables
  from ``additionalPrinterColumns``); writes are pruned to the structural schema.
- Delete (the finalizer controller, ``pkg/controller/finalizer``): the CRD gets
  ``deletionTimestamp`` and a ``Terminating`` condition, every custom resource of it is
  deleted, the finalizer is removed and the kind stops being served (404).
A CRD for a group and plural the built-in table already serves (Argo CD's own kinds) is
stored and Established, but the built-in definition keeps serving it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.objectmeta import now_rfc3339
from pipeline.sandbox.apiserver.resources import ResourceType, served
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.watchers import Change

Obj = dict[str, Any]
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_ONE_STORAGE = "must have exactly one version marked as storage version"
CRDS = served("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def _condition(kind: str, status: str, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    }


def _validate(crd: Obj) -> list[tuple[str, str]]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"].get("name", "")
    causes: list[tuple[str, str]] = []
    if not spec.get("group"):
        causes.append(("spec.group", "Required value"))
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append((f"spec.names.{key}", "Required value"))
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    if names.get("plural") and spec.get("group") and name != expected:
        causes.append(
            ("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            ("spec.scope", f'Unsupported value: "{spec.get("scope", "")}": supported values: '
             '"Cluster", "Namespaced"')
        )  # fmt: skip
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        # upstream prints the whole Go value of spec.versions before the reason
        causes.append(("spec.versions", f"Invalid value: {_ONE_STORAGE}"))
    for n, version in enumerate(versions):
        if not version.get("name"):
            causes.append((f"spec.versions[{n}].name", "Required value"))
        if not (version.get("schema") or {}).get("openAPIV3Schema"):
            causes.append(
                (
                    f"spec.versions[{n}].schema.openAPIV3Schema",
                    "Required value: schemas are required",
                )
            )
    return causes


def _default(crd: Obj) -> None:
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        if isinstance(version, dict):
            version.setdefault("served", True)


def served_kinds(crd: Obj) -> list[ResourceType]:
    """One resource type per served version of ``crd``."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    storage = next((v.get("name", "") for v in spec.get("versions") or [] if v.get("storage")), "")
    kinds = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        schema = copy.deepcopy((version.get("schema") or {}).get("openAPIV3Schema") or {})
        subresources = version.get("subresources") or {}
        fields = tuple(
            k for k in schema.get("properties") or {} if k not in ("apiVersion", "kind", "metadata")
        )
        kinds.append(
            ResourceType(
                spec["group"], version["name"], names["kind"], names["plural"],
                tuple(names.get("shortNames") or ()),
                namespaced=spec.get("scope") == "Namespaced",
                subresources=("status",) if "status" in subresources else (),
                builtin=False, generation=True, fields=fields,
                categories=tuple(names.get("categories") or ()),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                storage_version=storage,
            )
        )  # fmt: skip
    return kinds


class CustomResourceDefinitions:
    """Wires CRD objects to the catalog of served kinds (admission, commit observer,
    deletion finalizer)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- admission (create and update, under the store lock) ---------------------------
    def on_create(self, rt: ResourceType, crd: Obj) -> None:
        if rt != CRDS:
            return
        self._check(crd)
        finalizers = crd["metadata"].setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        crd["status"] = self._status(crd, None)

    def on_update(self, rt: ResourceType, old: Obj, new: Obj) -> None:
        if rt != CRDS:
            return
        self._check(new)
        new["status"] = self._status(new, old.get("status"))

    def _check(self, crd: Obj) -> None:
        _default(crd)
        causes = _validate(crd)
        if causes:
            raise st.invalid(CRDS, crd["metadata"].get("name", ""), causes)

    @staticmethod
    def _status(crd: Obj, previous: Obj | None) -> Obj:
        spec = crd["spec"]
        names = {k: v for k, v in spec["names"].items()}
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        stored = list((previous or {}).get("storedVersions") or [])
        if storage not in stored:
            stored.append(storage)
        kept = {c["type"]: c for c in (previous or {}).get("conditions") or []}
        conditions = [
            kept.get("NamesAccepted")
            or _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            kept.get("Established")
            or _condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
            ),
        ]
        if crd["metadata"].get("deletionTimestamp"):
            conditions.append(
                _condition("Terminating", "True", "InstanceDeletionInProgress",
                           "CustomResource deletion is in progress")
            )  # fmt: skip
        return {"conditions": conditions, "acceptedNames": names, "storedVersions": stored}

    # ---- serving (commit observer, under the store lock) --------------------------------
    def observe(self, rt: ResourceType, change: Change) -> None:
        if rt != CRDS:
            return
        if change.type == "DELETED":
            self._withdraw(change.obj)
        elif not change.obj["metadata"].get("deletionTimestamp"):
            self.serve(change.obj)

    def serve(self, crd: Obj) -> None:
        spec = crd["spec"]
        group, plural = spec["group"], spec["names"]["plural"]
        if any(rt.group == group and rt.plural == plural for rt in self._builtins()):
            return
        kinds = served_kinds(crd)
        for gone in self.store.catalog.withdraw(group, plural):
            if gone not in kinds:
                self.store.drop_kind(gone)
        self.store.catalog.serve(group, plural, kinds)
        for kind in kinds:
            self.store.add_kind(kind)

    def serve_loaded(self, crds: list[Obj]) -> None:
        for crd in crds:
            if not crd["metadata"].get("deletionTimestamp"):
                self.serve(crd)

    def _withdraw(self, crd: Obj) -> None:
        spec = crd["spec"]
        for gone in self.store.catalog.withdraw(spec["group"], spec["names"]["plural"]):
            self.store.drop_kind(gone)

    def _builtins(self) -> list[ResourceType]:
        custom = set(self.store.catalog.custom())
        return [rt for rt in self.store.catalog.all() if rt not in custom]

    # ---- deletion (the finalizer controller, under the store lock) ----------------------
    def finalize(
        self, rt: ResourceType, crd: Obj, delete: Callable[[ResourceType, Obj], Any]
    ) -> None:
        """After ``crd`` got its deletionTimestamp: delete its custom resources with
        ``delete(rt, obj)``, then drop the cleanup finalizer (which removes the CRD)."""
        if rt != CRDS or CLEANUP_FINALIZER not in (crd["metadata"].get("finalizers") or []):
            return
        spec = crd["spec"]
        terminating = copy.deepcopy(crd)
        terminating["status"] = self._status(terminating, crd.get("status"))
        crd = self.store.commit(CRDS, crd, terminating)
        for kind in self.store.catalog.custom():
            if (kind.group, kind.plural) != (spec["group"], spec["names"]["plural"]):
                continue
            for obj in self.store.objects_of(kind):
                meta = obj["metadata"]
                current = self.store.find(kind, meta.get("namespace", ""), meta["name"])
                if current is not None:
                    delete(kind, current)
        done = copy.deepcopy(crd)
        done["metadata"]["finalizers"] = [
            f for f in done["metadata"]["finalizers"] if f != CLEANUP_FINALIZER
        ]
        self._withdraw(crd)
        self.store.commit(CRDS, crd, done)
