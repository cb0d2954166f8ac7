"""A small JSON client for the sandbox's controllers.

Controllers talk to the sandbox API server over HTTP, exactly as real controllers talk to a
real kube-apiserver, so every controller write exercises the same routing, patch and watch
code the pipeline and kubectl use. This client is deliberately thin: paths in, dicts out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

Obj = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code, ``body`` the decoded Status (or text)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


def resource_path(
    api_version: str, plural: str, namespace: str | None = None, name: str | None = None
) -> str:
    """``/api/v1/namespaces/ns/pods/name`` or ``/apis/apps/v1/...`` for a resource."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    return base


class KubeClient:
    def __init__(
        self, base_url: str, token: str | None = None, user_agent: str = "sandbox"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data: str | bytes | None
        if isinstance(body, (str, bytes)) and content_type.startswith("text/"):
            data = body  # a text body (the sandbox's pod-log endpoint) goes as it is
        else:
            data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        resp = self._session().request(
            method, self.base_url + path, data=data, params=params, headers=headers, timeout=30
        )
        try:
            decoded: Any = resp.json()
        except ValueError:
            decoded = resp.text
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, decoded)
        return decoded

    def get(self, path: str) -> Obj:
        result: Obj = self.request("GET", path)
        return result

    def get_or_none(self, path: str) -> Obj | None:
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(
        self, path: str, label_selector: str | None = None, field_selector: str | None = None
    ) -> Obj:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        result: Obj = self.request("GET", path, params=params)
        return result

    def create(self, path: str, obj: Obj) -> Obj:
        result: Obj = self.request("POST", path, body=obj)
        return result

    def replace(self, path: str, obj: Obj) -> Obj:
        result: Obj = self.request("PUT", path, body=obj)
        return result

    def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> Obj:
        result: Obj = self.request("PATCH", path, body=body, content_type=content_type)
        return result

    def delete(self, path: str) -> Obj | None:
        try:
            result: Obj = self.request("DELETE", path)
            return result
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def watch(
        self,
        path: str,
        resource_version: str | None = None,
        timeout_seconds: int = 30,
        label_selector: str | None = None,
    ) -> Iterator[Obj]:
        """Yield watch events (``{"type", "object"}``) until the server ends the stream."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        with self._session().get(
            self.base_url + path, params=params, stream=True, timeout=timeout_seconds + 10
        ) as resp:
            if resp.status_code >= 400:
                raise ApiError(resp.status_code, resp.text)
            for line in resp.iter_lines():
                if line:
                    yield json.loads(line)


Handler = Callable[[str, Obj], None]


def list_and_watch(
    client: KubeClient,
    path: str,
    handler: Handler,
    stop: threading.Event,
    label_selector: str | None = None,
    on_relist: Callable[[list[Obj]], None] | None = None,
) -> None:
    """The informer loop: list, hand every item to ``handler("ADDED", obj)``, then watch.

    Relists after an ERROR event (410 Expired) or a dropped connection, as client-go's
    reflector does. Runs until ``stop`` is set.
    """
    while not stop.is_set():
        try:
            listing = client.list(path, label_selector=label_selector)
            items = listing.get("items", [])
            if on_relist is not None:
                on_relist(items)
            for item in items:
                handler("ADDED", item)
            rv = listing["metadata"]["resourceVersion"]
            while not stop.is_set():
                relist = False
                for event in client.watch(
                    path, rv, timeout_seconds=5, label_selector=label_selector
                ):
                    if stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        relist = True
                        break
                    obj = event["object"]
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event["type"] != "BOOKMARK":
                        handler(event["type"], obj)
                if relist:
                    break
        except (requests.RequestException, ApiError, ValueError):
            stop.wait(0.5)
