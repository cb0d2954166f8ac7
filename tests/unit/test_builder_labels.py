"""Pure parts of the builders: OCI labels, buildx metadata and cache specs."""

from __future__ import annotations

import datetime

import pytest

from pipeline.adapters.builder import PrebuiltImage
from pipeline.adapters.builder_buildx import cache_spec, digest_from_metadata
from pipeline.core.build import PR_LABEL, oci_labels
from pipeline.errors import BuildError, UsageError

DIGEST = "sha256:" + "0f" * 32


def test_oci_labels() -> None:
    created = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
    assert oci_labels("abc123", "https://github.com/acme/app", 42, created=created) == {
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.source": "https://github.com/acme/app",
        "org.opencontainers.image.created": "2024-05-01T12:30:00Z",
        PR_LABEL: "42",
    }
    assert PR_LABEL not in oci_labels("abc123", "https://x", None, created=created)


def test_digest_from_buildx_metadata() -> None:
    metadata = {
        "buildx.build.ref": "builder/builder0/abc",
        "containerimage.config.digest": "sha256:" + "11" * 32,
        "containerimage.digest": DIGEST,
        "image.name": "ghcr.io/acme/app:pr-1",
    }
    assert digest_from_metadata(metadata) == DIGEST
    with pytest.raises(BuildError, match=r"containerimage\.digest"):
        digest_from_metadata({"buildx.build.ref": "x"})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ghcr.io/acme/app:cache", {"type": "registry", "ref": "ghcr.io/acme/app:cache"}),
        ("type=gha,scope=pr", {"type": "gha", "scope": "pr"}),
        ("type=registry,ref=r/x:c,mode=max", {"type": "registry", "ref": "r/x:c", "mode": "max"}),
    ],
)
def test_cache_spec(spec: str, expected: dict[str, str]) -> None:
    assert cache_spec(spec) == expected


def test_prebuilt_requires_a_real_digest() -> None:
    assert PrebuiltImage(DIGEST).digest == DIGEST
    with pytest.raises(UsageError):
        PrebuiltImage("latest")
