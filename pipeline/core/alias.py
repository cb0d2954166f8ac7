"""One configuration source: the image, tag and write-back target of an image-updater alias.

When neither ``--image`` nor pipeline.yaml names the repository, deploy-canary reads the
Application and takes the alias's ``image-list`` entry (``<alias>=<repo>:<tag>``, default alias
``canary``; reference 1.2/1.3, ``registry-scanner/pkg/image/image.go NewFromIdentifier``). The
annotations are read with :func:`pipeline.core.imageupdater.annotations.parse_application`, the same
model ``pipeline poll`` uses, so a bad annotation fails here with every problem named
(``AnnotationError``, exit 2). Flags still win: ``--tag`` overrides the alias's tag.

The write-back settings of the image we deploy (``<alias>.kustomize.image-name``,
``<alias>.helm.image-name|image-tag|image-spec``) come from :func:`image_config`: the alias the
plan names, else the ``image-list`` entry whose repository is ours (the one watching our tag
first, then one whose alias says ``canary``), as ``pipeline poll`` deploys without an alias.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.core.images import parse_image_ref
from pipeline.core.imageupdater.annotations import (
    IMAGE_LIST,
    PREFIX,
    ImageConfig,
    annotations_of,
    parse_application,
)
from pipeline.core.imageupdater.strategies import Strategy
from pipeline.core.plan import ServicePlan, application_name
from pipeline.core.ports import Applications, NotFound, Obj
from pipeline.core.settings import DEFAULT_ALIAS, DeploySettings, ServiceTarget
from pipeline.errors import UsageError


def _is_tag(repository: str, tag: str) -> bool:
    try:
        parse_image_ref(f"{repository}:{tag}")
    except UsageError:
        return False
    return True


def target_from_annotations(target: ServiceTarget, app: Obj) -> ServiceTarget:
    """``target`` with the repository (and tag, unless set) of its alias in ``app``."""
    alias = target.alias or DEFAULT_ALIAS
    name = (app.get("metadata") or {}).get("name", "")
    config = parse_application(app)  # AnnotationError lists every bad annotation
    if config is None:
        raise UsageError(
            f"no image repository for service {target.name!r}, and Application {name} has no "
            f"{IMAGE_LIST} annotation to take it from",
            hint=f"pass --image REGISTRY/REPO, or annotate the Application:\n  {IMAGE_LIST}: "
            f"{alias}=<registry>/<repo>:<tag>",
        )
    image = config.image(alias).image
    tag = target.tag
    if not tag and image.tag:
        strategy = config.image(alias).strategy
        if not _is_tag(image.full_name, image.tag):
            raise UsageError(
                f"{IMAGE_LIST} of Application {name}: alias {alias!r} has {image.tag!r}, a "
                f"{strategy.value} constraint, not a tag to push",
                hint=f"pass --tag (e.g. --tag '{{service}}-dev-canary'), or make the alias watch "
                f"a tag: '{alias}=<repo>:<tag>' with {PREFIX}{alias}.update-strategy: "
                f"{Strategy.DIGEST.value}",
            )
        tag = image.tag
    return replace(target, image=image.full_name, tag=tag, alias=alias)


def resolve_target(
    target: ServiceTarget, settings: DeploySettings, applications: Applications
) -> ServiceTarget:
    """The target unchanged when its repository is configured, else read from the alias."""
    if target.image:
        return target
    where = application_name(target, settings)
    try:
        app = applications.get_application(where.argocd_namespace, where.app)
    except NotFound:
        raise UsageError(
            f"no image repository for service {target.name!r}, and Application "
            f"{where.argocd_namespace}/{where.app} to read it from does not exist",
            hint="pass --image REGISTRY/REPO, or --app NAME of the Application whose "
            f"{IMAGE_LIST} names the image",
        ) from None
    return target_from_annotations(target, app)


def image_config(app: Obj, plan: ServicePlan) -> ImageConfig | None:
    """The image-updater settings of the image ``plan`` deploys; None without annotations.

    An alias the plan names must exist (UsageError listing the defined ones); without one,
    the entry whose repository is ours is used, else none (image-updater's defaults apply).
    """
    config = parse_application(app) if IMAGE_LIST in annotations_of(app) else None
    if config is None:
        return None
    if plan.alias:
        return config.image(plan.alias)
    ours = plan.repository
    matches = [
        c
        for c in config.images
        if (c.image.registry_ref().registry, c.image.registry_ref().repository)
        == (ours.registry, ours.repository)
    ]
    matches.sort(key=lambda c: (c.image.tag != plan.tags[0], DEFAULT_ALIAS not in c.alias))
    return matches[0] if matches else None
