"""Registry credentials from the pull secret an Application names for argocd-image-updater.

An Application says where the credentials of its image live with
``argocd-image-updater.argoproj.io/<alias>.pull-secret`` (or the app-wide ``pull-secret``
key), e.g. ``pullsecret:argocd/registry-creds`` (image-updater docs "Specifying pull secrets";
grammar in pipeline/core/imageupdater/credrefs.py). The pipeline reads the same reference, so a
CI job with no ``docker login`` for the registry can still read the digest back with the
credentials Argo CD's own tooling uses.

The lookup is lazy: the registry client asks only after a 401, for one host, once. Only
Applications whose ``image-list`` names an image on that host are consulted; the Secret is read
through the Kubernetes API (RBAC: ``secrets`` get in its namespace). References resolve in
adapters/credential_refs.py, as for poll and status, so a bad one fails the same way there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from pipeline.adapters.credential_refs import CredentialResolver, GetSecret
from pipeline.core.images import parse_image_ref
from pipeline.core.imageupdater.credrefs import parse_credential_ref
from pipeline.core.ports import Applications, CredentialLookup, Credentials, NotFound, Obj
from pipeline.errors import UsageError

UPDATER = "argocd-image-updater.argoproj.io/"


def pull_secret_refs(app: Obj, host: str) -> list[str]:
    """The ``pull-secret`` references of the image-list entries hosted on ``host``, in order."""
    annotations: Mapping[str, str] = app.get("metadata", {}).get("annotations") or {}
    refs: list[str] = []
    for item in (annotations.get(UPDATER + "image-list") or "").split(","):
        alias, _, image = item.strip().rpartition("=")
        if not image:
            continue
        try:
            registry = parse_image_ref(image).registry
        except UsageError:  # a semver constraint is no valid tag: the host is still first
            registry = image.split("/", 1)[0]
        if registry != host:
            continue
        ref = annotations.get(f"{UPDATER}{alias}.pull-secret") if alias else None
        ref = ref or annotations.get(UPDATER + "pull-secret")
        if ref and ref not in refs:
            refs.append(ref)
    return refs


class NamesApplication(Protocol):
    """A ServicePlan or an ApplicationName: which Application a service deploys through."""

    @property
    def argocd_namespace(self) -> str: ...

    @property
    def app(self) -> str: ...


class ApplicationPullSecrets:
    """``credentials(host)`` from the pull-secret annotations of the Applications deployed."""

    def __init__(
        self,
        applications: Applications,
        get_secret: GetSecret,
        plans: Sequence[NamesApplication],
        *,
        resolver: CredentialResolver | None = None,
    ) -> None:
        self._applications = applications
        self._resolver = resolver or CredentialResolver(get_secret)
        self._apps = sorted({(p.argocd_namespace, p.app) for p in plans})
        self._lock = threading.Lock()
        self._found: dict[str, Credentials | None] = {}

    def __call__(self, host: str) -> Credentials | None:
        with self._lock:
            if host not in self._found:
                self._found[host] = self._lookup(host)
            return self._found[host]

    def _lookup(self, host: str) -> Credentials | None:
        for namespace, name in self._apps:
            try:
                app = self._applications.get_application(namespace, name)
            except NotFound:
                continue  # preflight reports the missing Application with its fix
            for text in pull_secret_refs(app, host):
                return self._resolver.resolve(parse_credential_ref(text), host)
        return None


def chain(*lookups: CredentialLookup) -> CredentialLookup:
    """The first lookup that knows the host wins (the Docker config, then pull secrets)."""

    def lookup(host: str) -> Credentials | None:
        for each in lookups:
            found = each(host)
            if found is not None:
                return found
        return None

    return lookup
