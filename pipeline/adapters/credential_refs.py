"""The one place credential references are resolved, for every command.

A reference (``pullsecret:<ns>/<name>``, ``secret:<ns>/<name>#<field>``, ``env:<VAR>``,
``ext:/abs/script``; grammar in pipeline/core/imageupdater/credrefs.py) names where a registry's
``user:password`` lives. deploy-canary's pull-secret lookup (adapters/pullsecrets.py) and
poll/status's registry pool (adapters/registry_pool.py) both resolve through
:class:`CredentialResolver`, so one bad reference fails alike everywhere:

- a Secret that does not exist: RegistryError ``registry-auth`` naming the reference;
- an ``ext:`` script that cannot start, exits non-zero or outlives ``EXT_SCRIPT_TIMEOUT``
  (image-updater's 10 s; it is killed with its process group): RegistryError ``registry-auth``
  with the tail of its stderr. Its stdout carries the secret and never reaches a message;
- a malformed reference or Secret content: CredentialRefError (credrefs.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.core.credentials import CredentialLookup, Credentials
from pipeline.core.imageupdater.credrefs import (
    EXT_SCRIPT_TIMEOUT,
    CredentialRef,
    SecretRef,
    format_credential_ref,
    resolve_credentials,
)
from pipeline.errors import NotFound, RegistryError

GetSecret = Callable[[str, str], Mapping[str, Any]]
RunScript = Callable[[str], str]
STDERR_TAIL = 300
SCRIPT_HINT = (
    "run the script by hand: it must print 'user:password' on its first line and exit 0 "
    f"within {EXT_SCRIPT_TIMEOUT:g}s"
)


def stderr_tail(raw: bytes | str | None, limit: int = STDERR_TAIL) -> str:
    """The last ``limit`` characters of a process's stderr (where the cause usually is)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw or ""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _script_failed(path: str, what: str, stderr: bytes | str | None) -> RegistryError:
    tail = stderr_tail(stderr)
    return RegistryError(
        f"credential script {path} {what}" + (f": {tail}" if tail else " (no stderr)"),
        hint=SCRIPT_HINT,
        reason="registry-auth",
    )


def run_ext_script(path: str, *, timeout: float = EXT_SCRIPT_TIMEOUT) -> str:
    """stdout of an ``ext:`` credential script; killed (with its children) after ``timeout``."""
    try:
        proc = subprocess.Popen(
            [path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise _script_failed(path, "could not be started", e.strerror or type(e).__name__) from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        raise _script_failed(path, f"did not finish within {timeout:g}s", stderr) from None
    if proc.returncode != 0:
        raise _script_failed(path, f"exited {proc.returncode}", stderr)
    return stdout.decode("utf-8", "replace")


class CredentialResolver:
    """``resolve(ref, host)``: Secrets through ``get_secret``, ``env:`` from ``getenv``,
    ``ext:`` through ``run_script`` (run_ext_script unless a test injects one)."""

    def __init__(
        self,
        get_secret: GetSecret,
        *,
        getenv: Callable[[str], str | None] = os.environ.get,
        run_script: RunScript = run_ext_script,
    ) -> None:
        self._get_secret, self._getenv, self._run_script = get_secret, getenv, run_script

    def resolve(self, ref: CredentialRef, host: str) -> Credentials:
        """Credentials for the registry ``host`` (``host:port``); raises as the module says."""
        try:
            return resolve_credentials(
                ref,
                f"https://{host}",
                get_secret=self._get_secret,
                getenv=self._getenv,
                run_script=self._run_script,
            )
        except NotFound:
            if not isinstance(ref, SecretRef):
                raise
            raise RegistryError(
                f"the Secret {ref.namespace}/{ref.name} named by the credential reference "
                f"{format_credential_ref(ref)!r} does not exist",
                hint=f"create it: kubectl create secret docker-registry -n {ref.namespace} "
                f"{ref.name} --docker-server={host} ...",
                reason="registry-auth",
            ) from None

    def lookup(self, ref: CredentialRef) -> CredentialLookup:
        """The lookup a RegistryClient calls with a host after a 401."""

        def credentials(host: str) -> Credentials | None:
            return self.resolve(ref, host)

        return credentials
