"""One fix plan for what the preflight found in every service, verified before it is printed.

The preflight's problems each come with a fix in words; applied one at a time they can
contradict each other (a fix for the ApplicationSet naming the field of one pin method, then a
fix for the overlay that switches the pin method). Here the pin method is decided first and
every fix derived from it, for all the services of one GitOps repository at once:

- the canary gets its own image name (``<repository>-canary``) when an overlay ``images`` entry
  keyed on the shared repository rewrites it: the canary Deployment's image names it, the
  overlay maps it back to the real repository and canary tag (so the canary runs a real image
  before the first pin and after cleanup), and ``<alias>.kustomize.image-name`` tells both this
  tool and argocd-image-updater to pin through ``kustomize.images`` under that name;
- annotations go where they live: the ApplicationSet's template when one generates the
  Application, else the Application's manifest in the repository;
- the owning ApplicationSet ignores exactly the field that pin method writes;
- a canary scaled to zero gets one replica.

The edits are made in a scratch copy of the repository at the Applications' commit, the sources
are rendered again there with the pin, and the preflight's checks re-run on the result; the plan
is printed only if they pass, as one patch for ``git apply`` (docs/adoption.md).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.imageupdater.annotations import PREFIX as UPDATER
from pipeline.core.pin import PinWrite, get_path, plan_pin, source_path
from pipeline.core.plan import DIGEST_ANNOTATION, PREVIOUS_ANNOTATION, RUN_ANNOTATION, ServicePlan
from pipeline.core.ports import Obj, Sources
from pipeline.core.rollout import template_images
from pipeline.deploy.fixconfig import config_patch
from pipeline.deploy.fixworkspace import Workspace
from pipeline.deploy.preflight import (
    appset_ignores,
    json_pointer,
    owning_applicationset,
    pinned_source,
)
from pipeline.errors import PipelineError, Problem

FIXABLE = frozenset(
    ("override-rewrote-image", "pin-reaches-stable", "appset-reverts-pin", "canary-scaled-to-zero")
)
# what makes a refused service worth reading again: FIXABLE, or a canary the conventions miss
# (pipeline.yaml can say where it is)
WORTH_A_FIX = FIXABLE | {"canary-workload-not-found"}
OUR_ANNOTATIONS = [RUN_ANNOTATION, DIGEST_ANNOTATION, PREVIOUS_ANNOTATION]
VERIFY_DIGEST = "sha256:" + "f" * 64  # stands for the pushed digest in the re-render only


@dataclass(frozen=True)
class Refused:
    """One service whose preflight found problems, with what the fix needs to know."""

    plan: ServicePlan
    app: Obj
    deployment: Obj  # the live canary Deployment
    problems: tuple[Problem, ...]
    appset: Obj | None = None  # the live owning ApplicationSet, if any
    config: dict[str, str] = field(default_factory=dict)  # pipeline.yaml values that find it


@dataclass
class FixPlan:
    patch: str = ""  # unified diff, paths relative to the repository root (git apply)
    commands: list[str] = field(default_factory=list)  # for objects not in the repository
    steps: list[str] = field(default_factory=list)  # what it does, why, what to run after
    verified: bool = False
    unverified_reason: str = ""
    config_patch: str = ""  # for pipeline.yaml (paths relative to its directory)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "patch": self.patch,
            "config_patch": self.config_patch,
            "commands": self.commands,
            "steps": self.steps,
            "unverified_reason": self.unverified_reason,
        }


def canary_image_name(plan: ServicePlan) -> str:
    """The canary's own image name: the repository's last path segment + ``-canary``."""
    return plan.repository.repository.rsplit("/", 1)[-1] + "-canary"


def _set_annotations(meta: Any, values: dict[str, str]) -> None:
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    for key, value in values.items():
        meta["annotations"][key] = value


def _alias_annotations(app: Obj, plan: ServicePlan, name: str) -> dict[str, str]:
    """The image-updater annotations that pin the canary through ``kustomize.images`` under
    ``name``; the image-list gets the alias (with its tag) when it lacks it."""
    alias = plan.alias or "canary"
    values = {f"{UPDATER}{alias}.kustomize.image-name": name}
    image_list = (app["metadata"].get("annotations") or {}).get(UPDATER + "image-list") or ""
    aliases = {item.split("=", 1)[0].strip() for item in image_list.split(",") if "=" in item}
    if alias not in aliases:
        entry = f"{alias}={plan.repository.name}:{plan.tags[0]}"
        values[UPDATER + "image-list"] = f"{image_list},{entry}" if image_list else entry
    return values


class _Planner:
    def __init__(self, ws: Workspace, sources: Sources) -> None:
        self.ws, self.sources = ws, sources
        self.plan = FixPlan()
        self.apps_after: dict[str, Obj] = {}  # app name -> the Application once fixed
        self.appsets_after: dict[str, Obj] = {}  # appset name -> as once fixed (plain dict)

    def canary_name(self, r: Refused) -> None:
        """Give the canary its own image name, mapped back to the real image by the overlay."""
        name = canary_image_name(r.plan)
        dep_name = r.deployment["metadata"]["name"]
        found = self.ws.find("Deployment", dep_name)
        if found is None:
            raise _CannotFix(f"no manifest of Deployment {dep_name} in the repository")
        rel, doc = found
        containers = get_path(doc, "spec.template.spec.containers") or []
        wanted = r.plan.repository.repository
        for container in containers:
            image = str(container.get("image", ""))
            if wanted in image or container.get("name") == r.plan.container:
                container["image"] = f"{name}:{r.plan.tags[0]}"
        self.ws.touch(rel)
        src = get_path(r.app, source_path(r.app)) or {}
        overlay = self.ws.kustomization(str(src.get("path") or "."))
        if overlay is None:
            raise _CannotFix(f"no kustomization at {src.get('path')} to map {name} back")
        orel, kust = overlay
        images = kust.get("images")
        if images is None:
            kust["images"] = images = []
        entry = {"name": name, "newName": r.plan.repository.name, "newTag": r.plan.tags[0]}
        for i, existing in enumerate(images):
            if existing.get("name") == name:
                images[i] = entry
                break
        else:
            images.append(entry)
        self.ws.touch(orel)
        self.annotate(r, _alias_annotations(r.app, r.plan, name))
        self.plan.steps.append(
            f"{r.plan.service}: the canary Deployment {dep_name} runs image {name} (its own "
            f"name), which {orel} maps to {r.plan.repository.name}:{r.plan.tags[0]}; the "
            f"overlay entry for {r.plan.repository.name} no longer rewrites it, and pins go "
            f"into kustomize.images under {name} (argocd-image-updater writes the same)"
        )

    def annotate(self, r: Refused, values: dict[str, str]) -> None:
        app_name = r.app["metadata"]["name"]
        after = self.apps_after.setdefault(app_name, copy.deepcopy(r.app))
        after["metadata"].setdefault("annotations", {}).update(values)
        owner = owning_applicationset(r.app)
        if owner is not None and UPDATER + "image-list" in values:
            raise _CannotFix(
                f"add the {r.plan.alias or 'canary'} alias to the image-list of ApplicationSet "
                f"{owner}'s template (with its tag), then run again"
            )
        if owner is not None:
            found = self.ws.find("ApplicationSet", owner)
            if found is None:
                raise _CannotFix(f"ApplicationSet {owner} is not in the repository")
            rel, doc = found
            _set_annotations(doc["spec"]["template"]["metadata"], values)
            self.ws.touch(rel)
            return
        found = self.ws.find("Application", app_name)
        if found is not None:
            rel, doc = found
            _set_annotations(doc["metadata"], values)
            self.ws.touch(rel)
            return
        pairs = " ".join(f"{k}={v}" for k, v in values.items())
        self.plan.commands.append(
            f"kubectl -n {r.plan.argocd_namespace} annotate application {app_name} "
            f"--overwrite {pairs}"
        )

    def scale(self, r: Refused) -> None:
        dep_name = r.deployment["metadata"]["name"]
        found = self.ws.find("Deployment", dep_name)
        if found is None:
            raise _CannotFix(f"no manifest of Deployment {dep_name} in the repository")
        rel, doc = found
        doc["spec"]["replicas"] = 1
        self.ws.touch(rel)
        self.plan.steps.append(f"{r.plan.service}: the canary Deployment gets 1 replica")

    def ignore_pin(self, r: Refused, pin: PinWrite) -> None:
        owner = owning_applicationset(r.app)
        if owner is None:
            return
        pointer = json_pointer(pin.field)
        live = self.appsets_after.setdefault(owner, copy.deepcopy(r.appset or {}))
        if appset_ignores(live, r.app["metadata"]["name"], pointer):
            return
        rule = {"jsonPointers": [pointer]}  # every generated Application: they share the field
        spec = live.setdefault("spec", {})
        spec.setdefault("ignoreApplicationDifferences", []).append(rule)
        found = self.ws.find("ApplicationSet", owner)
        if found is None:
            self.plan.commands.append(
                f"kubectl -n {r.plan.argocd_namespace} patch applicationset {owner} "
                "--type merge -p '"
                + _json({"spec": {"ignoreApplicationDifferences":
                                  spec["ignoreApplicationDifferences"]}}) + "'"
            )  # fmt: skip
            return
        rel, doc = found
        dspec = doc["spec"]
        if dspec.get("ignoreApplicationDifferences") is None:
            dspec["ignoreApplicationDifferences"] = []
        dspec["ignoreApplicationDifferences"].append(rule)
        preserved = dspec.get("preservedFields")
        if preserved is None:
            dspec["preservedFields"] = preserved = {}
        kept = preserved.get("annotations")
        if kept is None:
            preserved["annotations"] = kept = []
        for name in OUR_ANNOTATIONS:
            if name not in kept:
                kept.append(name)
        self.ws.touch(rel)
        self.plan.steps.append(
            f"ApplicationSet {owner} ({rel}) leaves {pointer} and our annotations to the "
            "Applications it generates (ignoreApplicationDifferences, preservedFields), so a pin "
            f"is not reverted; apply {rel} to the cluster if no Application syncs it"
        )


class _CannotFix(Exception):
    """The fix cannot be derived (the reason is shown instead of a patch)."""


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def plan_fixes(
    refused: Sequence[Refused], sources: Sources, config_path: Path | None = None
) -> FixPlan | None:
    """One plan for every refused service of one repository, verified by re-rendering; None
    when no problem is one this module fixes. ``config_path``: the pipeline.yaml that gets the
    selectors and namespaces the conventions miss."""
    fixable = [r for r in refused if r.config or any(p.reason in FIXABLE for p in r.problems)]
    if not fixable:
        return None
    first = get_path(fixable[0].app, source_path(fixable[0].app)) or {}
    root = sources.workspace(first)
    try:
        planner = _Planner(Workspace(root), sources)
        try:
            pins = {r.plan.service: _fix_one(planner, r) for r in fixable}
        except _CannotFix as e:
            planner.plan.unverified_reason = str(e)
            return planner.plan
        planner.plan.patch = planner.ws.diff()
        settings = {r.plan.service: r.config for r in fixable if r.config}
        if settings:
            path = config_path or Path("pipeline.yaml")
            planner.plan.config_patch = config_patch(path, settings)
            for service, values in sorted(settings.items()):
                found = ", ".join(f"{k}: {v}" for k, v in values.items())
                planner.plan.steps.append(
                    f"{service}: {path} says where its canary is ({found}): the conventions miss it"
                )
        failures = [
            f for r in fixable for f in _verify(planner, r, pins[r.plan.service], root, sources)
        ]
        planner.plan.verified = not failures
        planner.plan.unverified_reason = "; ".join(failures)
        if planner.plan.verified:
            planner.plan.steps.append(
                "after `git apply` and a commit to the Applications' targetRevision, run the "
                "same command again: the annotations select the pin method, no flag changes"
            )
        return planner.plan
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fix_one(planner: _Planner, r: Refused) -> PinWrite:
    reasons = {p.reason for p in r.problems}
    if reasons & {"override-rewrote-image", "pin-reaches-stable"}:
        planner.canary_name(r)
    if "canary-scaled-to-zero" in reasons:
        planner.scale(r)
    app = planner.apps_after.get(r.app["metadata"]["name"], r.app)
    pin = plan_pin(app, r.plan, VERIFY_DIGEST, r.deployment, "auto")
    if isinstance(pin, Problem):
        raise _CannotFix(f"{r.plan.service}: {pin.message}")
    planner.ignore_pin(r, pin)
    return pin


def _verify(
    planner: _Planner, r: Refused, pin: PinWrite, root: Path, sources: Sources
) -> list[str]:
    """The preflight's render and ApplicationSet checks, on the fixed repository."""
    app = planner.apps_after.get(r.app["metadata"]["name"], r.app)
    name = r.deployment["metadata"]["name"]
    failures = []
    try:
        pinned = sources.render_in(root, pinned_source(app, pin))
        unpinned = sources.render_in(root, get_path(app, source_path(app)) or {})
    except PipelineError as e:
        return [f"{r.plan.service}: the fixed source does not render: {e.message}"]
    for doc in pinned:
        if doc.get("kind") != "Deployment":
            continue
        carries = any(VERIFY_DIGEST in i for i in template_images(doc).values())
        if doc["metadata"].get("name") == name and not carries:
            failures.append(f"{r.plan.service}: the pinned canary still lacks the digest")
        elif doc["metadata"].get("name") != name and carries:
            failures.append(f"{r.plan.service}: the pin reaches {doc['metadata'].get('name')}")
        if doc["metadata"].get("name") == name and doc["spec"].get("replicas") == 0:
            failures.append(f"{r.plan.service}: the canary still has 0 replicas")
    real = f"{r.plan.repository.name}:{r.plan.tags[0]}"
    for doc in unpinned:
        if doc.get("kind") == "Deployment" and doc["metadata"].get("name") == name:
            images = list(template_images(doc).values())
            if real not in images:
                failures.append(f"{r.plan.service}: unpinned, the canary would run {images}")
    owner = owning_applicationset(r.app)
    appset = planner.appsets_after.get(owner or "", r.appset)
    pointer = json_pointer(pin.field)
    if (
        owner
        and appset is not None
        and not appset_ignores(appset, r.app["metadata"]["name"], pointer)
    ):
        failures.append(f"{r.plan.service}: ApplicationSet {owner} would revert the pin")
    return failures
