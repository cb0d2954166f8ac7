"""ApplicationService writes of an app's spec and state: ``Patch`` and ``TerminateOperation``.

``Patch`` applies a JSON or merge patch to the server's copy of the app and persists only its
spec, labels, annotations and finalizers (``updateApp`` with merge=false); ``TerminateOperation``
sets ``status.operationState.phase: Terminating``. Both Update with the read resourceVersion,
retried on conflicts, and record an Event on the app. ``Sync`` is :mod:`.appsync`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from pipeline.sandbox.apiserver.patch import decode_json_patch, json_patch, merge_patch
from pipeline.sandbox.argocdapi.applications import (
    NAMESPACE,
    Applications,
    Obj,
    Params,
    apps_path,
    present,
    rbac_name,
    unmarshal_error,
)
from pipeline.sandbox.argocdapi.errors import INTERNAL, INVALID_ARGUMENT, GrpcError, unknown
from pipeline.sandbox.argocdapi.session import Caller
from pipeline.sandbox.kubeclient import ApiError


class ApplicationWrites:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def patch(self, caller: Caller, name: str, params: Params) -> Obj:
        """``Patch``: the server applies the patch to its copy, then persists only spec,
        labels, annotations and finalizers (``updateApp`` with merge=false)."""
        namespace = self.apps.namespace(params)
        project = str(params.get("project") or "")
        app = self.apps.get_enforced(caller, "get", project, namespace, name)
        self.apps.enforce_err(caller, "applications", "update", rbac_name(app))
        raw_patch = params.get("patch")
        if raw_patch is not None and not isinstance(raw_patch, str):
            raise GrpcError(
                INVALID_ARGUMENT,
                unmarshal_error(raw_patch, "ApplicationPatchRequest.patch", "string"),
            )
        patch_text = raw_patch or ""
        patch_type = params.get("patchType") or ""
        original = present(app)
        if patch_type in ("json", ""):
            try:
                ops = decode_json_patch(patch_text.encode())
            except Exception as e:
                raise unknown(f"error decoding json patch: {_text(e)}") from e
            try:
                patched = json_patch(copy.deepcopy(original), ops)
            except Exception as e:
                raise unknown(f"error applying patch: {_text(e)}") from e
        elif patch_type == "merge":
            try:
                patched = merge_patch(copy.deepcopy(original), json.loads(patch_text))
            except ValueError as e:
                raise unknown(f"error calculating merge patch: {e}") from e
        else:
            raise GrpcError(INVALID_ARGUMENT, f"Patch type '{patch_type}' is not supported")
        if not isinstance(patched, dict):
            raise unknown("error unmarshaling patched app: not an object")
        return present(self._validate_and_update(caller, patched, project))

    def _validate_and_update(self, caller: Caller, new_app: Obj, project: str) -> Obj:
        meta = new_app.get("metadata") or {}
        namespace = str(meta.get("namespace") or NAMESPACE)
        name = str(meta.get("name") or "")
        app = self.apps.get_enforced(caller, "update", project, namespace, name)
        new_project = (new_app.get("spec") or {}).get("project") or "default"
        if new_project != ((app.get("spec") or {}).get("project") or "default"):
            moved = dict(new_app, metadata=meta)
            self.apps.enforce_err(caller, "applications", "update", rbac_name(moved))
        if self.apps.sessions.store.project(new_project) is None:
            raise unknown(
                "error validating and normalizing app: error getting application's project: "
                f'app is not allowed in project "{new_project}", or the project does not exist'
            )

        def change(app: Obj) -> None:
            app["spec"] = new_app.get("spec")
            app["metadata"]["labels"] = meta.get("labels") or {}
            app["metadata"]["annotations"] = meta.get("annotations") or {}
            app["metadata"]["finalizers"] = meta.get("finalizers") or []
            for key in ("labels", "annotations", "finalizers"):
                if not app["metadata"][key]:
                    del app["metadata"][key]

        return self._update(
            caller, app, change, "updated application spec",
            "Failed to update application. Too many conflicts",
        )  # fmt: skip

    def _update(
        self, caller: Caller, app: Obj, change: Callable[[Obj], None], action: str,
        too_many: str,
    ) -> Obj:  # fmt: skip
        """Change the app and Update it with the resourceVersion read; a 409 reads it again
        and changes that, at most 10 times (argocd-server's update loops); then record
        ``action`` as an Event."""
        path = apps_path(app["metadata"]["namespace"], app["metadata"]["name"])
        for _ in range(10):
            change(app)
            try:
                updated = self.apps.kube.replace(path, app)
            except ApiError as e:
                if e.status != 409:
                    raise unknown(f"error updating application: {e}") from e
                app = self.apps.kube.get(path)
                continue
            self.apps.event(caller, updated, "ResourceUpdated", action)
            return updated
        raise GrpcError(INTERNAL, too_many)

    def terminate(self, caller: Caller, name: str, params: Params) -> Obj:
        namespace = self.apps.namespace(params)
        app = self.apps.get_enforced(
            caller, "sync", str(params.get("project") or ""), namespace, name
        )

        def change(app: Obj) -> None:
            state = (app.get("status") or {}).get("operationState")
            if app.get("operation") is None or state is None:
                raise GrpcError(
                    INVALID_ARGUMENT, "Unable to terminate operation. No operation is in progress"
                )
            state["phase"] = "Terminating"

        self._update(
            caller, app, change, "terminated running operation",
            "Failed to terminate app. Too many conflicts",
        )  # fmt: skip
        return {}


def _text(e: Exception) -> str:
    message = getattr(e, "message", None) or getattr(e, "status", None)
    if isinstance(message, dict):
        return str(message.get("message", e))
    return str(message or e)
