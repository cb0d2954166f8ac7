"""An Application's git source at its ``targetRevision``, fetched the way Argo CD's repo-server
fetches it: resolve the revision to a commit, then read that commit, never a working tree.

What the repo-server does, and what we follow (argo-cd ``util/git/client.go``,
``reposerver/repository/repository.go``, ``util/db/repository_secrets.go``):

- **Resolving.** A 40-hex ``targetRevision`` is already a commit. Otherwise ``git ls-remote``
  lists the remote's refs and the revision is looked up as ``HEAD`` (empty or ``HEAD``), a
  branch, a tag (an annotated tag's peeled ``^{}`` commit) or a full ref name. A revision found
  nowhere fails with "Unable to resolve '<rev>' to a commit SHA".
- **Fetching.** One cached bare repository per normalized URL (``NormalizeGitURL``: lower
  case, ``scp``-style SSH turned into ``ssh://``, ``.git`` suffix dropped); a commit that is not
  there yet triggers one ``git fetch`` of branches and tags, then of the commit itself.
- **Credentials.** A ``repository`` Secret (label ``argocd.argoproj.io/secret-type``) whose
  ``url`` is the same URL wins; else the ``repo-creds`` Secret with the longest URL prefix.
  Here they may also come from the CI environment (a token), see ``env_credentials``.
  They reach git through ``GIT_CONFIG_*`` environment variables (an ``http.extraHeader``), so
  they never appear in a command line, a config file or a message.

A commit is exported once (``git archive``) into the cache and shared by every render of it.

Every git command is bounded by ``timeout`` and by the run's one deadline when there is one
(adapters/bounded.py): a remote that never answers ends the run at its deadline with exit 11.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipeline.adapters.bounded import Bound, RunDeadline
from pipeline.adapters.gitexport import (
    GIT_TIMEOUT,
    covered,
    export,
    exported,
    local_git,
    needed_dirs,
    record_export,
)
from pipeline.core.repositories import (
    SHA,
    CredentialsFor,
    RepoCredentials,
    Revision,
    normalize_git_url,
    parse_ls_remote,
    pick_ref,
    redact_url,
)
from pipeline.errors import SourceUnavailable, truncate

_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{7,39}$")


def local_repository(repo_url: str) -> Path | None:
    """The directory of a local-path or ``file://`` repoURL (read in place), else None."""
    if repo_url.startswith("file://"):
        return Path(unquote(urlsplit(repo_url).path))
    if repo_url.startswith("/"):
        return Path(repo_url)
    return None


