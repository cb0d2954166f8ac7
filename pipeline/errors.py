"""Every error the pipeline raises, and the exit code each one maps to.

Only the CLI turns these into exit codes; the core raises them and never exits.

    PipelineError                      (ExitCode.INTERNAL unless a subclass says otherwise)
    ├── UsageError                     bad flags, config file or environment  -> USAGE
    │   ├── AnnotationError            bad image-updater annotations on an Application
    │   ├── CredentialRefError         a bad pull-secret / credentials reference
    │   ├── RegistriesConfError        a bad image-updater registries.conf
    │   ├── AmbiguousPin               several pins of one repository, no Deployment named
    │   └── InvalidVersion             not a semantic version (also a ValueError)
    ├── BuildError                     the image build failed                 -> BUILD
    ├── RegistryError                  push, manifest HEAD, registry auth     -> REGISTRY
    │   ├── ManifestNotFound           no such tag, digest or repository
    │   ├── TagMovedError              another run took the tag over          -> SUPERSEDED
    │   └── RateLimitedError           429 past the deadline                  -> RATE_LIMITED
    ├── PreflightError                 misconfiguration found before writing  -> MISCONFIGURED
    ├── KustomizeError                 kustomize refused the GitOps source    -> MISCONFIGURED
    ├── SourceUnavailable              the source cannot be fetched or rendered -> MISCONFIGURED
    ├── KubeAccessError                forbidden / not found / unreachable    -> KUBE_ACCESS
    │   ├── NotFound                   a port's 404 (callers expecting it catch it)
    │   ├── Conflict                   a port's 409: stale resourceVersion, re-read and retry
    │   └── Expired                    a port's 410 on a watch: re-list and watch again
    ├── SyncFailedError                Argo CD operation Failed or Error      -> SYNC_FAILED
    ├── ImagePullError                 ErrImagePull, ImagePullBackOff, ...    -> IMAGE_PULL
    ├── CrashLoopError                 CrashLoopBackOff                       -> CRASH_LOOP
    ├── DeployTimeoutError             the deadline passed                    -> TIMEOUT
    ├── SupersededError                a newer run took over the canary       -> SUPERSEDED
    ├── SandboxError                   the local control plane failed         -> SANDBOX
    ├── MismatchError                  registry, Application and pods disagree -> MISMATCH
    ├── DriftError                     `render --check`: the file differs      -> DRIFT
    └── Interrupted                    SIGINT / SIGTERM stopped the command    -> INTERRUPTED,
                                                                                  TERMINATED

Subclasses without an arrow exit with their parent's code.

Each error carries a one-line message, a hint that says what to do next, and a stable
``reason`` identifier used in JSON reports.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """Documented process exit codes (docs/exit-codes.md). Never renumber."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    BUILD = 3
    REGISTRY = 4
    RATE_LIMITED = 5
    MISCONFIGURED = 6
    KUBE_ACCESS = 7
    SYNC_FAILED = 8
    IMAGE_PULL = 9
    CRASH_LOOP = 10
    TIMEOUT = 11
    SUPERSEDED = 12
    SANDBOX = 13
    MISMATCH = 14  # `pipeline status`: registry, Application pin and pods do not agree
    DRIFT = 15  # `pipeline render --check`: the file differs from what would be rendered
    INTERRUPTED = 130  # SIGINT (Ctrl-C), 128 + 2 as shells report it
    TERMINATED = 143  # SIGTERM, 128 + 15


_MAX_DETAIL = 2000


def truncate(text: str, limit: int = _MAX_DETAIL) -> str:
    """Cut long evidence (stderr, response bodies) so logs stay readable."""
    if len(text) <= limit:
        return text
    return text[: limit - 15] + " ...[truncated]"


class PipelineError(Exception):
    """Base of all expected failures."""

    exit_code: ExitCode = ExitCode.INTERNAL
    reason: str = "internal-error"

    def __init__(self, message: str, *, hint: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return self.message


class UsageError(PipelineError):
    exit_code = ExitCode.USAGE
    reason = "usage"


class AnnotationError(UsageError):
    """All problems found in one Application's image-updater annotations."""

    reason = "bad-annotation"

    def __init__(self, app: str, problems: list[Problem]) -> None:
        self.app = app
        self.problems = problems
        lines = "; ".join(p.message for p in problems)
        super().__init__(
            f"{app or 'the Application'} has {len(problems)} bad image-updater annotation(s): "
            f"{lines}",
            hint="\n".join(p.fix for p in problems if p.fix),
        )


class CredentialRefError(UsageError):
    reason = "bad-credential-ref"


class RegistriesConfError(UsageError):
    reason = "bad-registries-conf"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "registries.conf: " + "; ".join(p.message for p in problems),
            hint="\n".join(p.fix for p in problems if p.fix),
        )


