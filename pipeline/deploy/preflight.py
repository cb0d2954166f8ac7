"""Everything that can be checked before the first write, reported all at once with fixes.

Checks: the Application exists; exactly one live canary Deployment matches --namespace and
--selector; the pin can be written (pin.plan_pin); rendering the source with our pin gives the
canary our digest and stable none (reference C.4: an overlay ``images`` entry keyed on the
shared repository name rewrites every tag after ``patches``); an owning ApplicationSet's
``ignoreApplicationDifferences`` covers the field we write (reference D), else it reverts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.images import parse_image_ref
from pipeline.core.pin import PinWrite, get_path, plan_pin, source_path
from pipeline.core.plan import ServicePlan
from pipeline.core.ports import Applications, Cluster, NotFound, Obj, Render
from pipeline.core.rollout import canary_deployments, template_images
from pipeline.core.sync import failing_sync
from pipeline.errors import (
    HiddenNotFound,
    KustomizeError,
    PreflightError,
    Problem,
    SourceUnavailable,
    SyncFailedError,
    UsageError,
)


@dataclass(frozen=True)
class Preflight:
    app: Obj
    deployment: Obj
    pin: PinWrite
    rendered: bool  # the source was rendered here (else the live template is checked later)
    render_note: str = ""  # why it was not: a finding the report shows (docs/sources.md)


def _fix_app(plan: ServicePlan) -> str:
    return (
        f"create the Application, e.g.\n"
        f"apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        f"metadata: {{name: {plan.app}, namespace: {plan.argocd_namespace}}}\n"
        f"spec:\n  project: default\n  source: {{repoURL: <repo>, path: <overlay>, "
        f"targetRevision: HEAD}}\n  destination: {{server: https://kubernetes.default.svc, "
        f"namespace: {plan.namespace}}}\nor pass --app NAME"
    )


def _fix_workload(plan: ServicePlan) -> str:
    labels = ", ".join(f"{k.strip()}: {v.strip()}" for k, v in _pairs(plan.selector))
    return (
        f"add a canary Deployment in namespace {plan.namespace} whose pod template has the "
        f"labels {{{labels}}}, e.g.\nspec:\n  template:\n    metadata:\n      labels: "
        f"{{{labels}}}\nor pass --namespace/--selector matching the existing one"
    )


def _pairs(selector: str) -> list[tuple[str, str]]:
    return [tuple(t.split("=", 1)) for t in selector.split(",") if "=" in t and "!" not in t]  # type: ignore[misc]


def pinned_source(app: Obj, pin: PinWrite) -> Obj:
    """The Application's source as it will be once our pin is written."""
    src = dict(get_path(app, source_path(app)) or {})
    kustomize = dict(src.get("kustomize") or {})
    for name in ("images", "patches"):
        if pin.field.endswith(f"kustomize.{name}"):
            kustomize[name] = list(pin.value or [])
    if kustomize:
        src["kustomize"] = kustomize
    return src


def describe_source(source: Obj) -> str:
    revision = source.get("targetRevision") or "HEAD"
    return f"{source.get('repoURL')} at {revision}, path {source.get('path') or '.'}"


def _render_problems(
    app: Obj, plan: ServicePlan, deployment: Obj, pin: PinWrite, digest: str, render: Render
) -> tuple[list[Problem], str]:
    """Problems found by rendering the source with our pin, and why it could not be rendered
    ("" when it was)."""
    source = pinned_source(app, pin)
    where = describe_source(source)
    try:
        manifests = render(source)
    except SourceUnavailable as e:
        return [], f"{e.message}" + (f" ({e.hint})" if e.hint else "")
    except KustomizeError as e:
        problem = Problem(
            "source-render-failed",
            f"rendering {where} with our pin fails: {e.message}",
            e.hint or "fix the kustomization; run `kubectl kustomize <path>` to see the error",
        )
        return [problem], ""
    name = deployment["metadata"]["name"]
    problems = []
    for doc in manifests:
        if doc.get("kind") != "Deployment":
            continue
        images_of = template_images(doc)
        carries = any(digest in image for image in images_of.values())
        if doc["metadata"].get("name") == name and _replicas(doc) == 0:
            problems.append(_scaled_to_zero(plan, doc))  # what the sync would apply
        if doc["metadata"].get("name") == name and not carries:
            problems.append(
                Problem(
                    "override-rewrote-image",
                    f"rendering {where} with our pin gives the canary "
                    f"{sorted(images_of.values())}, not {plan.repository}@{digest}: an overlay "
                    "`images` entry keyed on the shared repository name rewrites every tag "
                    "(kustomize applies `images` after `patches`)",
                    "give the canary its own image name in the overlay, e.g.\n"
                    f"images:\n- name: {plan.repository.name}   # stable only\n  newTag: <stable>\n"
                    "and in the canary Deployment use a name the stable entry does not match,\n"
                    f"e.g. image: {plan.repository.name}-canary, then annotate the Application\n"
                    "argocd-image-updater.argoproj.io/image-list: "
                    f"canary={plan.repository.name}-canary\n"
                    "argocd-image-updater.argoproj.io/canary.kustomize.image-name: "
                    f"{plan.repository.name}-canary",
                )
            )
        elif doc["metadata"].get("name") != name and carries:
            problems.append(
                Problem(
                    "pin-reaches-stable",
                    f"our pin would also change Deployment {doc['metadata'].get('name')}",
                    "use --pin-method kustomize-patch, or a canary-specific image name",
                )
            )
    return problems, ""


