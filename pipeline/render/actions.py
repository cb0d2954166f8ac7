"""Third-party actions the generated GitHub workflows use, pinned to full commit SHAs.

A tag can be moved; a commit SHA cannot (docs.github.com "Security hardening for GitHub
Actions": "Pin actions to a full length commit SHA"). The tag each SHA was released as is kept
next to it and rendered as a comment, so updates stay reviewable; Dependabot
(.github/dependabot.yml) proposes new SHAs for the rendered files, and a test checks that the
pins here and in the shipped workflows agree.

Each SHA is the commit its release tag points to (read from the action's repository), and each
release runs on node24.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedAction:
    repo: str
    sha: str
    tag: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha}"


ACTIONS = {
    "checkout": PinnedAction(
        "actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"
    ),
    "setup_python": PinnedAction(
        "actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"
    ),
    "setup_buildx": PinnedAction(
        "docker/setup-buildx-action", "37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"
    ),
    "setup_qemu": PinnedAction(
        "docker/setup-qemu-action", "96fe6ef7f33517b61c61be40b68a1882f3264fb8", "v4.2.0"
    ),
    "login": PinnedAction(
        "docker/login-action", "4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"
    ),
    "metadata": PinnedAction(
        "docker/metadata-action", "dc802804100637a589fabce1cb79ff13a1411302", "v6.2.0"
    ),
    "build_push": PinnedAction(
        "docker/build-push-action", "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"
    ),
    "upload_artifact": PinnedAction(
        "actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"
    ),
    "download_artifact": PinnedAction(
        "actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"
    ),
    "github_script": PinnedAction(
        "actions/github-script", "ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"
    ),
}
