"""The Argo CD API server's routing table and the small services it answers itself.

Routes follow the ``google.api.http`` options of argo-cd's ``server/*/*.proto``: a method and
a path pattern (``{field}`` one segment, ``{field=**}`` the rest) mapped to a handler, which
gets the :class:`Caller`, the path parameters, the request fields and the stream's ``stop``
event. Routes under ``/api/v1/stream/`` and ending in ``/logs`` are server streams: their
errors, authentication included, surface on the first receive. The ApplicationService
handlers are in the ``app*`` modules and :mod:`.podlogs`; version, session, userinfo, can-i
and the account and project token endpoints are here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

from pipeline.sandbox.argocdapi.applications import Applications, Obj, Params, as_int
from pipeline.sandbox.argocdapi.appreads import ApplicationReads, get_appset
from pipeline.sandbox.argocdapi.appresources import ApplicationResources
from pipeline.sandbox.argocdapi.appsync import ApplicationSync
from pipeline.sandbox.argocdapi.appwatch import ApplicationWatch
from pipeline.sandbox.argocdapi.appwrites import ApplicationWrites
from pipeline.sandbox.argocdapi.errors import INVALID_ARGUMENT, NOT_FOUND, GrpcError
from pipeline.sandbox.argocdapi.podlogs import PodLogs
from pipeline.sandbox.argocdapi.policy import ACTIONS, PROJECT_SCOPED, RESOURCES
from pipeline.sandbox.argocdapi.session import Caller, Sessions
from pipeline.sandbox.argocdapi.settings import SettingsStore
from pipeline.sandbox.kubeclient import KubeClient

VERSION = "v3.1.0+sandbox"

Stream = Iterator[Obj | None]
Handler = Callable[[Caller, dict[str, str], Params, threading.Event], Obj | Stream]


class _Route:
    def __init__(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        self.method = method
        self.stream = pattern.startswith("/api/v1/stream/") or pattern.endswith("/logs")
        regex = re.sub(r"\{(\w+)=\*\*\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.regex = re.compile(regex + r"\Z")
        self.handler = handler
        self.auth = auth


class Router:
    def __init__(
        self, kube: KubeClient, work_dir: Path, tree_kube: KubeClient | None = None
    ) -> None:
        self.settings = SettingsStore(kube)
        self.sessions = Sessions(self.settings)
        self.apps = Applications(kube, self.sessions, work_dir, tree_kube)
        reads, writes = ApplicationReads(self.apps), ApplicationWrites(self.apps)
        sync, resources = ApplicationSync(self.apps), ApplicationResources(self.apps)
        watch, logs = ApplicationWatch(self.apps), PodLogs(self.apps)

        def on_app(fn: Callable[[Caller, str, Params], Obj]) -> Handler:
            return lambda c, p, q, s: fn(c, p["name"], q)

        def on_app_stream(fn: Callable[[Caller, str, Params, threading.Event], Stream]) -> Handler:
            return lambda c, p, q, s: fn(c, p["name"], {**q, **p}, s)

        apps = "/api/v1/applications"
        self.routes = [
            _Route("GET", "/api/version", self._version, auth=False),
            _Route("POST", "/api/v1/session", self._login, auth=False),
            _Route("DELETE", "/api/v1/session", lambda c, p, q, s: {}),
            _Route("GET", "/api/v1/session/userinfo", self._userinfo, auth=False),
            _Route("GET", "/api/v1/account/can-i/{resource}/{action}/{subresource=**}",
                   self._can_i),
            _Route("POST", "/api/v1/account/{name}/token", self._account_token),
            _Route("POST", "/api/v1/projects/{project}/roles/{role}/token", self._project_token),
            _Route("GET", apps, lambda c, p, q, s: reads.list_apps(c, q)),
            _Route("GET", apps + "/{name}", on_app(reads.get)),
            _Route("PATCH", apps + "/{name}", on_app(writes.patch)),
            _Route("POST", apps + "/{name}/sync", on_app(sync.sync)),
            _Route("DELETE", apps + "/{name}/operation", on_app(writes.terminate)),
            _Route("GET", apps + "/{name}/resource-tree", on_app(resources.resource_tree)),
            _Route("GET", apps + "/{name}/resource", on_app(resources.resource)),
            _Route("GET", apps + "/{name}/events", on_app(resources.events)),
            _Route("GET", apps + "/{name}/manifests", on_app(resources.manifests)),
            _Route("GET", apps + "/{name}/pods/{podName}/logs", on_app_stream(logs.pod_logs)),
            _Route("GET", apps + "/{name}/logs", on_app_stream(logs.pod_logs)),
            _Route("GET", "/api/v1/applicationsets/{name}",
                   lambda c, p, q, s: get_appset(self.apps, c, p["name"], q)),
            _Route("GET", "/api/v1/stream/applications", lambda c, p, q, s: watch.watch(c, q, s)),
            _Route("GET", "/api/v1/stream/applications/{name}/resource-tree",
                   on_app_stream(watch.watch_tree)),
        ]  # fmt: skip

    def start(self) -> bool:
        return self.settings.bootstrap()

    def find(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        for route in self.routes:
            found = route.regex.match(path)
            if found and route.method == method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        raise GrpcError(NOT_FOUND, "Not Found")

    def handle(
        self, method: str, path: str, headers: dict[str, str], params: Params, stop: threading.Event
    ) -> Obj | Stream:
        route, path_params = self.find(method, path)

        def call() -> Obj | Stream:
            caller = self.sessions.authenticate(headers)
            if route.auth:
                caller.require()
            return route.handler(caller, path_params, params, stop)

        if not route.stream:
            return call()

        def lazily() -> Stream:
            # a server stream fails on its first receive: errors (authentication included)
            # become the stream's error frame, with the mapped HTTP status
            result = call()
            assert not isinstance(result, dict)
            yield from result

        return lazily()

    # --- small services ------------------------------------------------------------------

    def _version(self, caller: Caller, _p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        """``server/version``: only ``Version`` for anonymous callers."""
        if not caller.logged_in:
            return {"Version": VERSION}
        return {
            "Version": VERSION,
            "BuildDate": "2026-01-01T00:00:00Z",
            "GitCommit": "sandbox",
            "GitTreeState": "clean",
            "GoVersion": "n/a (pipeline sandbox)",
            "Compiler": "n/a",
            "Platform": "linux/amd64",
        }

    def _login(self, _c: Caller, _p: dict[str, str], q: Params, _s: threading.Event) -> Obj:
        if q.get("token"):
            raise GrpcError(
                16,
                "token-based session creation no longer supported. please upgrade argocd cli "
                "to v0.7+",
            )
        token = self.sessions.login(str(q.get("username") or ""), str(q.get("password") or ""))
        return {"token": token}

    def _userinfo(self, caller: Caller, _p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        if not caller.logged_in:
            return {}
        info: Obj = {"loggedIn": True, "username": caller.username, "iss": caller.issuer}
        if caller.groups:
            info["groups"] = list(caller.groups)
        return info

    def _can_i(self, caller: Caller, p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        resource, action, sub = p["resource"], p["action"], p["subresource"]
        if action not in ACTIONS:
            raise GrpcError(INVALID_ARGUMENT, f"[{' '.join(ACTIONS)}] does not contain {action}")
        if resource not in RESOURCES:
            raise GrpcError(
                INVALID_ARGUMENT, f"[{' '.join(RESOURCES)}] does not contain {resource}"
            )
        if resource in PROJECT_SCOPED:
            parts = sub.split("/")
            if len(parts) == 3 and parts[1] == "argocd":
                sub = f"{parts[0]}/{parts[2]}"
        allowed = self.sessions.enforce(caller, resource, action, sub)
        return {"value": "yes" if allowed else "no"}

    def _account_token(
        self, caller: Caller, p: dict[str, str], q: Params, _s: threading.Event
    ) -> Obj:
        token = self.sessions.create_account_token(
            caller, p["name"], as_int(q.get("expiresIn")), str(q.get("id") or "")
        )
        return {"token": token}

    def _project_token(
        self, caller: Caller, p: dict[str, str], q: Params, _s: threading.Event
    ) -> Obj:
        token = self.sessions.create_project_token(
            caller, p["project"], p["role"], as_int(q.get("expiresIn")), str(q.get("id") or "")
        )
        return {"token": token}
