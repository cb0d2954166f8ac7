"""ApplicationService views of what an app manages: ``ResourceTree``, ``GetResource``,
``ListResourceEvents`` and ``GetManifests``.

Trees are built by :mod:`.tree` from the application-controller's view; a live resource is
served only when it is in the app's tree (a Secret with its values masked); manifests are the
source rendered at a revision with the tracking annotations the controller would apply.
"""

from __future__ import annotations

import copy
import json

from pipeline.sandbox.argocdapi.applications import Applications, Obj, Params
from pipeline.sandbox.argocdapi.errors import INVALID_ARGUMENT, GrpcError, unknown
from pipeline.sandbox.argocdapi.session import Caller
from pipeline.sandbox.controllers.argocd_compare import with_tracking
from pipeline.sandbox.controllers.argocd_source import SourceError
from pipeline.sandbox.kubeclient import ApiError

_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class ApplicationResources:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def resource_tree(self, caller: Caller, name: str, params: Params) -> Obj:
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), self.apps.namespace(params), name
        )
        return self.apps.tree(app)

    def resource(self, caller: Caller, name: str, params: Params) -> Obj:
        """``GetResource``: the live object, found in the app's tree, as JSON text."""
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), self.apps.namespace(params), name
        )
        group, kind = str(params.get("group") or ""), str(params.get("kind") or "")
        res_ns, res_name = str(params.get("namespace") or ""), str(params.get("resourceName") or "")
        tree = self.apps.tree(app)
        node = next(
            (
                n
                for n in tree["nodes"]
                if n["group"] == group
                and n["kind"] == kind
                and n["namespace"] == res_ns
                and n["name"] == res_name
            ),
            None,
        )
        if node is None or not node.get("uid"):
            raise GrpcError(
                INVALID_ARGUMENT,
                f"{kind} {group} {res_name} not found as part of application {name}",
            )
        version = str(params.get("version") or node.get("version", ""))
        api_version = f"{group}/{version}" if group else version
        ref = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"namespace": res_ns, "name": res_name},
        }
        try:
            live = self.apps.kube.get(self.apps.mapper.path(ref))
        except (ApiError, LookupError) as e:
            raise unknown(f"error getting resource: {e}") from e
        if kind == "Secret" and group == "":
            live = _mask_secret(live)
        return {"manifest": json.dumps(live, separators=(",", ":"))}

    def events(self, caller: Caller, name: str, params: Params) -> Obj:
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), self.apps.namespace(params), name
        )
        resource_name = params.get("resourceName")
        resource_uid = params.get("resourceUID")
        if not resource_name and not resource_uid:
            namespace = app["metadata"]["namespace"]
            fields = {
                "involvedObject.name": name,
                "involvedObject.uid": app["metadata"].get("uid", ""),
                "involvedObject.namespace": namespace,
            }
        else:
            tree = self.apps.tree(app)
            namespace = str(params.get("resourceNamespace") or "")
            if not any(
                n.get("uid") == resource_uid and n["name"] == resource_name
                and n["namespace"] == namespace
                for n in tree["nodes"]
            ):  # fmt: skip
                raise GrpcError(
                    INVALID_ARGUMENT, f"{resource_name} not found as part of application {name}"
                )
            fields = {
                "involvedObject.name": str(resource_name),
                "involvedObject.uid": str(resource_uid),
                "involvedObject.namespace": namespace,
            }
        selector = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        try:
            listing = self.apps.kube.list(
                f"/api/v1/namespaces/{namespace}/events", field_selector=selector
            )
        except ApiError as e:
            raise unknown(f"error listing resource events: {e}") from e
        items = [
            {k: v for k, v in e.items() if k not in ("kind", "apiVersion")}
            for e in listing.get("items", [])
        ]
        return {
            "metadata": {"resourceVersion": listing.get("metadata", {}).get("resourceVersion", "")},
            "items": items,
        }

    def manifests(self, caller: Caller, name: str, params: Params) -> Obj:
        """``GetManifests``: the rendered target manifests (JSON strings) at ``revision``."""
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), self.apps.namespace(params), name
        )
        spec = app.get("spec") or {}
        source = spec.get("source") or {}
        destination = spec.get("destination") or {}
        try:
            rendered = self.apps.renderer.render(source, str(params.get("revision") or "") or None)
        except SourceError as e:
            raise unknown(f"error generating manifests: {e}") from e
        namespace = destination.get("namespace") or ""
        manifests = [
            json.dumps(
                with_tracking(obj, name, None if obj.get("kind") in _CLUSTER_SCOPED else namespace),
                separators=(",", ":"),
            )
            for obj in rendered.objects
        ]
        return {
            "manifests": manifests,
            "namespace": namespace,
            "server": destination.get("server", ""),
            "revision": rendered.revision,
            "sourceType": rendered.source_type,
        }


def _mask_secret(secret: Obj) -> Obj:
    """``replaceSecretValues``: every value becomes ``++++++++``."""
    masked = copy.deepcopy(secret)
    for key in ("data", "stringData"):
        if isinstance(masked.get(key), dict):
            masked[key] = dict.fromkeys(masked[key], "++++++++")
    return masked
