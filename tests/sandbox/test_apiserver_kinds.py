"""Built-in kinds of GitOps repositories and CustomResourceDefinitions, through the official
Python client (issue 10)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, watch

from pipeline.sandbox.apiserver import APIServer

Obj = dict[str, Any]
ISTIO = ("networking.istio.io", "v1")


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server: APIServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as api_client:
        yield api_client


def service(name: str = "web", **spec: Any) -> Obj:
    body: Obj = {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}], **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def crd(schema: Obj | None = None, status: bool = True, scope: str = "Namespaced") -> Obj:
    version: Obj = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": schema
            or {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "host": {"type": "string"},
                            "subsets": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                            "trafficPolicy": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    },
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "destinationrules.networking.istio.io"},
        "spec": {
            "group": "networking.istio.io",
            "scope": scope,
            "names": {"plural": "destinationrules", "kind": "DestinationRule",
                      "shortNames": ["dr"]},
            "versions": [version],
        },
    }  # fmt: skip


def rule(name: str = "web", **spec: Any) -> Obj:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name},
        "spec": {"host": name, **spec},
    }


def invalid_causes(error: client.ApiException) -> list[tuple[str, str]]:
    body = json.loads(error.body)
    assert body["reason"] == "Invalid"
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


# ---- built-in kinds ------------------------------------------------------------------------
def test_service_gets_a_cluster_ip_and_port_defaults(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_service("default", service())
    assert created.spec.type == "ClusterIP"
    assert created.spec.cluster_ip.startswith("10.")
    assert created.spec.cluster_ips == [created.spec.cluster_ip]
    assert created.spec.ip_families == ["IPv4"]
    assert created.spec.session_affinity == "None"
    port = created.spec.ports[0]
    assert (port.protocol, port.target_port) == ("TCP", 80)
    assert created.status.load_balancer is not None
    kubernetes = core.read_namespaced_service("kubernetes", "default")
    assert kubernetes.spec.cluster_ip == "10.96.0.1"
    # a PUT without clusterIP keeps the allocated one (patchAllocatedValues)
    body = service()
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    replaced = core.replace_namespaced_service("web", "default", body)
    assert replaced.spec.cluster_ip == created.spec.cluster_ip


def test_service_cluster_ip_errors_and_node_ports(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as outside:
        core.create_namespaced_service("default", service("a", clusterIP="192.168.0.1"))
    assert invalid_causes(outside.value) == [
        (
            "spec.clusterIPs",
            'Invalid value: []string{"192.168.0.1"}: failed to allocate IP 192.168.0.1: the '
            "provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is "
            "10.96.0.0/12",
        )
    ]
    with pytest.raises(client.ApiException) as taken:
        core.create_namespaced_service("default", service("b", clusterIP="10.96.0.1"))
    assert "provided IP is already allocated" in invalid_causes(taken.value)[0][1]
    with pytest.raises(client.ApiException) as no_ports:
        core.create_namespaced_service("default", service("c", ports=[]))
    assert invalid_causes(no_ports.value) == [("spec.ports", "Required value")]
    node = core.create_namespaced_service("default", service("d", type="NodePort"))
    assert 30000 <= node.spec.ports[0].node_port <= 32767
    assert node.spec.external_traffic_policy == "Cluster"
    headless = core.create_namespaced_service("default", service("e", clusterIP="None"))
    assert headless.spec.cluster_ips == ["None"]


def test_strategic_merge_merges_service_ports_by_port(server: APIServer) -> None:
    requests.post(server.url + "/api/v1/namespaces/default/services", json=service(), timeout=5)
    patch = {"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 9090, "name": "metrics"}]}}
    resp = requests.patch(
        server.url + "/api/v1/namespaces/default/services/web",
        data=json.dumps(patch),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["spec"]["ports"] == [
        {"name": "web", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
    ]


def test_workload_kinds_default_and_validate(api: client.ApiClient) -> None:
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "reg/db:1"}]},
    }
    apps = client.AppsV1Api(api)
    sts = apps.create_namespaced_stateful_set(
        "default",
        {"metadata": {"name": "db"},
         "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": template}},
    )  # fmt: skip
    assert sts.spec.replicas == 1
    assert sts.spec.pod_management_policy == "OrderedReady"
    assert sts.spec.update_strategy.rolling_update.partition == 0
    assert sts.status.replicas == 0
    with pytest.raises(client.ApiException) as mismatch:
        apps.create_namespaced_daemon_set(
            "default",
            {"metadata": {"name": "agent"},
             "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template}},
        )  # fmt: skip
    assert invalid_causes(mismatch.value) == [
        (
            "spec.template.metadata.labels",
            'Invalid value: map[string]string{"app":"db"}: `selector` does not match template '
            "`labels`",
        )
    ]
    batch = client.BatchV1Api(api)
    with pytest.raises(client.ApiException) as always:
        batch.create_namespaced_job("default", {"metadata": {"name": "once"},
                                                "spec": {"template": template}})  # fmt: skip
    assert invalid_causes(always.value) == [
        (
            "spec.template.spec.restartPolicy",
            'Unsupported value: "Always": supported values: "OnFailure", "Never"',
        )
    ]
    never = {**template, "spec": {**template["spec"], "restartPolicy": "Never"}}
    job = batch.create_namespaced_job(
        "default", {"metadata": {"name": "once"}, "spec": {"template": never}}
    )
    assert job.spec.backoff_limit == 6
    assert job.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": job.metadata.uid
    }
    assert job.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "once"
    cron = batch.create_namespaced_cron_job(
        "default",
        {"metadata": {"name": "nightly"},
         "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": never}}}},
    )  # fmt: skip
    assert (cron.spec.concurrency_policy, cron.spec.successful_jobs_history_limit) == ("Allow", 3)


def test_hpa_pdb_ingress_network_policy(api: client.ApiClient) -> None:
    hpa = client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        "default",
        {"metadata": {"name": "web"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "web"},
                  "maxReplicas": 4, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}},
    )  # fmt: skip
    assert hpa.spec.min_replicas == 1
    assert hpa.spec.metrics[0].resource.target.average_utilization == 80
    assert hpa.spec.behavior.scale_down.stabilization_window_seconds == 60
    assert hpa.spec.behavior.scale_up.policies[0].value == 4
    assert hpa.status.desired_replicas == 0
    bad = requests.post(  # the client itself refuses this body, so raw HTTP
        api.configuration.host + "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
        json={"metadata": {"name": "bad"}, "spec": {"scaleTargetRef": {}}},
        timeout=5,
    )
    assert bad.status_code == 422
    assert [(c["field"], c["message"]) for c in bad.json()["details"]["causes"]] == [
        ("spec.scaleTargetRef.kind", "Required value"),
        ("spec.scaleTargetRef.name", "Required value"),
        ("spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
    ]
    pdb = client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        "default", {"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1}}
    )
    assert pdb.status.disruptions_allowed == 0
    net = client.NetworkingV1Api(api)
    policy = net.create_namespaced_network_policy(
        "default", {"metadata": {"name": "out"}, "spec": {"egress": [{}]}}
    )
    assert policy.spec.policy_types == ["Ingress", "Egress"]
    path = {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    no_path_type = requests.post(  # the client refuses it too: pathType is required in v1
        api.configuration.host + "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
        json={"metadata": {"name": "web"}, "spec": {"rules": [{"http": {"paths": [path]}}]}},
        timeout=5,
    )
    assert no_path_type.status_code == 422
    assert [(c["field"], c["message"]) for c in no_path_type.json()["details"]["causes"]] == [
        ("spec.rules[0].http.paths[0].pathType", "Required value: pathType must be specified")
    ]


def test_stored_kinds_without_controllers(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pvc = core.create_namespaced_persistent_volume_claim(
        "default",
        {"metadata": {"name": "data"},
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "1Gi"}}}},
    )  # fmt: skip
    assert pvc.status.phase == "Pending"  # no provisioner binds it
    core.create_namespaced_endpoints(
        "default",
        {"metadata": {"name": "db"},
         "subsets": [{"addresses": [{"ip": "10.1.0.5"}], "ports": [{"port": 5432}]}]},
    )  # fmt: skip
    core.create_namespaced_limit_range(
        "default", {"metadata": {"name": "limits"}, "spec": {"limits": [{"type": "Container"}]}}
    )
    quota = core.create_namespaced_resource_quota(
        "default", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}}
    )
    assert quota.status.used is None
    assert [e.metadata.name for e in core.list_namespaced_endpoints("default").items] == ["db"]


def test_generated_pod_names_never_exceed_63_characters(api: client.ApiClient) -> None:
    prefix = "a" * 70 + "-"
    pod = client.CoreV1Api(api).create_namespaced_pod(
        "default",
        {"metadata": {"generateName": prefix},
         "spec": {"containers": [{"name": "c", "image": "reg/app:1"}]}},
    )  # fmt: skip
    assert len(pod.metadata.name) == 63
    assert pod.metadata.name.startswith("a" * 58)


def test_deleting_a_deployment_removes_its_replica_sets_and_pods(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "reg/app:1"}]},
    }
    spec = {"selector": {"matchLabels": {"app": "web"}}, "template": template}
    deploy = apps.create_namespaced_deployment("default", {"metadata": {"name": "web"},
                                                           "spec": spec})  # fmt: skip

    def owner(obj: Any, kind: str) -> Obj:
        return {"apiVersion": "apps/v1", "kind": kind, "name": obj.metadata.name,
                "uid": obj.metadata.uid, "controller": True}  # fmt: skip

    rs = apps.create_namespaced_replica_set(
        "default",
        {"metadata": {"name": "web-1", "ownerReferences": [owner(deploy, "Deployment")]},
         "spec": spec},
    )  # fmt: skip
    core.create_namespaced_pod(
        "default",
        {"metadata": {"name": "web-1-x", "ownerReferences": [owner(rs, "ReplicaSet")]},
         "spec": template["spec"]},
    )  # fmt: skip
    apps.delete_namespaced_deployment("web", "default")
    assert apps.list_namespaced_replica_set("default").items == []
    assert core.list_namespaced_pod("default").items == []


# ---- CustomResourceDefinitions -------------------------------------------------------------
def test_crd_serves_its_kind_with_status_conditions(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    created = ext.create_custom_resource_definition(crd())
    conditions = {c.type: (c.status, c.reason) for c in created.status.conditions}
    assert conditions == {
        "NamesAccepted": ("True", "NoConflicts"),
        "Established": ("True", "InitialNamesAccepted"),
    }
    assert created.status.accepted_names.list_kind == "DestinationRuleList"
    assert created.status.stored_versions == ["v1"]
    assert created.metadata.finalizers == ["customresourcecleanup.apiextensions.k8s.io"]
    resources = client.ApisApi(api).get_api_versions()
    assert "networking.istio.io" in [g.name for g in resources.groups]
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(*ISTIO, "default", "destinationrules", rule())
    listed = custom.list_cluster_custom_object(*ISTIO, "destinationrules")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["web"]


def test_unknown_fields_of_a_custom_resource_are_pruned(
    server: APIServer, api: client.ApiClient
) -> None:
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd())
    custom = client.CustomObjectsApi(api)
    body = rule(subsets=[{"name": "v1", "labels": {"version": "v1"}}], bogus=1,
                trafficPolicy={"anything": {"goes": True}})  # fmt: skip
    body["extra"] = "x"
    stored = custom.create_namespaced_custom_object(*ISTIO, "default", "destinationrules", body)
    assert "extra" not in stored
    assert stored["spec"] == {
        "host": "web",
        "subsets": [{"name": "v1"}],
        "trafficPolicy": {"anything": {"goes": True}},
    }
    strict = requests.post(
        server.url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules"
        "?fieldValidation=Strict",
        json=rule("other", bogus=1, subsets=[{"name": "a", "weight": 2}]),
        timeout=5,
    )
    assert strict.status_code == 400
    assert strict.json()["message"] == (
        'strict decoding error: unknown field "spec.bogus", unknown field "spec.subsets[0].weight"'
    )


def test_status_subresource_and_watch_of_a_custom_resource(api: client.ApiClient) -> None:
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd())
    custom = client.CustomObjectsApi(api)
    created = custom.create_namespaced_custom_object(
        *ISTIO, "default", "destinationrules", {**rule(), "status": {"ignored": True}}
    )
    assert "status" not in created  # reset on create: status is a subresource
    events: list[str] = []
    ready = threading.Event()

    def consume() -> None:
        stream = watch.Watch().stream(
            custom.list_namespaced_custom_object, *ISTIO, "default", "destinationrules",
            resource_version=created["metadata"]["resourceVersion"], timeout_seconds=5,
        )  # fmt: skip
        ready.set()
        for event in stream:
            events.append(event["type"])
            if event["type"] == "MODIFIED":
                return

    reader = threading.Thread(target=consume)
    reader.start()
    ready.wait(5)
    patched = custom.patch_namespaced_custom_object_status(
        *ISTIO, "default", "destinationrules", "web", {"status": {"observed": 1}}
    )
    reader.join(10)
    assert patched["status"] == {"observed": 1}
    assert patched["metadata"]["generation"] == 1
    assert events == ["MODIFIED"]


def test_deleting_the_crd_deletes_its_objects_and_stops_serving(
    server: APIServer, api: client.ApiClient
) -> None:
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(crd())
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(*ISTIO, "default", "destinationrules", rule())
    ext.delete_custom_resource_definition("destinationrules.networking.istio.io")
    with pytest.raises(client.ApiException) as gone:
        custom.list_cluster_custom_object(*ISTIO, "destinationrules")
    assert gone.value.status == 404
    assert requests.get(server.url + "/apis/networking.istio.io/v1", timeout=5).status_code == 404
    assert requests.get(server.url + "/apis/networking.istio.io", timeout=5).status_code == 404
    # recreating the CRD serves an empty kind: the objects went with the old one
    ext.create_custom_resource_definition(crd())
    assert custom.list_cluster_custom_object(*ISTIO, "destinationrules")["items"] == []


def test_invalid_crd_is_422(api: client.ApiClient) -> None:
    bad = crd()
    bad["metadata"]["name"] = "rules.networking.istio.io"
    bad["spec"]["versions"][0]["storage"] = False
    with pytest.raises(client.ApiException) as error:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(bad)
    assert [field for field, _ in invalid_causes(error.value)] == [
        "metadata.name",
        "spec.versions",
    ]


def test_crds_and_their_objects_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with APIServer(state_file=state) as srv:
        requests.post(
            srv.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json=crd(),
            timeout=5,
        ).raise_for_status()
        requests.post(
            srv.url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules",
            json=rule(),
            timeout=5,
        ).raise_for_status()
    with APIServer(state_file=state) as srv:
        got = requests.get(
            srv.url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules/web",
            timeout=5,
        )
        assert got.status_code == 200
        assert got.json()["spec"] == {"host": "web"}


def test_custom_resource_values_are_validated_against_the_schema(server: APIServer) -> None:
    schema: Obj = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["host"],
                "properties": {
                    "host": {"type": "string"},
                    "replicas": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["SIMPLE", "ISTIO_MUTUAL"]},
                    "port": {"x-kubernetes-int-or-string": True},
                },
            }
        },
    }
    url = server.url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules"
    requests.post(
        server.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        json=crd(schema),
        timeout=5,
    ).raise_for_status()
    bad = rule(replicas="three", mode="PLAIN", port=[1])
    del bad["spec"]["host"]
    resp = requests.post(url, json=bad, timeout=5)
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'DestinationRule.networking.istio.io "web" is invalid: ['
        "spec.host: Required value, "
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string", '
        'spec.mode: Unsupported value: "PLAIN": supported values: "SIMPLE", "ISTIO_MUTUAL", '
        'spec.port: Invalid value: "array": spec.port in body must be of type '
        'integer,string: "array"]'
    )
    no_spec = requests.post(url, json={**rule(), "spec": None}, timeout=5)
    assert no_spec.json()["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec"}
    ]
    ok = requests.post(url, json=rule(replicas=2, mode="SIMPLE", port="http"), timeout=5)
    assert ok.status_code == 201, ok.text


def test_every_served_version_shares_the_objects(server: APIServer, api: client.ApiClient) -> None:
    two = crd()
    v1 = two["spec"]["versions"][0]
    two["spec"]["versions"] = [{**v1, "name": "v1beta1", "storage": False}, v1]
    client.ApiextensionsV1Api(api).create_custom_resource_definition(two)
    group = requests.get(server.url + "/apis/networking.istio.io", timeout=5).json()
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    custom = client.CustomObjectsApi(api)
    beta = ("networking.istio.io", "v1beta1")
    created = custom.create_namespaced_custom_object(
        *beta,
        "default",
        "destinationrules",
        {**rule(), "apiVersion": "networking.istio.io/v1beta1"},
    )
    assert created["apiVersion"] == "networking.istio.io/v1beta1"
    read = custom.get_namespaced_custom_object(*ISTIO, "default", "destinationrules", "web")
    assert read["apiVersion"] == "networking.istio.io/v1"
    assert read["metadata"]["uid"] == created["metadata"]["uid"]
    listed = custom.list_namespaced_custom_object(*beta, "default", "destinationrules")
    assert [i["apiVersion"] for i in listed["items"]] == ["networking.istio.io/v1beta1"]
    # a write through v1 of what v1beta1 created is an update, not a new object
    patched = custom.patch_namespaced_custom_object(
        *ISTIO, "default", "destinationrules", "web", {"spec": {"host": "web2"}}
    )
    assert patched["apiVersion"] == "networking.istio.io/v1"
    again = custom.get_namespaced_custom_object(*beta, "default", "destinationrules", "web")
    assert again["spec"]["host"] == "web2"
    assert again["apiVersion"] == "networking.istio.io/v1beta1"
