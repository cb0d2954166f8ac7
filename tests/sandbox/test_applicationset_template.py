"""ApplicationSet templates, ignore rules and merge patches (pure; reference D)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sandbox.controllers.applicationset_template import (
    apply_ignored,
    generate,
    merge_patch,
    render_string,
)


def test_fasttemplate_trims_tags_and_keeps_unknown_ones() -> None:
    params = {"service": "auth", "values": {"env": "dev"}}
    assert (
        render_string("{{service}}-{{ values.env }}-{{nope}}", params, False) == "auth-dev-{{nope}}"
    )


def test_go_template_field_lookups() -> None:
    assert (
        render_string(
            "{{ .service }}/{{.values.env}}", {"service": "a", "values": {"env": "d"}}, True
        )
        == "a/d"
    )
    with pytest.raises(ValueError, match="no entry"):
        render_string("{{.missing}}", {}, True)
    with pytest.raises(ValueError, match="unsupported"):
        render_string("{{ .a | upper }}", {"a": "x"}, True)


def test_list_generator_renders_one_app_per_element() -> None:
    appset = {
        "spec": {
            "generators": [{"list": {"elements": [{"s": "a"}, {"s": "b"}]}}],
            "template": {
                "metadata": {"name": "app-{{s}}"},
                "spec": {"destination": {"namespace": "{{s}}"}},
            },
        }
    }
    apps = generate(appset)
    assert [(a["metadata"]["name"], a["spec"]["destination"]["namespace"]) for a in apps] == [
        ("app-a", "a"),
        ("app-b", "b"),
    ]


LIVE: dict[str, Any] = {"spec": {"source": {"path": "p", "kustomize": {"images": ["x=y"]}}}}
DESIRED: dict[str, Any] = {"spec": {"source": {"path": "q"}}}


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], {"spec": {"source": {"path": "q"}}}),
        (
            [{"jsonPointers": ["/spec/source/kustomize/images"]}],
            {"spec": {"source": {"path": "q", "kustomize": {"images": ["x=y"]}}}},
        ),
        (
            [{"jqPathExpressions": [".spec.source.kustomize"]}],
            {"spec": {"source": {"path": "q", "kustomize": {"images": ["x=y"]}}}},
        ),
        (
            [{"name": "other", "jsonPointers": ["/spec/source/path"]}],
            {"spec": {"source": {"path": "q"}}},
        ),
        (
            [{"name": "app", "jsonPointers": ["/spec/source/path"]}],
            {"spec": {"source": {"path": "p"}}},
        ),
    ],
)
def test_ignored_fields_keep_their_live_value(rules: list[Any], expected: dict[str, Any]) -> None:
    assert apply_ignored(DESIRED, LIVE, "app", rules) == expected


def test_merge_patch() -> None:
    assert merge_patch(LIVE, LIVE) is None
    assert merge_patch(LIVE, DESIRED) == {"spec": {"source": {"path": "q", "kustomize": None}}}
    assert merge_patch({"l": [1, 2]}, {"l": [1]}) == {"l": [1]}