class GitSources:
    """Resolve and read git sources, with a cache under ``cache_dir`` shared across runs.

    ``local`` maps a repoURL to a local clone of it (``--source-dir``): its objects are used
    instead of a cached clone, after fetching the revision from its ``origin`` when reachable;
    its working tree is never read. ``deadline``: the run's (kubefail.py ``Deadline``), which
    cuts every git command short.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        credentials: CredentialsFor | None = None,
        local: Mapping[str, Path] | None = None,
        timeout: float = GIT_TIMEOUT,
        deadline: RunDeadline | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self._credentials = credentials or (lambda url: None)
        self._local = {normalize_git_url(url): Path(p) for url, p in (local or {}).items()}
        self._timeout = timeout
        self.bound = Bound(timeout, deadline)
        self._locks: dict[str, threading.Lock] = {}
        self._known: dict[str, RepoCredentials | None] = {}
        self._guard = threading.Lock()
        self.commands: list[str] = []  # git subcommands run, for tests and benchmarks

    # -- plumbing -------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _creds_for(self, repo_url: str) -> RepoCredentials | None:
        """Credentials for ``repo_url`` (only asked after git was refused), kept once found;
        none found is not kept, so a Secret created later is seen."""
        key = normalize_git_url(repo_url)
        if key not in self._known:
            found = self._credentials(repo_url)
            if found is None:
                return None
            self._known[key] = found
        return self._known[key]

    def _git(
        self, args: list[str], *, repo_url: str, git_dir: Path | None = None, what: str
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git; like Argo CD's repo-server, anonymously until the server asks for
        credentials, then once more with the repository's credentials (looked up then)."""
        key = normalize_git_url(repo_url) if repo_url else ""
        creds = self._known.get(key) if key else None
        proc = self._run(args, repo_url, git_dir, what, creds)
        refused = proc.returncode != 0 and _refused(proc.stderr.decode(errors="replace"))
        if refused and key and key not in self._known:
            creds = self._creds_for(repo_url)
            if creds is not None:
                proc = self._run(args, repo_url, git_dir, what, creds)
        if proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip()
            raise SourceUnavailable(
                f"{what}: git {args[0]} exited {proc.returncode}: {truncate(stderr, 600)}",
                hint=_hint(stderr, repo_url, creds),
            )
        return proc

    def _run(
        self,
        args: list[str],
        repo_url: str,
        git_dir: Path | None,
        what: str,
        creds: RepoCredentials | None,
    ) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="", LC_ALL="C")
        configs: list[tuple[str, str]] = [("credential.helper", "")]
        key_file: str | None = None
        if creds is not None:
            if creds.bearer_token:
                configs.append(("http.extraHeader", f"Authorization: Bearer {creds.bearer_token}"))
            elif creds.password:
                pair = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
                configs.append(("http.extraHeader", f"Authorization: Basic {pair}"))
            if creds.insecure:
                configs.append(("http.sslVerify", "false"))
            if creds.ssh_private_key:
                fd, key_file = tempfile.mkstemp(prefix="pipeline-ssh-")
                with os.fdopen(fd, "w") as f:
                    f.write(creds.ssh_private_key.rstrip("\n") + "\n")
                checking = "no" if creds.insecure else "yes"
                env["GIT_SSH_COMMAND"] = (
                    f"ssh -i {key_file} -o IdentitiesOnly=yes -o BatchMode=yes "
                    f"-o StrictHostKeyChecking={checking}"
                )
        env["GIT_CONFIG_COUNT"] = str(len(configs))
        for i, (name, value) in enumerate(configs):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = name, value
        command = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *args]
        self.commands.append(args[0])
        where = redact_url(repo_url) if repo_url else "the clone's origin"
        try:
            return self.bound.run(
                command, what=what, env=env, waiting_on=f"git {args[0]} did not finish",
                hint=f"check that {where} answers from here (`git ls-remote {where}`), or map "
                "it to a local clone with --source-dir; raise --timeout if it is only slow",
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(
                f"{what}: git {args[0]} did not finish within {self._timeout:.0f}s",
                hint=f"check that {redact_url(repo_url)} is reachable from here",
            ) from None
        finally:
            if key_file:
                os.unlink(key_file)

    def _store(self, repo_url: str) -> Path:
        """The git directory holding ``repo_url``'s objects: the mapped local clone, else a
        bare repository in the cache (created empty on first use)."""
        key = normalize_git_url(repo_url)
        path = local_repository(repo_url)
        if key in self._local or path is not None:
            local = self._local.get(key) or path
            assert local is not None
            git_dir = local / ".git" if (local / ".git").exists() else local
            if not (git_dir / "HEAD").exists():
                named = "--source-dir" if key in self._local else "spec.source.repoURL"
                raise SourceUnavailable(
                    f"{named} {local} is not a git repository",
                    hint="point it at the root of a git repository (a clone or a bare one)",
                )
            return git_dir
        bare = self.cache_dir / "repos" / (hashlib.sha256(key.encode()).hexdigest()[:16] + ".git")
        if not (bare / "HEAD").exists():
            bare.parent.mkdir(parents=True, exist_ok=True)
            if local_git(self.bound, None, "init", "-q", "--bare", str(bare)).returncode:
                raise SourceUnavailable(f"git init {bare} failed")
        return bare

    def _has_commit(self, git_dir: Path, commit: str) -> bool:
        return (
            local_git(self.bound, git_dir, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0
        )

    # -- the two operations ---------------------------------------------------------------

    def resolve(self, repo_url: str, revision: str) -> Revision:
        """The commit ``revision`` names in ``repo_url`` now (one ``ls-remote``)."""
        if SHA.match(revision):
            return Revision(repo_url, revision, revision.lower(), "")
        what = f"resolving {revision or 'HEAD'!r} in {redact_url(repo_url)}"
        key = normalize_git_url(repo_url)
        if key in self._local:
            return self._resolve_local(repo_url, revision, what)
        out = self._git(["ls-remote", repo_url], repo_url=repo_url, what=what).stdout.decode()
        found = pick_ref(parse_ls_remote(out), revision)
        if found is None and _SHORT_SHA.match(revision):
            commit = self._expand_short(repo_url, revision, what)
            return Revision(repo_url, revision, commit, "")
        if found is None:
            raise SourceUnavailable(
                f"{what}: Unable to resolve '{revision}' to a commit SHA",
                hint="check spec.source.targetRevision: no branch, tag or commit of that name",
            )
        return Revision(repo_url, revision, found[1], found[0])

    def _resolve_local(self, repo_url: str, revision: str, what: str) -> Revision:
        git_dir = self._store(repo_url)
        rev = revision or "HEAD"
        refspec = [f"+{rev}:refs/remotes/origin/{rev}"] if rev != "HEAD" else []
        # bring the target branch up to date; a clone without a reachable origin is fine
        with contextlib.suppress(SourceUnavailable):
            self._git(
                ["fetch", "--quiet", "--no-tags", "origin", *refspec],
                repo_url="", git_dir=git_dir, what=what,
            )  # fmt: skip
        for candidate in (f"refs/remotes/origin/{rev}", f"refs/tags/{rev}", rev):
            commit = _rev_parse(git_dir, candidate, self.bound)
            if commit:
                return Revision(repo_url, revision, commit, candidate)
        raise SourceUnavailable(
            f"{what}: Unable to resolve '{revision}' to a commit SHA in the clone "
            f"{self._local[normalize_git_url(repo_url)]}",
            hint=f"fetch it first: git -C <dir> fetch origin {rev}",
        )

    def _expand_short(self, repo_url: str, short: str, what: str) -> str:
        git_dir = self._store(repo_url)
        self._fetch_all(repo_url, git_dir, what)
        commit = _rev_parse(git_dir, short, self.bound)
        if not commit:
            raise SourceUnavailable(f"{what}: Unable to resolve '{short}' to a commit SHA")
        return commit

    def _fetch_all(self, repo_url: str, git_dir: Path, what: str) -> None:
        self._git(
            ["fetch", "--quiet", "--force", "--prune", repo_url,
             "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            repo_url=repo_url, git_dir=git_dir, what=what,
        )  # fmt: skip

    def tree(self, repo_url: str, commit: str, path: str | None = None) -> Path:
        """A read-only export of ``commit`` (no ``.git``), cached per commit. With ``path``,
        only what rendering ``path`` reads: its directory and every local directory its
        kustomizations reference, found from the commit's own objects; else every file."""
        key = normalize_git_url(repo_url)
        target = self.cache_dir / "trees" / hashlib.sha256(key.encode()).hexdigest()[:16] / commit
        with self._lock(key):
            done = exported(target)
            if "." in done:
                return target
            what = f"fetching {commit[:12]} of {redact_url(repo_url)}"
            git_dir = self._store(repo_url)
            remote = key not in self._local and local_repository(repo_url) is None
            if remote and not self._has_commit(git_dir, commit):
                self._fetch_all(repo_url, git_dir, what)
                if not self._has_commit(git_dir, commit):
                    self._git(
                        ["fetch", "--quiet", repo_url, commit],
                        repo_url=repo_url, git_dir=git_dir, what=what,
                    )  # fmt: skip
            if not self._has_commit(git_dir, commit):
                raise SourceUnavailable(f"{what}: the commit is not in the repository")
            bound = self.bound
            needed = needed_dirs(git_dir, commit, path, bound) if path is not None else None
            wanted = ["."] if needed is None else [d for d in needed if not covered(d, done)]
            if wanted:
                export(git_dir, commit, target, wanted, bound)
                record_export(target, done | set(wanted))
        return target


def _rev_parse(git_dir: Path, rev: str, bound: Bound) -> str:
    """The commit ``rev`` names in ``git_dir``, or "" when it names none."""
    proc = local_git(bound, git_dir, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    return proc.stdout.decode().strip() if proc.returncode == 0 else ""


def _refused(stderr: str) -> bool:
    """git's words for a server that wants (other) credentials."""
    text = stderr.lower()
    words = (
        "authentication",
        "could not read username",
        "403",
        "401",
        "permission denied",
        "repository not found",
    )
    return any(word in text for word in words)


def _hint(stderr: str, repo_url: str, creds: RepoCredentials | None) -> str:
    text = stderr.lower()
    where = redact_url(repo_url)
    if "authentication" in text or "could not read username" in text or " 401" in text:
        if creds is None:
            return (
                f"{where} needs credentials: add a repository or repo-creds Secret for it in "
                "the Argo CD namespace (readable by this identity), or set PIPELINE_GIT_TOKEN"
            )
        return f"the credentials from {creds.source} were refused by {where}"
    if any(
        s in text
        for s in (
            "could not resolve host",
            "connection refused",
            "timed out",
            "failed to connect",
            "couldn't connect",
        )
    ):
        return f"{where} is not reachable from here; or map it to a local clone with --source-dir"
    if "not found" in text or "does not appear to be a git repository" in text:
        return f"check spec.source.repoURL: {where} has no such repository"
    return f"run: git ls-remote {where}"
