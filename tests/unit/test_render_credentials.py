"""How the shipped CI hands Argo CD credentials to the pipeline: the Argo CD API (ARGOCD_SERVER,
ARGOCD_AUTH_TOKEN) by default, a kubeconfig instead when one is given, a clear error without
either. The reusable workflow's credentials step is run with bash as the runner would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = ROOT / ".github" / "workflows" / "canary-reusable.yaml"
WORKFLOW_TEMPLATES = ROOT / "workflow-templates"


def jobs() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(REUSABLE.read_text())["jobs"]
    return found


def credentials_step(job: str) -> dict[str, Any]:
    (step,) = [s for s in jobs()[job]["steps"] if s.get("name") == "Argo CD credentials"]
    return step


def run_step(step: dict[str, Any], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path),
             "GITHUB_ENV": str(github_env), **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr, github_env.read_text()


@pytest.mark.parametrize("job", ["deploy", "cleanup"])
def test_the_credentials_step_picks_one_backend(job: str, tmp_path: Path) -> None:
    step = credentials_step(job)
    assert step["env"] == {
        "KUBECONFIG_DATA": "${{ secrets.kubeconfig }}",
        "ARGOCD_SERVER_GIVEN": "${{ secrets.argocd-server != '' }}",
        "ARGOCD_TOKEN_GIVEN": "${{ secrets.argocd-auth-token != '' }}",
    }
    api = {"KUBECONFIG_DATA": "", "ARGOCD_SERVER_GIVEN": "true", "ARGOCD_TOKEN_GIVEN": "true"}
    code, out, github_env = run_step(step, api, tmp_path)
    assert (code, github_env) == (0, "")
    assert "through its API server" in out

    kube = {**api, "KUBECONFIG_DATA": "apiVersion: v1\nkind: Config\n"}
    code, out, github_env = run_step(step, kube, tmp_path)
    assert (code, github_env) == (0, f"KUBECONFIG={tmp_path}/kubeconfig\n")
    assert (tmp_path / "kubeconfig").read_text() == kube["KUBECONFIG_DATA"] + "\n"
    assert (tmp_path / "kubeconfig").stat().st_mode & 0o077 == 0

    no_token = {**api, "ARGOCD_TOKEN_GIVEN": "false"}
    code, out, _ = run_step(step, no_token, tmp_path)
    assert code == 2
    assert "::error::no Argo CD credentials: pass the secrets argocd-server and" in out


@pytest.mark.parametrize(("job", "step_id"), [("deploy", "deploy"), ("cleanup", "cleanup")])
def test_pipeline_steps_get_the_api_settings_only_without_a_kubeconfig(
    job: str, step_id: str
) -> None:
    (step,) = [s for s in jobs()[job]["steps"] if s.get("id") == step_id]
    assert step["env"]["ARGOCD_SERVER"] == (
        "${{ secrets.kubeconfig == '' && secrets.argocd-server || '' }}"
    )
    assert step["env"]["ARGOCD_AUTH_TOKEN"] == (
        "${{ secrets.kubeconfig == '' && secrets.argocd-auth-token || '' }}"
    )
    assert "ARGOCD_AUTH_TOKEN" not in step["run"]  # through env only, never in the script


def test_the_reusable_workflow_declares_the_secrets_all_optional() -> None:
    declared = yaml.safe_load(REUSABLE.read_text())[True]["workflow_call"]["secrets"]
    assert {k: v["required"] for k, v in declared.items()} == {
        "argocd-server": False, "argocd-auth-token": False, "kubeconfig": False,
        "registry-username": False, "registry-password": False,
    }  # fmt: skip


@pytest.mark.parametrize("name", ["deploy-canary.yaml", "poll-cronworkflow.yaml"])
def test_argo_pods_read_the_api_settings_from_an_optional_secret(name: str) -> None:
    doc = yaml.safe_load((WORKFLOW_TEMPLATES / name).read_text())
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    envs = [e for t in spec["templates"] for e in (t.get("container") or {}).get("env") or []]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in envs if "valueFrom" in e}
    assert refs == {
        key: {"name": "argocd-api-credentials", "key": key, "optional": True}
        for key in ("ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN")
    }
