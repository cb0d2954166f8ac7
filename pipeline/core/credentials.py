"""Registry credentials as values: a user and a secret that is never shown, and the lookup
signature every credential source (Docker config, pull secrets, image-updater references)
implements in ``pipeline/adapters/credentials.py`` and ``pipeline/adapters/pullsecrets.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token); the secret is never shown."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<redacted>)"

    __str__ = __repr__


CredentialLookup = Callable[[str], Credentials | None]
"""Registry host (``host:port``) -> credentials, or None when this source has none."""
