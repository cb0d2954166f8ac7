"""Issue 10's stock-kubectl checks not covered elsewhere: `get events --sort-by=.lastTimestamp`,
`delete` cascading through ownerReferences (background, foreground, orphan), and `get` of every
built-in kind the issue added (the GitOps kinds are in test_kubectl_kinds.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]
pytestmark = pytest.mark.integration

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "db"}},
    "spec": {"containers": [{"name": "c", "image": "r/db:1"}]},
}
KINDS = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: default}
spec: {limits: [{type: Container, default: {cpu: 200m}}]}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota, namespace: default}
spec: {hard: {pods: "10"}}
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: default}
subsets: [{addresses: [{ip: 10.0.0.7}], ports: [{port: 5432}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c, image: r/db:1}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c, image: r/a:1}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  template: {spec: {restartPolicy: Never, containers: [{name: c, image: r/m:1}]}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: c, image: r/n:1}]}}}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: default}
spec:
  replicas: 2
  template: {metadata: {labels: {app: legacy}}, spec: {containers: [{name: c, image: r/l:1}]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: default}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
"""


def _rows(kubectl: Kubectl, resource: str) -> list[list[str]]:
    return [line.split() for line in kubectl("get", resource).stdout.splitlines()]


def test_get_every_added_kind_prints_the_real_columns(kubectl: Kubectl) -> None:
    manifest = kubectl.workdir / "kinds.yaml"
    manifest.write_text(KINDS)
    kubectl("apply", "-f", str(manifest))
    expected = {  # header, then the leading cells of the row (printers.go)
        "pvc/data": (["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES"], ["data", "Pending"]),  # noqa: E501
        "limitrange/limits": (["NAME", "CREATED", "AT"], ["limits"]),
        "quota/quota": (["NAME", "AGE", "REQUEST", "LIMIT"], ["quota"]),
        "endpoints/db": (["NAME", "ENDPOINTS", "AGE"], ["db", "10.0.0.7:5432"]),
        "sts/db": (["NAME", "READY", "AGE"], ["db", "0/1"]),
        "ds/agent": (["NAME", "DESIRED", "CURRENT", "READY"], ["agent", "0", "0", "0"]),
        "job/migrate": (["NAME", "STATUS", "COMPLETIONS"], ["migrate"]),
        "cronjob/nightly": (["NAME", "SCHEDULE"], ["nightly", "0", "3", "*", "*", "*"]),
        "rc/legacy": (["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["legacy", "2", "0", "0"]),
        "role/reader": (["NAME", "CREATED", "AT"], ["reader"]),
        "rolebinding/reader": (["NAME", "ROLE", "AGE"], ["reader", "Role/reader"]),
    }  # fmt: skip
    for resource, (header, cells) in expected.items():
        rows = _rows(kubectl, resource)
        assert rows[0][: len(header)] == header, (resource, rows)
        assert rows[1][: len(cells)] == cells, (resource, rows)
    assert _rows(kubectl, "clusterrole/view")[1][0] == "view"
    assert _rows(kubectl, "clusterrolebinding/cluster-admin")[1][:2] == [
        "cluster-admin",
        "ClusterRole/cluster-admin",
    ]


def test_get_events_sorted_by_last_timestamp(kubectl: Kubectl) -> None:
    for name, stamp in (("b", "2024-05-01T10:00:02Z"), ("c", "2024-05-01T10:00:01Z"),
                        ("a", "2024-05-01T10:00:03Z")):  # fmt: skip
        kubectl.post(
            "/api/v1/namespaces/default/events",
            {
                "metadata": {"name": f"web.{name}"},
                "involvedObject": {"kind": "Pod", "name": f"web-{name}", "namespace": "default"},
                "reason": "Pulled", "message": f"event {name}", "type": "Normal",
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            },
        )  # fmt: skip
    out = kubectl("get", "events", "--sort-by=.lastTimestamp", "-o", "name").stdout.split()
    assert out == ["event/web.c", "event/web.b", "event/web.a"]
    table = kubectl("get", "events", "--sort-by=.lastTimestamp").stdout.splitlines()
    assert [line.split()[3] for line in table[1:]] == ["pod/web-c", "pod/web-b", "pod/web-a"]


def _owned(kubectl: Kubectl, owner: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    meta = owner["metadata"]
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
           "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    body: dict[str, Any] = {"metadata": {"name": name, "ownerReferences": [ref]}}
    if kind == "ReplicaSet":
        body["spec"] = {"selector": {"matchLabels": {"app": "db"}}, "template": TEMPLATE}
        return kubectl.post("/apis/apps/v1/namespaces/default/replicasets", body)
    body["spec"] = TEMPLATE["spec"]
    return kubectl.post("/api/v1/namespaces/default/pods", body)


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_kubectl_delete_cascades_through_owner_references(kubectl: Kubectl, cascade: str) -> None:
    kubectl("create", "deployment", "db", "--image=r/db:1")
    deploy = json.loads(kubectl("get", "deployment", "db", "-o", "json").stdout)
    rs = _owned(kubectl, deploy, "ReplicaSet", "db-5d4f8")
    _owned(kubectl, rs, "Pod", "db-5d4f8-x2x7q")
    out = kubectl("delete", "deployment", "db", f"--cascade={cascade}").stdout
    assert out.startswith('deployment.apps "db" deleted')  # kubectl 1.3x adds the namespace
    left = kubectl("get", "deployments,replicasets,pods", "-o", "name").stdout.split()
    if cascade == "orphan":  # the dependents stay, without the owner's reference
        assert left == ["replicaset.apps/db-5d4f8", "pod/db-5d4f8-x2x7q"]
        orphan = json.loads(kubectl("get", "rs", "db-5d4f8", "-o", "json").stdout)
        assert "ownerReferences" not in orphan["metadata"]
    else:
        assert left == []
