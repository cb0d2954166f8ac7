"""`kubectl get --sort-by` on any field: kubectl asks for Table rows that carry the whole object
(`includeObject=Object`) and sorts by the JSONPath (kubectl `get/sorter.go`)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]
pytestmark = pytest.mark.integration
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _configmap(kubectl: Kubectl, name: str, order: str) -> None:
    body = {"metadata": {"name": name, "namespace": "default"}, "data": {"order": order}}
    requests.post(
        f"{kubectl.server.url}/api/v1/namespaces/default/configmaps", json=body, timeout=10
    ).raise_for_status()


def test_sort_by_a_field_outside_metadata(kubectl: Kubectl) -> None:
    for name, order in (("b-second", "2"), ("c-first", "1"), ("a-third", "3")):
        _configmap(kubectl, name, order)
    out = kubectl("get", "configmaps", "-n", "default", "--sort-by=.data.order").stdout
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert [n for n in names if n in ("a-third", "b-second", "c-first")] == [
        "c-first",
        "b-second",
        "a-third",
    ]


def test_table_rows_carry_what_include_object_asks_for(kubectl: Kubectl) -> None:
    _configmap(kubectl, "rows", "9")
    url = f"{kubectl.server.url}/api/v1/namespaces/default/configmaps"
    rows = {}
    for include in ("None", "Metadata", "Object"):
        table = requests.get(
            url, params={"includeObject": include}, headers={"Accept": TABLE}, timeout=10
        ).json()
        rows[include] = next(r for r in table["rows"] if r["cells"][0] == "rows")
    assert "object" not in rows["None"]
    assert rows["Metadata"]["object"]["kind"] == "PartialObjectMetadata"
    assert rows["Object"]["object"]["data"] == {"order": "9"}
    bad = requests.get(url, params={"includeObject": "All"}, headers={"Accept": TABLE}, timeout=10)
    assert bad.status_code == 400 and json.loads(bad.text)["reason"] == "BadRequest"