class AmbiguousPin(UsageError):
    """Several patches pin the alias's repository and no Deployment was named."""

    reason = "ambiguous-pin"


class InvalidVersion(UsageError, ValueError):
    """The text is not a semantic version (Masterminds ``NewVersion``); also a ValueError."""

    reason = "invalid-version"


class BuildError(PipelineError):
    exit_code = ExitCode.BUILD
    reason = "build-failed"


class RegistryError(PipelineError):
    exit_code = ExitCode.REGISTRY
    reason = "registry-error"


class RateLimitedError(RegistryError):
    exit_code = ExitCode.RATE_LIMITED
    reason = "registry-rate-limited"


class ManifestNotFound(RegistryError):
    """The registry has no such tag, digest or repository (404 / MANIFEST_UNKNOWN)."""

    reason = "manifest-not-found"


class TagMovedError(RegistryError):
    """The tag now points at a digest other than the one this run pushed: another run (a
    newer push, or a build of the same tag on the same engine) took it over."""

    exit_code = ExitCode.SUPERSEDED
    reason = "tag-moved"


class PreflightError(PipelineError):
    """One or more misconfigurations, all reported at once."""

    exit_code = ExitCode.MISCONFIGURED
    reason = "misconfigured"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(p.message for p in problems)
        super().__init__(
            f"preflight found {len(problems)} problem(s): {summary}",
            hint="\n\n".join(p.fix for p in problems if p.fix),
        )


class Problem:
    """One misconfiguration found by preflight: what is wrong and how to fix it."""

    def __init__(self, reason: str, message: str, fix: str = "") -> None:
        self.reason = reason
        self.message = message
        self.fix = fix

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "fix": self.fix}

    def __repr__(self) -> str:
        return f"Problem({self.reason!r}, {self.message!r})"


class KustomizeError(PipelineError):
    """kustomize refused the source (a broken overlay or an invalid image argument): a
    misconfiguration of the GitOps source. ``stderr`` is kustomize's own message."""

    exit_code = ExitCode.MISCONFIGURED
    reason = "kustomize-failed"

    def __init__(self, message: str, *, stderr: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.stderr = stderr


class SourceUnavailable(PipelineError):
    """An Application's source could not be fetched or rendered here (unreachable or private
    repository, unknown revision, a source type we cannot render): a preflight finding, fatal
    with ``--require-render``."""

    exit_code = ExitCode.MISCONFIGURED
    reason = "source-unavailable"


class KubeAccessError(PipelineError):
    exit_code = ExitCode.KUBE_ACCESS
    reason = "kube-access"


class NotFound(KubeAccessError):
    """HTTP 404 for an object the caller may legitimately expect to be missing (a port's answer;
    callers that expect it catch it, one that escapes is a kube-access failure)."""

    reason = "not-found"


class HiddenNotFound(NotFound):
    """The Argo CD API's ``permission denied``, which it answers alike for a missing object
    and one the token may not read (so that existence does not leak): "not found, or not
    yours"."""


class Conflict(KubeAccessError):
    """HTTP 409: the resourceVersion precondition failed; re-read and retry."""

    reason = "conflict"


class Expired(KubeAccessError):
    """HTTP 410 Gone on a watch: the resourceVersion is too old; re-list and watch again."""

    reason = "expired"


class SyncFailedError(PipelineError):
    exit_code = ExitCode.SYNC_FAILED
    reason = "sync-failed"


class ImagePullError(PipelineError):
    exit_code = ExitCode.IMAGE_PULL
    reason = "image-pull"


class CrashLoopError(PipelineError):
    exit_code = ExitCode.CRASH_LOOP
    reason = "crash-loop"


class DeployTimeoutError(PipelineError):
    exit_code = ExitCode.TIMEOUT
    reason = "timeout"


class SupersededError(PipelineError):
    exit_code = ExitCode.SUPERSEDED
    reason = "superseded"


class SandboxError(PipelineError):
    exit_code = ExitCode.SANDBOX
    reason = "sandbox"


class MismatchError(PipelineError):
    """`pipeline status` found the registry, the Application's pin and the pods disagreeing."""

    exit_code = ExitCode.MISMATCH
    reason = "mismatch"


class DriftError(PipelineError):
    """`pipeline render --check`: the checked file differs from what would be rendered."""

    exit_code = ExitCode.DRIFT
    reason = "drift"


class Interrupted(PipelineError):
    """SIGINT or SIGTERM stopped the command; the message says what was done by then."""

    exit_code = ExitCode.INTERRUPTED
    reason = "interrupted"

    def __init__(self, message: str, *, signal_name: str = "SIGINT", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.signal_name = signal_name
        if signal_name == "SIGTERM":
            self.exit_code = ExitCode.TERMINATED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by the CLI's SIGTERM handler, so that SIGTERM stops a
    command the way Ctrl-C does (the same cleanup paths), and exits 143."""