def _scaled_to_zero(plan: ServicePlan, deployment: Obj) -> Problem:
    name = deployment["metadata"]["name"]
    return Problem(
        "canary-scaled-to-zero",
        f"the canary Deployment {plan.namespace}/{name} has replicas: 0, so no pod would ever "
        "run the new image",
        f"set spec.replicas: 1 on {name} in the GitOps repository (and minReplicas >= 1 on an "
        "HPA that targets it), or leave this service out of the canary",
    )


def _replicas(deployment: Obj) -> int:
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)  # apps/v1 defaults replicas to 1


def near_misses(deployments: list[Obj], plan: ServicePlan) -> str:
    """The Deployments of the namespace that look like the canary the selector misses (named
    after the service or "canary", or running the image's repository), each with the
    selector that would match it: text to append to the not-found message."""
    lines = [(not canary, f"{name} (--selector {selector})")
             for name, selector, canary in look_alikes(deployments, plan)]  # fmt: skip
    if not lines:
        return ""
    best = [text for other, text in sorted(lines) if not other] or [t for _, t in sorted(lines)]
    return "; Deployments there that look like it: " + ", ".join(best)


def look_alikes(deployments: list[Obj], plan: ServicePlan) -> list[tuple[str, str, bool]]:
    """(name, the selector of its pod labels, whether it says "canary") of each Deployment
    that looks like the service's canary."""
    found = []
    for deployment in deployments:
        name = str(deployment["metadata"].get("name", ""))
        labels = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
        pod_labels = dict(labels.get("labels") or {})
        repos = set()
        for image in template_images(deployment).values():
            try:
                repos.add(parse_image_ref(image).repository)
            except UsageError:
                continue
        looks = plan.service in name or "canary" in name or plan.repository.repository in repos
        if looks and pod_labels:
            selector = ",".join(f"{k}={v}" for k, v in sorted(pod_labels.items()))
            canary = "canary" in name or any("canary" in str(v) for v in pod_labels.values())
            found.append((name, selector, canary))
    return found


def owning_applicationset(app: Obj) -> str | None:
    """The name of the ApplicationSet that generated ``app``, if one did."""
    for owner in app.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("kind") == "ApplicationSet":
            return str(owner.get("name"))
    return None


def json_pointer(field: str) -> str:
    """``spec.source.kustomize.images`` -> ``/spec/source/kustomize/images``."""
    return "/" + field.replace(".", "/").replace("[", "/").replace("]", "")


def appset_ignores(appset: Obj, app_name: str, pointer: str) -> bool:
    """Does the ApplicationSet's ``ignoreApplicationDifferences`` leave ``pointer`` of the
    Application ``app_name`` alone (reference D)?"""
    for rule in appset.get("spec", {}).get("ignoreApplicationDifferences") or []:
        if rule.get("name") not in (None, "", app_name):
            continue
        paths: Sequence[str] = list(rule.get("jsonPointers") or []) + [
            "/" + p.lstrip(".").replace(".", "/") for p in rule.get("jqPathExpressions") or []
        ]
        if any(pointer == p or pointer.startswith(p.rstrip("/") + "/") for p in paths):
            return True
    return False


def _appset_problem(
    apps: Applications, app: Obj, plan: ServicePlan, pin: PinWrite
) -> Problem | None:
    owner_name = owning_applicationset(app)
    if owner_name is None:
        return None
    owner = {"name": owner_name}
    pointer = json_pointer(pin.field)
    try:
        appset = apps.get_applicationset(plan.argocd_namespace, owner_name)
    except NotFound:
        return None
    if appset_ignores(appset, plan.app, pointer):
        return None
    return Problem(
        "appset-reverts-pin",
        f"ApplicationSet {owner['name']} owns {plan.app} and would revert {pointer} within seconds",
        f"add to ApplicationSet {owner['name']}:\nspec:\n  ignoreApplicationDifferences:\n"
        f"  - name: {plan.app}\n    jsonPointers:\n    - {pointer}\n"
        "  preservedFields:\n"
        "    annotations: [pipeline.dev/canary-run, pipeline.dev/canary-digest,\n"
        "                  pipeline.dev/canary-previous]",
    )


