"""ApplicationService ``Sync``: the sync request made an Operation, written like
``util/argo.SetAppOperation``.

Unless local ``manifests`` are given, the request's revision (or the source's
``targetRevision``) is resolved to a commit as argocd-server's ``resolveRevision`` and the
repo-server do; prune, dryRun, strategy, resources, syncOptions, retryStrategy, infos and
manifests become the Operation's fields. The Operation is written only when none is in
progress, and the sync is recorded as an Event on the app.
"""

from __future__ import annotations

import copy
import re

from pipeline.sandbox.argocdapi.applications import (
    Applications,
    Obj,
    Params,
    apps_path,
    as_bool,
    present,
    rbac_name,
    unmarshal_error,
)
from pipeline.sandbox.argocdapi.errors import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    GrpcError,
    unknown,
)
from pipeline.sandbox.argocdapi.session import Caller
from pipeline.sandbox.controllers.argocd_source import SourceError, SourceRenderer
from pipeline.sandbox.kubeclient import ApiError


class ApplicationSync:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def sync(self, caller: Caller, name: str, params: Params) -> Obj:
        """``Sync``: build the Operation and write it with ``argo.SetAppOperation``."""
        namespace = self.apps.namespace(params)
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), namespace, name
        )
        self.apps.enforce_err(caller, "applications", "sync", rbac_name(app))
        manifests = params.get("manifests")
        if manifests is not None:
            self.apps.enforce_err(caller, "applications", "override", rbac_name(app))
            if _auto_sync(app) and not as_bool(params.get("dryRun")):
                raise GrpcError(
                    FAILED_PRECONDITION,
                    "cannot use local sync when Automatic Sync Policy is enabled unless for "
                    "dry run",
                )
        if app["metadata"].get("deletionTimestamp"):
            raise GrpcError(FAILED_PRECONDITION, "application is deleting")
        spec = app.get("spec") or {}
        if spec.get("sources"):
            raise GrpcError(INVALID_ARGUMENT, "multi-source applications are not supported here")
        source = spec.get("source") or {}
        policy = spec.get("syncPolicy") or {}
        requested = str(params.get("revision") or "")
        target = str(source.get("targetRevision") or "")
        if (
            requested
            and requested != (target or "HEAD")
            and _auto_sync(app)
            and not as_bool(params.get("dryRun"))
        ):
            raise GrpcError(
                FAILED_PRECONDITION,
                f"Cannot sync to {requested}: auto-sync currently set to {target}",
            )
        ambiguous = requested or target  # getAmbiguousRevision
        revision, display = "", ""
        if manifests is None:
            revision, display = _resolve(
                self.apps.renderer, str(source.get("repoURL", "")), ambiguous
            )
        retry = params["retryStrategy"] if params.get("retryStrategy") is not None else None
        if retry is None:
            retry = policy.get("retry")
        options = policy.get("syncOptions") or []
        if params.get("syncOptions") is not None and not isinstance(params["syncOptions"], dict):
            raise GrpcError(
                INVALID_ARGUMENT,
                unmarshal_error(
                    params["syncOptions"],
                    "ApplicationSyncRequest.syncOptions",
                    "application.SyncOptions",
                ),
            )
        if params.get("syncOptions") is not None:
            options = (params.get("syncOptions") or {}).get("items") or []
        sync: Obj = {"source": copy.deepcopy(source), "revision": revision}
        if as_bool(params.get("prune")):
            sync["prune"] = True
        if as_bool(params.get("dryRun")):
            sync["dryRun"] = True
        if options:
            sync["syncOptions"] = list(options)
        if params.get("strategy"):
            sync["syncStrategy"] = params["strategy"]
        resources = [r for r in params.get("resources") or [] if r]
        if resources:
            sync["resources"] = resources
        if manifests:
            sync["manifests"] = list(manifests)
        operation: Obj = {"sync": sync, "initiatedBy": _initiator(caller)}
        if params.get("infos"):
            operation["info"] = list(params["infos"])
        operation["retry"] = copy.deepcopy(retry) if retry else {}
        updated = self._set_operation(namespace, name, operation)
        partial = "partial " if resources else ""
        reason = f"initiated {partial}sync to {display}"
        if manifests is not None:
            reason = f"initiated {partial}sync locally"
        self.apps.event(caller, updated, "OperationStarted", reason)
        return present(updated)

    def _set_operation(self, namespace: str, name: str, operation: Obj) -> Obj:
        """``util/argo SetAppOperation``: GET; refuse when ``.operation`` is set; set it and
        drop ``status.operationState``; Update with the read resourceVersion; on 409 again."""
        while True:
            app = self.apps.kube.get_or_none(apps_path(namespace, name))
            if app is None:
                raise unknown(
                    "error setting app operation: error getting application "
                    f'"{name}": applications.argoproj.io "{name}" not found'
                )
            if app.get("operation") is not None:
                raise GrpcError(
                    FAILED_PRECONDITION,
                    "error setting app operation: another operation is already in progress",
                )
            app["operation"] = operation
            (app.get("status") or {}).pop("operationState", None)
            try:
                return self.apps.kube.replace(apps_path(namespace, name), app)
            except ApiError as e:
                if e.status != 409:
                    raise unknown(
                        f'error setting app operation: error updating application "{name}": {e}'
                    ) from e


def _auto_sync(app: Obj) -> bool:
    """``SyncPolicy.IsAutomatedSyncEnabled``: ``automated`` set, ``enabled`` not false."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return isinstance(automated, dict) and automated.get("enabled") is not False


def _resolve(renderer: SourceRenderer, repo_url: str, ambiguous: str) -> tuple[str, str]:
    """``resolveRevision`` + repo-server ``ResolveRevision``: a commit SHA is taken as it is;
    anything else is resolved with git and displayed as "<ambiguous> (<sha>)". A failure is
    FailedPrecondition "error resolving repo revision: ..."."""
    if re.fullmatch(r"[0-9a-f]{40}", ambiguous):
        return ambiguous, ambiguous
    try:
        revision = renderer.resolve(repo_url, ambiguous)
    except SourceError as e:
        raise GrpcError(FAILED_PRECONDITION, f"error resolving repo revision: {e}") from e
    return revision, f"{ambiguous} ({revision})"


def _initiator(caller: Caller) -> Obj:
    return {"username": caller.username} if caller.username else {}
