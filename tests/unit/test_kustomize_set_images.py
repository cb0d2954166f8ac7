"""``set_images`` against kustomize's own ``edit set image`` cases (setimage_test.go, C.1)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.kustomize_edit import append_patches, set_images
from pipeline.errors import KustomizeError

D = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3"


@pytest.mark.parametrize(
    ("arg", "entry"),
    [
        ("image1=my-image1:my-tag", {"name": "image1", "newName": "my-image1", "newTag": "my-tag"}),
        (f"image1=my-image1@{D}", {"name": "image1", "newName": "my-image1", "digest": D}),
        (
            f"image1=my-image1:my-tag@{D}",
            {"name": "image1", "newName": "my-image1", "newTag": "my-tag", "digest": D},
        ),
        (
            "ngnix=localhost:5000/my-project/ngnix",
            {"name": "ngnix", "newName": "localhost:5000/my-project/ngnix"},
        ),
        (
            "ngnix=localhost:5000/my-project/ngnix:dev-01",
            {"name": "ngnix", "newName": "localhost:5000/my-project/ngnix", "newTag": "dev-01"},
        ),
        ("image1:my-tag", {"name": "image1", "newTag": "my-tag"}),
        (f"my-image1:my-tag@{D}", {"name": "my-image1", "newTag": "my-tag", "digest": D}),
        (f"image1@{D}", {"name": "image1", "digest": D}),
        ("image1=*:v1", {"name": "image1", "newTag": "v1"}),
        ("image1=my-image1:*", {"name": "image1", "newName": "my-image1"}),
        (
            f"docker.io/mng990/eco2:auth-api-dev-canary=docker.io/mng990/eco2@{D}",
            {
                "name": "docker.io/mng990/eco2:auth-api-dev-canary",
                "newName": "docker.io/mng990/eco2",
                "digest": D,
            },
        ),
    ],
)
def test_every_accepted_form_into_an_empty_kustomization(arg: str, entry: dict[str, str]) -> None:
    assert set_images({"resources": ["a.yaml"]}, [arg]) == {
        "resources": ["a.yaml"],
        "images": [entry],
    }


EXISTING: list[dict[str, Any]] = [
    {"name": "image1", "newName": "foo.bar.foo:8800/foo/image1", "newTag": "my-tag"},
    {"name": "image2", "newName": "my-image2", "digest": "sha256:abcdef12345"},
]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        # the whole same-name entry is replaced (C.1)
        ("image1:v1", [{"name": "image1", "newTag": "v1"}, EXISTING[1]]),
        (
            "image1=*:v1",
            [
                {"name": "image1", "newName": "foo.bar.foo:8800/foo/image1", "newTag": "v1"},
                EXISTING[1],
            ],
        ),
        (
            "image1=my-image1:*",
            [{"name": "image1", "newName": "my-image1", "newTag": "my-tag"}, EXISTING[1]],
        ),
        (f"image2=*@{D}", [EXISTING[0], {"name": "image2", "newName": "my-image2", "digest": D}]),
        (
            "image2=other@*",
            [EXISTING[0], {"name": "image2", "newName": "other", "digest": "sha256:abcdef12345"}],
        ),
        # new names are added, sorted by name
        ("a-first:t", [{"name": "a-first", "newTag": "t"}, *EXISTING]),
    ],
)
def test_existing_entries_are_replaced_or_preserved(
    arg: str, expected: list[dict[str, str]]
) -> None:
    assert set_images({"images": EXISTING}, [arg])["images"] == expected


def test_several_args_last_same_name_wins_and_list_is_sorted() -> None:
    result = set_images({}, ["zeta:1", "alpha:1", "alpha:2"])
    assert result["images"] == [{"name": "alpha", "newTag": "2"}, {"name": "zeta", "newTag": "1"}]


@pytest.mark.parametrize("arg", ["bad", ""])
def test_bare_name_is_rejected_with_kustomizes_message(arg: str) -> None:
    with pytest.raises(KustomizeError, match="invalid format of image"):
        set_images({}, [arg])


def test_no_images_leaves_the_kustomization_alone() -> None:
    assert set_images({"images": EXISTING}, []) == {"images": EXISTING}


def test_patches_are_appended_after_existing_ones() -> None:
    existing = {"patches": [{"path": "p.yaml"}]}
    new = {"patch": "- op: replace", "target": {"kind": "Deployment", "name": "x"}}
    assert append_patches(existing, [new]) == {"patches": [{"path": "p.yaml"}, new]}
    assert existing == {"patches": [{"path": "p.yaml"}]}
