"""Write-back settings and the values image-updater writes, so both tools can coexist.

Settings (``pkg/argocd/update.go`` ``getWriteBackConfig`` [v0.18]; reference 1.9):
``write-back-method`` is ``argocd`` (default), ``git``, ``git:repocreds`` or
``git:secret:<ns>/<name>``; ``write-back-target`` is ``kustomization[:<path>]`` or
``helmvalues[:<path>]`` (a path naming the kustomization file itself is rejected, v1.3.0 #1766);
``git-branch`` is ``branch``, ``base:target`` or ``:target``; ``git-repository`` overrides the
repo. Git settings are only read with a ``git`` method.

Values for the ``argocd`` write-back (``SetKustomizeImage``/``SetHelmImage`` in
``pkg/argocd/argocd.go``; reference 2.1, the v0.15.0+ format):

- Kustomize: ``<repo>:<tag>`` or ``<repo>:<tag>@sha256:<hex>``, prefixed ``ORIG=`` when
  ``kustomize.image-name`` is set; merged like Argo CD ``KustomizeImages.Merge`` (an entry with
  the same name up to its first ``=``/``:``/``@`` delimiter is replaced, others kept).
- Helm: ``image-spec`` = ``<repo>:<tag>[@digest]``, else ``image-name`` = repo and
  ``image-tag`` = ``<tag>[@digest]``; every parameter ``forceString: true``, merged by name; an
  empty tag is never written (#1351). ``<repo>`` includes the registry only if image-list did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.imageupdater.imagespec import ImageSpec
from pipeline.errors import Problem

_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class GitBranch:
    base: str  # "" = the Application's targetRevision
    target: str  # "" = push to base; may be a Go template


@dataclass(frozen=True)
class WriteBackTarget:
    kind: str  # "kustomization" | "helmvalues"
    path: str  # "" = the default for the kind


@dataclass(frozen=True)
class WriteBack:
    method: str = "argocd"  # "argocd" | "git"
    git_credentials: str = "repocreds"  # "repocreds" | "secret"
    git_secret: tuple[str, str] | None = None  # (namespace, name)
    target: WriteBackTarget | None = None  # None = .argocd-source-<app>.yaml
    branch: GitBranch | None = None
    repository: str | None = None


@dataclass(frozen=True)
class HelmTarget:
    """Helm parameters that receive the image (``<alias>.helm.*``)."""

    image_name: str = "image.name"
    image_tag: str = "image.tag"
    image_spec: str | None = None  # when set, name and tag are not written


def _method(text: str, key: str, problems: list[Problem]) -> WriteBack:
    method = text.strip()
    if method in ("", "argocd"):
        return WriteBack()
    if method == "git":
        return WriteBack("git")
    creds = method.removeprefix("git:") if method.startswith("git:") else None
    if creds == "repocreds":
        return WriteBack("git")
    if creds is not None and creds.startswith("secret:"):
        ns, sep, name = creds.removeprefix("secret:").partition("/")
        if sep and ns and name:
            return WriteBack("git", "secret", (ns, name))
    problems.append(
        Problem(
            "bad-annotation",
            f"{key}: {text!r} is not a write-back method",
            "use 'argocd', 'git', 'git:repocreds' or 'git:secret:<namespace>/<name>'",
        )
    )
    return WriteBack()


def _target(text: str, key: str, problems: list[Problem]) -> WriteBackTarget | None:
    kind, _, path = text.strip().partition(":")
    if kind in ("kustomization", "helmvalues"):
        if kind == "kustomization" and path.rstrip("/").rsplit("/", 1)[-1] in _KUSTOMIZATION_FILES:
            problems.append(
                Problem(
                    "bad-annotation",
                    f"{key}: {text!r} names the kustomization file, not its directory",
                    f"write 'kustomization:{path.rsplit('/', 1)[0] if '/' in path else '.'}'",
                )
            )
        return WriteBackTarget(kind, path)
    problems.append(
        Problem(
            "bad-annotation",
            f"{key}: {text!r} is not a write-back target",
            "use 'kustomization[:<dir>]' or 'helmvalues[:<values file>]', or remove it for "
            "the default .argocd-source-<app>.yaml",
        )
    )
    return None


def parse_write_back(
    values: Mapping[str, str], prefix: str = ""
) -> tuple[WriteBack, list[Problem], list[str]]:
    """``values`` maps ``write-back-method``, ``write-back-target``, ``git-branch`` and
    ``git-repository`` to their annotation text (absent = ""). Returns (settings, problems,
    warnings)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    wb = _method(values.get("write-back-method", ""), prefix + "write-back-method", problems)
    git_keys = ("write-back-target", "git-branch", "git-repository")
    if wb.method != "git":
        warnings += [
            f"{prefix}{k} is ignored with the argocd write-back"
            for k in git_keys
            if values.get(k, "").strip()
        ]
        return wb, problems, warnings
    target_text = values.get("write-back-target", "").strip()
    target = _target(target_text, prefix + "write-back-target", problems) if target_text else None
    branch_text = values.get("git-branch", "").strip()
    branch = None
    if branch_text:
        base, sep, goal = branch_text.partition(":")
        branch = GitBranch(base, goal if sep else "")
    repository = values.get("git-repository", "").strip() or None
    return (
        WriteBack(wb.method, wb.git_credentials, wb.git_secret, target, branch, repository),
        problems,
        warnings,
    )


def _with_tag(tag: str, digest: str | None) -> str:
    return f"{tag}@{digest}" if digest else tag


def kustomize_image_value(
    image: ImageSpec, tag: str, digest: str | None = None, original_name: str | None = None
) -> str:
    """The ``kustomize.images`` entry: ``[ORIG=]repo:tag[@digest]``."""
    value = image.full_name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return f"{original_name}={value}" if original_name else value


def helm_parameters(
    image: ImageSpec, helm: HelmTarget, tag: str, digest: str | None = None
) -> list[dict[str, Any]]:
    """The ``helm.parameters`` entries to set, each ``forceString: true``."""
    if helm.image_spec:
        spec = image.full_name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        return [{"name": helm.image_spec, "value": spec, "forceString": True}]
    params = [{"name": helm.image_name, "value": image.full_name, "forceString": True}]
    if tag:
        params.append(
            {"name": helm.image_tag, "value": _with_tag(tag, digest), "forceString": True}
        )
    return params


def _kustomize_key(entry: str) -> tuple[str, str]:
    """Argo CD ``KustomizeImage.delim``/``Match``: first of ``=``, ``:``, ``@`` present."""
    delim = next((d for d in ("=", ":", "@") if d in entry), ":")
    return delim, entry.split(delim, 1)[0]


def merge_kustomize_images(existing: list[str], new: str) -> list[str]:
    """Replace the entry matching ``new`` (same delimiter and name), else append it."""
    key = _kustomize_key(new)
    out, replaced = [], False
    for entry in existing:
        if _kustomize_key(entry) == key:
            out.append(new)
            replaced = True
        else:
            out.append(entry)
    return out if replaced else [*out, new]


def merge_helm_parameters(
    existing: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace parameters by name, append new ones, leave the rest alone."""
    by_name = {p["name"]: p for p in new}
    out = [by_name.pop(p.get("name"), p) for p in existing]
    return out + list(by_name.values())
