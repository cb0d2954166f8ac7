"""The registry client: read a tag's digest back, list tags, fetch manifests and configs.

The deploy path uses ``head_digest`` only: a HEAD manifest request that accepts the OCI index,
the Docker manifest list and both single-manifest types, and reads ``Docker-Content-Digest``
(distribution ``docs/spec/api.md`` "Existing Manifests"). That is the digest containerd
resolves a tag to and records as the pod's imageID (the index digest for a multi-arch image;
reference F.1), and a HEAD does not count against Docker Hub's pull limit. It never falls back
to GET for the digest.

``list_tags``, ``get_manifest`` and ``get_image_config`` serve other strategies (Image Updater
style tag selection) and the sandbox kubelet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests

from pipeline.adapters.registry_auth import pull_scope
from pipeline.adapters.registry_limits import RegistryStats
from pipeline.adapters.registry_transport import RegistryTransport
from pipeline.core.images import (
    MANIFEST_ACCEPT,
    ImageRef,
    same_digest,
)
from pipeline.core.ports import CredentialLookup, ManifestInfo
from pipeline.errors import ManifestNotFound, RegistryError, TagMovedError

_NOT_FOUND_CODES = ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN")


class RegistryClient:
    """Talks to any Distribution-API registry; ``deadline`` is on ``clock``'s scale."""

    def __init__(
        self,
        credentials: CredentialLookup | None = None,
        ca_bundle: str | None = None,
        insecure: Iterable[str] = (),
        *,
        deadline: float | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        extra: dict[str, Any] = {
            k: v
            for k, v in (("clock", clock), ("wall_clock", wall_clock), ("sleep", sleep))
            if v is not None
        }
        self._http = RegistryTransport(
            credentials, ca_bundle, insecure, timeout=timeout, session=session, **extra
        )
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"RegistryClient({self._http!r})"

    @property
    def stats(self) -> RegistryStats:
        return self._http.stats

    def close(self) -> None:
        self._http.close()

    def _get(self, ref: ImageRef, path: str, kind: str, accept: str = "") -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        return self._http.request(
            "GET",
            ref.api_host,
            f"/v2/{ref.repository}/{path}",
            kind=kind,
            scope=pull_scope(ref.repository),
            headers=headers,
            deadline=self.deadline,
        )

    def _not_found(self, ref: ImageRef, response: requests.Response) -> ManifestNotFound:
        return ManifestNotFound(
            f"{ref} does not exist in {ref.registry} ({response.status_code})",
            hint="check the tag was pushed to this registry and the repository name is right",
        )

    def head_digest(self, ref: ImageRef) -> ManifestInfo:
        """The digest ``ref``'s tag (or digest) resolves to, from one HEAD request."""
        response = self._http.request(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{ref.reference}",
            kind="manifest",
            scope=pull_scope(ref.repository),
            headers={"Accept": MANIFEST_ACCEPT},
            deadline=self.deadline,
        )
        if response.status_code == 404:
            raise self._not_found(ref, response)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest.startswith("sha256:"):
            raise RegistryError(
                f"{ref.registry} answered HEAD for {ref} without a Docker-Content-Digest header",
                hint="this registry cannot confirm digests; pass --digest from the build instead",
            )
        return ManifestInfo(
            digest=digest,
            media_type=response.headers.get("Content-Type", "").split(";")[0],
            size=int(response.headers.get("Content-Length") or 0),
        )

    def confirm_digest(self, ref: ImageRef, pushed: str) -> ManifestInfo:
        """``head_digest`` that fails when another push moved the tag since ours."""
        info = self.head_digest(ref)
        if not same_digest(info.digest, pushed):
            raise TagMovedError(
                f"{ref} now points at {info.digest}, not {pushed} that this run pushed",
                hint="another push moved the tag; use a unique tag per run (e.g. the commit SHA) "
                "and re-run; nothing was deployed",
            )
        return info

    def get_manifest(self, ref: ImageRef) -> tuple[ManifestInfo, dict[str, Any]]:
        """The manifest body (GET; not for the deploy path)."""
        response = self._get(ref, f"manifests/{ref.reference}", "manifest", MANIFEST_ACCEPT)
        if response.status_code == 404:
            raise self._not_found(ref, response)
        body = response.content
        digest = response.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(body).hexdigest()
        )
        manifest: dict[str, Any] = json.loads(body)
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        return ManifestInfo(
            digest, media_type or manifest.get("mediaType", ""), len(body)
        ), manifest

    def get_image_config(self, ref: ImageRef, platform: str = "linux/amd64") -> dict[str, Any]:
        """The image config JSON (labels, created, ...); from an index, ``platform``'s image."""
        info, manifest = self.get_manifest(ref)
        if info.is_index or "manifests" in manifest:
            os_name, _, arch = platform.partition("/")
            chosen = next(
                (
                    m
                    for m in manifest.get("manifests", [])
                    if m.get("platform", {}).get("os") == os_name
                    and m.get("platform", {}).get("architecture") == arch
                ),
                None,
            )
            if chosen is None:
                raise ManifestNotFound(f"{ref} has no image for platform {platform}")
            info, manifest = self.get_manifest(ref.with_digest(chosen["digest"]))
        config_digest = manifest.get("config", {}).get("digest")
        if not config_digest:
            raise RegistryError(f"the manifest of {ref} has no config descriptor")
        response = self._get(ref, f"blobs/{config_digest}", "blob")
        if response.status_code == 404:
            raise self._not_found(ref, response)
        config: dict[str, Any] = response.json()
        return config

    def list_tags(self, ref: ImageRef, page_size: int = 1000) -> list[str]:
        """Every tag of ``ref``'s repository, following ``Link: <...>; rel="next"`` pages."""
        tags: list[str] = []
        path: str | None = f"tags/list?n={page_size}"
        while path is not None:
            response = self._get(ref, path, "tags")
            if response.status_code == 404:
                raise self._not_found(ref.untagged(), response)
            tags.extend(response.json().get("tags") or [])
            path = _next_page(response.headers.get("Link", ""), ref.repository)
        return tags


def _next_page(link: str, repository: str) -> str | None:
    """The path after ``/v2/<repo>/`` of a ``rel="next"`` Link (RFC 8288), if any."""
    for part in link.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            url = urlsplit(target.strip().strip("<>"))
            prefix = f"/v2/{repository}/"
            if url.path.startswith(prefix):
                rest = url.path[len(prefix) :]
                return f"{rest}?{url.query}" if url.query else rest
    return None
