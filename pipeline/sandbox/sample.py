"""The sample GitOps repository used by the demo and the tests.

One service with a stable Deployment (``version: v1``) and a canary Deployment (``version: v2``,
``imagePullPolicy: Always``) in its own namespace, a kustomize base plus a dev overlay, and an
Argo CD Application carrying argocd-image-updater annotations the way real setups do
(reference/argocd-image-updater.md §1.2: ``image-list``, ``<alias>.update-strategy``,
``<alias>.pull-secret``). Template files live in ``pipeline/sandbox/sample/``.
"""

from __future__ import annotations

import copy
import os
import shutil
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import SandboxError, truncate

TEMPLATES = Path(__file__).parent / "sample"
BUSYBOX = Path("/bin/busybox")
UPDATER = "argocd-image-updater.argoproj.io"
PULL_SECRET = "pullsecret:argocd/dockerhub-credentials"


@dataclass(frozen=True)
class SampleRepo:
    path: Path
    app_name: str
    namespace: str
    app_manifest: dict[str, Any]
    stable_image: str
    canary_image: str
    context_dir: Path
    overlay_path: str = "overlays/dev"
    selectors: dict[str, str] = field(default_factory=dict)
    image_repository: str = ""


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "sample",
        "GIT_AUTHOR_EMAIL": "sample@example.invalid",
        "GIT_COMMITTER_NAME": "sample",
        "GIT_COMMITTER_EMAIL": "sample@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SandboxError(
            f"git {' '.join(args)} exited {proc.returncode}: {truncate(proc.stderr.strip())}"
        )
    return proc.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Commit every change in the sample repo; returns the new HEAD SHA."""
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def create_sample_repo(
    dest: Path,
    *,
    registry: str,
    repository: str = "eco2",
    service: str = "auth",
    shared_name_override: bool = False,
) -> SampleRepo:
    """Write the sample GitOps repo (a git repo at ``dest/gitops``) and build context
    (``dest/context``). ``shared_name_override`` adds the overlay ``images`` entry keyed on the
    shared repository name, which also re-tags the canary (reference C.4 row 0)."""
    dest = Path(dest)
    image_repository = f"{registry}/{repository}"
    stable_image = f"{image_repository}:{service}-api-dev-latest"
    canary_image = f"{image_repository}:{service}-api-dev-canary"
    values = {
        "service": service,
        "namespace": service,
        "stable_image": stable_image,
        "canary_image": canary_image,
        "image_repository": image_repository,
    }
    repo = dest / "gitops"
    for template in sorted((TEMPLATES / "gitops").rglob("*")):
        if template.is_file():
            target = repo / template.relative_to(TEMPLATES / "gitops")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(string.Template(template.read_text()).substitute(values))
    overlay = repo / "overlays" / "dev" / "kustomization.yaml"
    if shared_name_override:
        kustomization = yaml.safe_load(overlay.read_text())
        kustomization["images"] = [
            {"name": image_repository, "newTag": f"{service}-api-dev-latest"}
        ]
        overlay.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    _git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "sample GitOps repository")

    context_dir = dest / "context"
    shutil.copytree(TEMPLATES / "context", context_dir, dirs_exist_ok=True)
    if not BUSYBOX.exists():
        raise SandboxError(
            "/bin/busybox not found", hint="apt-get install busybox-static (a static busybox)"
        )
    shutil.copy2(BUSYBOX, context_dir / "busybox")

    manifest = application_manifest(
        name=f"dev-api-{service}",
        repo_url=repo.resolve().as_uri(),
        path="overlays/dev",
        namespace=service,
        images={"stable": stable_image, "canary": canary_image},
    )
    return SampleRepo(
        path=repo,
        app_name=f"dev-api-{service}",
        namespace=service,
        app_manifest=manifest,
        stable_image=stable_image,
        canary_image=canary_image,
        context_dir=context_dir,
        selectors={
            "stable": f"app={service}-api,version=v1",
            "canary": f"app={service}-api,version=v2",
        },
        image_repository=image_repository,
    )


def application_manifest(
    *, name: str, repo_url: str, path: str, namespace: str, images: dict[str, str]
) -> dict[str, Any]:
    """An Argo CD Application with image-updater annotations for every alias in ``images``."""
    annotations = {f"{UPDATER}/image-list": ",".join(f"{a}={i}" for a, i in images.items())}
    for alias in images:
        annotations[f"{UPDATER}/{alias}.update-strategy"] = "digest"
        annotations[f"{UPDATER}/{alias}.pull-secret"] = PULL_SECRET
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "annotations": annotations},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": False, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


def sample_applicationset(
    sample: SampleRepo, *, name: str = "dev-api", ignore_images: bool = False
) -> dict[str, Any]:
    """An ApplicationSet (list generator) generating ``sample.app_manifest``; with
    ``ignore_images`` it carries ``ignoreApplicationDifferences`` on
    ``/spec/source/kustomize/images`` (the image-updater workaround, reference D)."""
    app = sample.app_manifest
    service = sample.namespace
    template_meta = copy.deepcopy(app["metadata"])
    template_meta["name"] = "dev-api-{{service}}"
    del template_meta["namespace"]
    template_spec = copy.deepcopy(app["spec"])
    template_spec["destination"]["namespace"] = "{{service}}"
    spec: dict[str, Any] = {
        "generators": [{"list": {"elements": [{"service": service}]}}],
        "template": {"metadata": template_meta, "spec": template_spec},
    }
    if ignore_images:
        spec["ignoreApplicationDifferences"] = [{"jsonPointers": ["/spec/source/kustomize/images"]}]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    }
