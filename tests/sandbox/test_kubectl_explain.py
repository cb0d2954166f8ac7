"""``kubectl explain`` of nested fields, from the sandbox's OpenAPI v3 documents."""

from __future__ import annotations

import re

import pytest

from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]
pytestmark = pytest.mark.integration


def _fields(text: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+)\t<([^>]+)>", text, re.M))


def test_explain_nested_fields(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.strategy").stdout
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert _fields(out) == {"rollingUpdate": "RollingUpdateDeployment", "type": "string"}
    probe = _fields(kubectl("explain", "pod.spec.containers.livenessProbe").stdout)
    # ProbeHandler is embedded in Probe: its actions are the probe's own fields
    assert probe["httpGet"] == "HTTPGetAction" and probe["periodSeconds"] == "integer"
    ports = _fields(kubectl("explain", "service.spec.ports").stdout)
    assert "targetPort" in ports and ports["port"] == "integer"
    job = _fields(kubectl("explain", "cronjob.spec.jobTemplate.spec").stdout)
    assert job["backoffLimit"] == "integer" and job["template"] == "PodTemplateSpec"