def shared_tag_problems(deployments: list[Obj], plan: ServicePlan) -> list[Problem]:
    """A Deployment outside the selector running a tag we push would pull our image on its
    next restart (e.g. ``--alias stable`` with the canary selector): refuse before pushing."""
    ours = {(plan.repository.registry, plan.repository.repository, t) for t in plan.tags}
    canaries = canary_deployments(deployments, plan.selector)
    if len(canaries) != 1:  # a selector problem: preflight names it, with its fix
        return []
    canary_names = {canaries[0]["metadata"]["name"]}
    problems = []
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        for image in template_images(deployment).values():
            try:
                ref = parse_image_ref(image)
            except UsageError:
                continue
            if name not in canary_names and (ref.registry, ref.repository, ref.tag) in ours:
                problems.append(
                    Problem(
                        "tag-shared-with-other-workload",
                        f"Deployment {name} (not selected by {plan.selector}) runs {image}: "
                        "pushing that tag changes what it pulls on its next restart",
                        "push a tag only the canary uses (--tag, or the canary alias), or select "
                        "that Deployment deliberately with --selector",
                    )
                )
    return problems


def refuse_shared_tags(cluster: Cluster, plan: ServicePlan) -> None:
    """Before a build: raise when pushing ``plan.tags`` would move another workload's image."""
    deployments, _ = cluster.list_objects("deployments", plan.namespace)
    problems = shared_tag_problems(deployments, plan)
    if problems:
        raise PreflightError(problems)


def run_preflight(
    apps: Applications,
    cluster: Cluster,
    plan: ServicePlan,
    digest: str,
    *,
    pin_method: str = "auto",
    render: Render | None = None,
    pushes: bool = True,
    require_render: bool = False,
) -> Preflight:
    """Every check at once; ``pushes``: also check the tags this run would push (the build path
    checks them before building instead, see :func:`refuse_shared_tags`). A source that cannot
    be rendered here is a note on the result, or a problem with ``require_render``."""
    problems: list[Problem] = []
    app: Obj | None = None
    try:
        app = apps.get_application(plan.argocd_namespace, plan.app)
    except NotFound as e:
        hidden = isinstance(e, HiddenNotFound)
        problems.append(
            Problem(
                "application-not-found",
                f"Application {plan.argocd_namespace}/{plan.app} does not exist"
                + (", or this token may not get it (Argo CD answers permission denied for "
                   "both)" if hidden else ""),
                (f"check --app and the token's project: grant `applications, get` on "
                 f"<project>/{plan.app} to its role, or " if hidden else "") + _fix_app(plan),
            )
        )  # fmt: skip
    deployments, _ = cluster.list_objects("deployments", plan.namespace)
    canaries = canary_deployments(deployments, plan.selector)
    failing = failing_sync(app) if app is not None and not canaries else ""
    if failing:  # no canary because the Application's sync fails: that is the reason
        raise SyncFailedError(
            f"no Deployment in namespace {plan.namespace} has pods labelled {plan.selector}: "
            f"Application {plan.app}'s sync fails: {failing}",
            hint="fix what the sync fails on in the GitOps source (the message names it), "
            f"then re-run; `kubectl -n {plan.argocd_namespace} get application {plan.app} -o "
            "jsonpath='{.status.operationState}'` shows it",
        )
    if not canaries:
        problems.append(
            Problem(
                "canary-workload-not-found",
                f"no Deployment in namespace {plan.namespace} has pods labelled {plan.selector}"
                + near_misses(deployments, plan),
                _fix_workload(plan),
            )
        )
    elif len(canaries) > 1:
        names = ", ".join(d["metadata"]["name"] for d in canaries)
        problems.append(
            Problem(
                "canary-workload-ambiguous",
                f"several Deployments match {plan.selector}: {names}",
                "narrow --selector so it matches only the canary, e.g. add version=v2",
            )
        )
    if pushes:
        problems += shared_tag_problems(deployments, plan)
    if app is None or len(canaries) != 1:
        raise PreflightError(problems)
    pin = plan_pin(app, plan, digest, canaries[0], pin_method)
    if isinstance(pin, Problem):
        raise PreflightError([*problems, pin])
    note = "no renderer is configured"
    if render is not None:
        render_problems, note = _render_problems(app, plan, canaries[0], pin, digest, render)
        problems += render_problems
    if note and _replicas(canaries[0]) == 0:  # not rendered: the live object must do
        problems.append(_scaled_to_zero(plan, canaries[0]))
    if note and require_render:
        problems.append(
            Problem(
                "source-not-rendered",
                f"cannot check what Argo CD will render for {plan.app}: {note}",
                "make the source renderable here (repository credentials, --source-dir; see "
                "docs/sources.md), or drop --require-render to check the live template after "
                "the sync instead",
            )
        )
    appset = _appset_problem(apps, app, plan, pin)
    if appset:
        problems.append(appset)
    if problems:
        raise PreflightError(problems)
    return Preflight(app, canaries[0], pin, not note, note)
