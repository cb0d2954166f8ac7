"""The stock kubectl applying what GitOps repositories carry: Services, HPAs, NetworkPolicies,
PDBs, Ingresses and a CRD with its custom resource (issue 10)."""

from __future__ import annotations

import json

import pytest

from tests.sandbox.test_kubectl_commands import MANIFEST as APP_AND_DEPLOYMENT
from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]
pytestmark = pytest.mark.integration

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: destinationrules.networking.istio.io}
spec:
  group: networking.istio.io
  scope: Namespaced
  names: {plural: destinationrules, singular: destinationrule, kind: DestinationRule,
          listKind: DestinationRuleList, shortNames: [dr]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Host, type: string, jsonPath: .spec.host}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              host: {type: string}
              trafficPolicy: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: default}
data: {LOG_LEVEL: debug}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {role: frontend}}}]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
""" + CRD  # fmt: skip
# Like any real cluster, a custom resource cannot go in the same `kubectl apply` as its CRD
# (kubectl maps every document before the CRD exists: "ensure CRDs are installed first").
DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web.default.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
"""


def test_apply_multi_document_manifest_and_get_every_kind(kubectl: Kubectl) -> None:
    manifest = kubectl.workdir / "app.yaml"
    manifest.write_text(MANIFEST)
    out = kubectl("apply", "-f", str(manifest)).stdout.splitlines()
    assert out == [
        "service/web created",
        "configmap/web-config created",
        "horizontalpodautoscaler.autoscaling/web created",
        "networkpolicy.networking.k8s.io/web created",
        "poddisruptionbudget.policy/web created",
        "ingress.networking.k8s.io/web created",
        "customresourcedefinition.apiextensions.k8s.io/destinationrules.networking.istio.io "
        "created",
    ]
    rule = kubectl.workdir / "rule.yaml"
    rule.write_text(DESTINATION_RULE)
    created = kubectl("apply", "-f", str(rule)).stdout.strip()
    assert created == "destinationrule.networking.istio.io/web created"
    svc = kubectl("get", "svc", "web").stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, kind, cluster_ip, external, ports, _ = svc[1].split()
    assert (name, kind, external, ports) == ("web", "ClusterIP", "<none>", "80/TCP")
    assert cluster_ip.startswith("10.")
    hpa = kubectl("get", "hpa", "web").stdout.splitlines()
    assert hpa[0].split()[:4] == ["NAME", "REFERENCE", "TARGETS", "MINPODS"]
    assert hpa[1].split()[:6] == ["web", "Deployment/web", "cpu:", "<unknown>/70%", "2", "5"]
    netpol = kubectl("get", "netpol", "web").stdout.splitlines()
    assert netpol[1].split()[:2] == ["web", "app=web"]
    pdb = kubectl("get", "pdb", "web").stdout.splitlines()
    assert pdb[1].split()[:4] == ["web", "1", "N/A", "0"]
    ing = kubectl("get", "ing", "web").stdout.splitlines()
    assert ing[1].split()[:4] == ["web", "<none>", "web.example.com", "80"]
    dr = kubectl("get", "dr", "web").stdout.splitlines()
    assert dr[0].split() == ["NAME", "HOST", "AGE"]
    assert dr[1].split()[:2] == ["web", "web.default.svc.cluster.local"]
    listed = kubectl("get", "svc,hpa,netpol,pdb,ing,cm", "-o", "name").stdout.split()
    assert {
        "service/kubernetes",
        "service/web",
        "horizontalpodautoscaler.autoscaling/web",
        "networkpolicy.networking.k8s.io/web",
        "poddisruptionbudget.policy/web",
        "ingress.networking.k8s.io/web",
        "configmap/web-config",
    } <= set(listed)
    crds = kubectl("get", "crd").stdout.splitlines()
    assert crds[0].split() == ["NAME", "CREATED", "AT"]
    assert crds[1].split()[0] == "destinationrules.networking.istio.io"
    # a second apply changes nothing: the allocated ClusterIP and defaults survive
    again = kubectl("apply", "-f", str(manifest)).stdout.splitlines()
    # ...except the PDB: its selector has patchStrategy "replace", so kubectl's patch is never
    # empty and it reports "configured" on every apply, against real clusters too
    assert again[4] == "poddisruptionbudget.policy/web configured"
    assert all(line.endswith(" unchanged") for n, line in enumerate(again) if n != 4), again
    unchanged = kubectl("apply", "-f", str(rule)).stdout.strip()
    assert unchanged == "destinationrule.networking.istio.io/web unchanged"


def test_service_defaults_and_strategic_patch_by_port(kubectl: Kubectl) -> None:
    manifest = kubectl.workdir / "svc.yaml"
    manifest.write_text(MANIFEST.split("---")[0])
    kubectl("apply", "-f", str(manifest))
    patch = {"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 9090, "name": "metrics"}]}}
    kubectl("patch", "svc", "web", "-p", json.dumps(patch))
    svc = json.loads(kubectl("get", "svc", "web", "-o", "json").stdout)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    assert svc["spec"]["ports"] == [
        {"name": "web", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
    ]


def test_custom_resource_unknown_fields_pruned_and_kind_gone_with_its_crd(
    kubectl: Kubectl,
) -> None:
    crd = kubectl.workdir / "crd.yaml"
    crd.write_text(CRD)
    kubectl("apply", "-f", str(crd))
    name = "crd/destinationrules.networking.istio.io"
    kubectl("wait", "--for=condition=Established", name, "--timeout=10s")
    dr = kubectl.workdir / "dr.yaml"
    dr.write_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: web, namespace: default}\n"
        "spec: {host: web, subsets: [{name: v1}], trafficPolicy: {anything: {goes: here}}}\n"
    )
    strict = kubectl("apply", "-f", str(dr), check=False)
    assert strict.returncode != 0
    assert 'unknown field "spec.subsets"' in strict.stderr
    kubectl("apply", "--validate=false", "-f", str(dr))
    stored = json.loads(kubectl("get", "destinationrule", "web", "-o", "json").stdout)
    assert stored["spec"] == {"host": "web", "trafficPolicy": {"anything": {"goes": "here"}}}
    kubectl("delete", "crd", "destinationrules.networking.istio.io")
    gone = kubectl("get", "destinationrules.networking.istio.io", check=False)
    assert gone.returncode != 0
    assert 'the server doesn\'t have a resource type "destinationrules"' in gone.stderr


def test_imperative_service_commands_send_protobuf(kubectl: Kubectl) -> None:
    deployment = kubectl.workdir / "deploy.yaml"
    deployment.write_text(APP_AND_DEPLOYMENT.split("---")[1])
    kubectl("apply", "-f", str(deployment))
    kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
    kubectl("create", "service", "clusterip", "headless", "--clusterip=None")
    out = kubectl("expose", "deployment", "web", "--port=81", "--target-port=8081", "--name=ex")
    assert out.stdout.strip() == "service/ex exposed"
    rows = {
        line.split()[0]: line.split()[1:5] for line in kubectl("get", "svc").stdout.splitlines()[1:]
    }
    assert rows["np"][0] == "NodePort" and rows["np"][3] == "80:30080/TCP"
    assert rows["headless"] == ["ClusterIP", "None", "<none>", "<none>"]
    exposed = json.loads(kubectl("get", "svc", "ex", "-o", "json").stdout)["spec"]
    assert exposed["selector"] == {"app": "web"}
    assert exposed["ports"] == [{"port": 81, "protocol": "TCP", "targetPort": 8081}]
