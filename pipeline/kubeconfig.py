"""The kubeconfig a command would use, checked before anything connects: a missing file,
broken YAML or an unknown context is one clear ``KubeAccessError`` (exit 7) naming the file
and the fix, never the client library's traceback."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipeline.core.settings import KubeSettings
from pipeline.errors import KubeAccessError

KUBECONFIG_HINT = "set KUBECONFIG (or --kubeconfig) to a kubeconfig for the cluster"


def kubeconfig_files(settings: KubeSettings) -> list[Path]:
    text = settings.kubeconfig or os.environ.get("KUBECONFIG") or ""
    return [Path(p).expanduser() for p in text.split(os.pathsep) if p]


def check_kubeconfig(settings: KubeSettings) -> None:
    """Refuse a kubeconfig that cannot work, naming the file and what to fix."""
    files = kubeconfig_files(settings)
    if not files:
        default = Path("~/.kube/config").expanduser()
        if default.is_file():
            files = [default]
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            return  # in-cluster
        else:
            raise KubeAccessError(
                "no kubeconfig: KUBECONFIG is unset, ~/.kube/config does not exist, and this "
                "is not a pod (no in-cluster service account)",
                hint=KUBECONFIG_HINT,
                reason="kube-config",
            )
    present = [f for f in files if f.is_file()]
    if not present:
        names = ", ".join(str(f) for f in files)
        what = "is not a file" if any(f.exists() for f in files) else "does not exist"
        raise KubeAccessError(
            f"no usable kubeconfig ({names}): the file {what}",
            hint=f"{KUBECONFIG_HINT}; `pipeline sandbox status` prints the sandbox's",
            reason="kube-config",
        )
    contexts: list[str] = []
    current = ""
    for path in present:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise KubeAccessError(
                f"no usable kubeconfig ({path}): not readable YAML: "
                f"{getattr(e, 'problem', None) or e}",
                hint=f"fix {path} (it must be a YAML kubeconfig, `kubectl config view` checks "
                "it) or point KUBECONFIG (or --kubeconfig) at another one",
                reason="kube-config",
            ) from None
        if not isinstance(loaded, dict):
            raise KubeAccessError(
                f"no usable kubeconfig ({path}): not a mapping",
                hint=f"fix {path} or point KUBECONFIG (or --kubeconfig) at another one",
                reason="kube-config",
            )
        for entry in loaded.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name"):
                contexts.append(str(entry["name"]))
        current = current or str(loaded.get("current-context") or "")
    wanted = settings.context or current
    where = ", ".join(str(p) for p in present)
    if not wanted:
        raise KubeAccessError(
            f"no usable kubeconfig ({where}): it sets no current-context",
            hint=f"pass --kube-context (one of: {', '.join(contexts) or 'none defined'})",
            reason="kube-config",
        )
    if wanted not in contexts:
        flag = "--kube-context" if settings.context else "current-context"
        raise KubeAccessError(
            f"no usable kubeconfig ({where}): context {wanted!r} ({flag}) is not defined",
            hint=f"pass --kube-context one of: {', '.join(contexts) or '(none defined)'}",
            reason="kube-config",
        )


def has_kubeconfig(settings: KubeSettings, env: dict[str, str]) -> bool:
    """A kubeconfig is given (--kubeconfig, KUBECONFIG) or found (~/.kube/config). A pod's
    service account is not one: in a pod with ARGOCD_SERVER set, the Argo CD API is chosen."""
    if settings.kubeconfig or env.get("KUBECONFIG"):
        return True
    home = env.get("HOME")
    return (Path(home) if home else Path.home()).joinpath(".kube", "config").is_file()
