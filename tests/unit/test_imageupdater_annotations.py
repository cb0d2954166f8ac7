"""Application annotations -> settings; every problem of one Application reported at once."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.annotations import PREFIX, parse_annotations, parse_application
from pipeline.core.imageupdater.credrefs import SecretRef
from pipeline.core.imageupdater.strategies import Strategy
from pipeline.core.imageupdater.tagfilters import Platform
from pipeline.core.imageupdater.writeback import GitBranch, HelmTarget, WriteBack, WriteBackTarget
from pipeline.errors import AnnotationError, UsageError


def test_defaults() -> None:
    config = parse_annotations({PREFIX + "image-list": "canary=ghcr.io/org/app"})
    image = config.image("canary")
    assert image.strategy is Strategy.SEMVER
    assert image.allow_tags.allows_any and image.ignore_tags == ()
    assert image.platforms == () and image.pull_secret is None and not image.force_update
    assert image.helm == HelmTarget("image.name", "image.tag", None)
    assert image.kustomize_image_name is None
    assert config.write_back == WriteBack("argocd")
    assert config.warnings == ()


def test_every_per_alias_setting() -> None:
    annotations = {
        PREFIX + "image-list": "canary=127.0.0.1:5000/demo:main, web=nginx:^1.21",
        PREFIX + "canary.update-strategy": "digest",
        PREFIX + "canary.allow-tags": "regexp:^main$",
        PREFIX + "canary.ignore-tags": "old-*, tmp",
        PREFIX + "canary.platforms": "linux/amd64,linux/arm64",
        PREFIX + "canary.pull-secret": "pullsecret:apps/regcred",
        PREFIX + "canary.helm.image-name": "canary.image.repository",
        PREFIX + "canary.helm.image-tag": "canary.image.tag",
        PREFIX + "canary.kustomize.image-name": "demo-canary",
        PREFIX + "canary.force-update": "true",
    }
    config = parse_annotations(annotations, "apps/demo")
    image = config.image("canary")
    assert image.strategy is Strategy.DIGEST and image.constraint == "main"
    assert image.allow_tags.allows("main") and not image.allow_tags.allows("mainline")
    assert image.ignore_tags == ("old-*", "tmp")
    assert image.platforms == (Platform("linux", "amd64"), Platform("linux", "arm64"))
    assert image.pull_secret == SecretRef("apps", "regcred")
    assert image.helm == HelmTarget("canary.image.repository", "canary.image.tag", None)
    assert image.kustomize_image_name == "demo-canary"
    assert image.force_update is True
    web = config.image("web")
    assert (web.strategy, web.constraint, web.force_update) == (Strategy.SEMVER, "^1.21", False)


def test_per_alias_wins_over_app_wide() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app:main, other=org/other",
        PREFIX + "update-strategy": "alphabetical",
        PREFIX + "canary.update-strategy": "digest",
        PREFIX + "ignore-tags": "tmp-*",
        PREFIX + "pull-secret": "env:REGISTRY_CREDS",
        PREFIX + "force-update": "1",
    }
    config = parse_annotations(annotations)
    assert config.image("canary").strategy is Strategy.DIGEST
    other = config.image("other")
    assert other.strategy is Strategy.ALPHABETICAL
    assert other.ignore_tags == ("tmp-*",)
    assert other.force_update is True
    assert config.image("canary").ignore_tags == ("tmp-*",)


def test_image_without_alias_reads_only_app_wide_keys() -> None:
    """Vector 10: alias "" with no per-alias settings read."""
    annotations = {
        PREFIX + "image-list": "=docker.io/library/nginx:1.21",
        PREFIX + ".update-strategy": "digest",
        PREFIX + "update-strategy": "alphabetical",
    }
    image = parse_annotations(annotations).image("")
    assert image.strategy is Strategy.ALPHABETICAL


def test_alias_with_slash_uses_underscore_in_keys() -> None:
    annotations = {
        PREFIX + "image-list": "org/app=ghcr.io/org/app:main",
        PREFIX + "org_app.update-strategy": "digest",
    }
    assert parse_annotations(annotations).image("org/app").strategy is Strategy.DIGEST


def test_legacy_names_warn() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "canary.update-strategy": "latest",
        PREFIX + "canary.tag-match": "regexp:^v",
    }
    config = parse_annotations(annotations)
    image = config.image("canary")
    assert image.strategy is Strategy.NEWEST_BUILD
    assert image.allow_tags.allows("v1") and not image.allow_tags.allows("x1")
    assert len(config.warnings) == 2


def test_bad_allow_tags_warns_and_fails_closed() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "canary.allow-tags": "semver:1.x",
    }
    config = parse_annotations(annotations)
    assert not config.image("canary").allow_tags.allows("a")
    assert any("fails closed" in w for w in config.warnings)


@pytest.mark.parametrize("expression", ["[a", "(?=x)x", "(a)\\1"])
def test_allow_tags_regexp_that_does_not_compile_is_refused(expression: str) -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "canary.allow-tags": f"regexp:{expression}",
    }
    with pytest.raises(AnnotationError) as caught:
        parse_annotations(annotations)
    (problem,) = caught.value.problems
    assert PREFIX + "canary.allow-tags" in problem.message
    assert "does not compile" in problem.message and "RE2" in problem.fix


def test_all_problems_reported_at_once() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app, web=org/web:latest, dup=org/x:main, dup=org/y:main",
        PREFIX + "canary.update-strategy": "digets",
        PREFIX + "web.force-update": "yes",
        PREFIX + "dup.update-strategy": "digest",
        PREFIX + "canary.pull-secret": "pullsecret:only-namespace",
        PREFIX + "write-back-method": "github",
    }
    with pytest.raises(AnnotationError) as caught:
        parse_annotations(annotations, "Application apps/demo")
    err = caught.value
    assert err.reason == "bad-annotation"
    messages = [p.message for p in err.problems]
    assert len(messages) == 6, messages
    joined = "\n".join(messages)
    for needle in (
        "digets",
        "'yes' is not a boolean",
        "'latest'",
        "defined twice",
        "only-namespace",
        "github",
    ):
        assert needle in joined
    assert all(p.fix for p in err.problems)
    assert "Application apps/demo" in err.message
    assert isinstance(err, UsageError)


def test_digest_without_tag_is_a_problem() -> None:
    """Vector 26 at configuration time."""
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "canary.update-strategy": "digest",
    }
    with pytest.raises(AnnotationError, match="without a version constraint"):
        parse_annotations(annotations)


def test_missing_image_list_is_a_problem() -> None:
    with pytest.raises(AnnotationError, match="image-list"):
        parse_annotations({PREFIX + "update-strategy": "digest"})


def test_unknown_alias_raises_with_the_known_ones() -> None:
    config = parse_annotations({PREFIX + "image-list": "web=org/web,api=org/api"}, "apps/demo")
    with pytest.raises(UsageError, match="no image alias 'canary'") as caught:
        config.image("canary")
    assert "'web', 'api'" in caught.value.hint


def test_unknown_keys_are_warned_about() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "canary.update-strategyy": "digest",
        PREFIX + "web.update-strategy": "digest",
    }
    warnings = parse_annotations(annotations).warnings
    assert any("update-strategyy is not an image-updater annotation" in w for w in warnings)
    assert any("web.update-strategy names an alias" in w for w in warnings)


def test_git_write_back() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "write-back-method": "git:secret:argocd/git-creds",
        PREFIX + "write-back-target": "kustomization:../overlays/canary",
        PREFIX + "git-branch": "main:image-updater-{{.SHA256}}",
        PREFIX + "git-repository": "https://git.example.com/org/deploy.git",
    }
    wb = parse_annotations(annotations).write_back
    assert wb == WriteBack(
        "git",
        "secret",
        ("argocd", "git-creds"),
        WriteBackTarget("kustomization", "../overlays/canary"),
        GitBranch("main", "image-updater-{{.SHA256}}"),
        "https://git.example.com/org/deploy.git",
    )


@pytest.mark.parametrize(
    ("method", "creds"),
    [("git", "repocreds"), ("git:repocreds", "repocreds"), ("argocd", "repocreds")],
)
def test_write_back_methods(method: str, creds: str) -> None:
    annotations = {PREFIX + "image-list": "canary=org/app", PREFIX + "write-back-method": method}
    assert parse_annotations(annotations).write_back.git_credentials == creds


@pytest.mark.parametrize(
    "target", ["kustomization:overlays/kustomization.yaml", "values.yaml", "helm:values.yaml"]
)
def test_bad_write_back_targets(target: str) -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app",
        PREFIX + "write-back-method": "git",
        PREFIX + "write-back-target": target,
    }
    with pytest.raises(AnnotationError, match="write-back-target"):
        parse_annotations(annotations)


def test_git_settings_ignored_with_argocd_write_back() -> None:
    annotations = {PREFIX + "image-list": "canary=org/app", PREFIX + "git-branch": "main"}
    config = parse_annotations(annotations)
    assert config.write_back.branch is None
    assert any("git-branch is ignored" in w for w in config.warnings)


def test_helm_branch_forms() -> None:
    base = {PREFIX + "image-list": "canary=org/app", PREFIX + "write-back-method": "git"}
    for text, branch in [("main", GitBranch("main", "")), (":feature", GitBranch("", "feature"))]:
        assert parse_annotations({**base, PREFIX + "git-branch": text}).write_back.branch == branch


def app(kind: str = "Application", annotations: dict[str, str] | None = None) -> dict[str, object]:
    meta = {"name": "demo", "namespace": "apps", "annotations": annotations or {}}
    if kind == "ApplicationSet":
        return {
            "kind": kind,
            "metadata": {"name": "demo", "namespace": "apps"},
            "spec": {"template": {"metadata": meta}},
        }
    return {"kind": kind, "metadata": meta}


def test_parse_application_and_applicationset_template() -> None:
    annotations = {
        PREFIX + "image-list": "canary=org/app:main",
        PREFIX + "canary.update-strategy": "digest",
    }
    for kind in ("Application", "ApplicationSet"):
        config = parse_application(app(kind, annotations))
        assert config is not None
        assert config.image("canary").strategy is Strategy.DIGEST
        assert config.app == f"{kind} apps/demo"
    assert parse_application(app()) is None
