"""Third-party actions the generated GitHub workflows use, pinned to full commit SHAs.

A tag can be moved; a commit SHA cannot (docs.github.com "Security hardening for GitHub
Actions": "Pin actions to a full length commit SHA"). The tag each SHA was released as is kept
next to it and rendered as a comment, so updates stay reviewable.
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
        "actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"
    ),
    "setup_python": PinnedAction(
        "actions/setup-python", "0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0"
    ),
    "setup_buildx": PinnedAction(
        "docker/setup-buildx-action", "c47758b77c9736f4b2ef4073d4d51994fabfe349", "v3.7.1"
    ),
    "login": PinnedAction(
        "docker/login-action", "9780b0c442fbb1117ed29e0efdff1e18412f7567", "v3.3.0"
    ),
    "upload_artifact": PinnedAction(
        "actions/upload-artifact", "b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882", "v4.4.3"
    ),
    "download_artifact": PinnedAction(
        "actions/download-artifact", "fa0a91b85d4f404e444e00e005971372dc801d16", "v4.1.8"
    ),
    "github_script": PinnedAction(
        "actions/github-script", "60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"
    ),
}
