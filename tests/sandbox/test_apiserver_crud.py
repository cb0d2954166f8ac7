"""CRUD, object semantics and error Status bodies of the sandbox API server (Python client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from pipeline.sandbox.apiserver import APIServer

ARGO = ("argoproj.io", "v1alpha1")


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


def application(name: str = "auth", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"project": "default", "source": {"repoURL": "/git"}, **spec},
    }


def deployment(name: str = "web", image: str = "reg/app:1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def status_of(err: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body)
    return body


def test_bootstrap_namespaces_and_default_service_accounts(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert names == {"default", "kube-system", "kube-public", "argocd"}
    assert core.read_namespace("argocd").status.phase == "Active"
    sa_namespaces = {
        sa.metadata.namespace for sa in core.list_service_account_for_all_namespaces().items
    }
    assert sa_namespaces == names


def test_namespace_create_makes_default_service_account(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "auth"}})
    assert core.read_namespaced_service_account("default", "auth").metadata.name == "default"
    ns = core.read_namespace("auth")
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "auth"}


def test_application_crud_and_generation_on_status_write(api: client.ApiClient) -> None:
    co: Any = client.CustomObjectsApi(api)
    created = co.create_namespaced_custom_object(*ARGO, "argocd", "applications", application())
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["uid"]
    patched = co.patch_namespaced_custom_object(
        *ARGO, "argocd", "applications", "auth", {"status": {"sync": {"status": "Synced"}}}
    )
    # no status subresource: status is written through the main endpoint, generation bumps
    assert patched["status"] == {"sync": {"status": "Synced"}}
    assert patched["metadata"]["generation"] == 2
    annotated = co.patch_namespaced_custom_object(
        *ARGO, "argocd", "applications", "auth", {"metadata": {"annotations": {"a": "b"}}}
    )
    assert annotated["metadata"]["generation"] == 2
    assert int(annotated["metadata"]["resourceVersion"]) > int(
        patched["metadata"]["resourceVersion"]
    )
    listed = co.list_namespaced_custom_object(*ARGO, "argocd", "applications")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["auth"]
    co.delete_namespaced_custom_object(*ARGO, "argocd", "applications", "auth")
    with pytest.raises(client.ApiException) as err:
        co.get_namespaced_custom_object(*ARGO, "argocd", "applications", "auth")
    assert err.value.status == 404
    assert status_of(err.value)["message"] == 'applications.argoproj.io "auth" not found'


def test_noop_write_keeps_resource_version(api: client.ApiClient) -> None:
    co: Any = client.CustomObjectsApi(api)
    created = co.create_namespaced_custom_object(*ARGO, "argocd", "applications", application())
    same = co.patch_namespaced_custom_object(
        *ARGO, "argocd", "applications", "auth", {"spec": {"project": "default"}}
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_put_custom_resource_without_resource_version_is_invalid(api: client.ApiClient) -> None:
    co: Any = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object(*ARGO, "argocd", "applications", application())
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object(*ARGO, "argocd", "applications", "auth", application())
    assert err.value.status == 422
    assert status_of(err.value)["message"] == (
        'applications.argoproj.io "auth" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
        "must be specified for an update"
    )


def test_stale_resource_version_on_put_is_conflict(api: client.ApiClient) -> None:
    co: Any = client.CustomObjectsApi(api)
    created = co.create_namespaced_custom_object(*ARGO, "argocd", "applications", application())
    co.patch_namespaced_custom_object(
        *ARGO, "argocd", "applications", "auth", {"spec": {"project": "other"}}
    )
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object(*ARGO, "argocd", "applications", "auth", created)
    assert err.value.status == 409
    assert status_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on applications.argoproj.io "auth": the '
        "object has been modified; please apply your changes to the latest version and try "
        "again",
        "reason": "Conflict",
        "code": 409,
        "details": {"name": "auth", "group": "argoproj.io", "kind": "applications"},
    }


def test_create_errors(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}})
    assert (err.value.status, status_of(err.value)["message"]) == (
        404,
        'namespaces "nowhere" not found',
    )
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert (err.value.status, status_of(err.value)["reason"]) == (409, "AlreadyExists")
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert err.value.status == 422
    assert status_of(err.value)["details"]["causes"][0]["field"] == "metadata.name"


def test_generate_name(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    made = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}})
    assert made.metadata.name.startswith("cfg-")
    assert len(made.metadata.name) == len("cfg-") + 5


def test_pod_defaults_and_status_subresource(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    pod = {
        "metadata": {"name": "p", "labels": {"version": "v2"}},
        "spec": {
            "containers": [
                {"name": "a", "image": "reg/app"},
                {"name": "b", "image": "reg/app:1.0"},
                {"name": "c", "image": "reg/app@sha256:" + "0" * 64},
            ]
        },
        "status": {"phase": "Running"},
    }
    created = core.create_namespaced_pod("default", pod)
    assert created.status.phase == "Pending"
    assert [c.image_pull_policy for c in created.spec.containers] == [
        "Always",
        "IfNotPresent",
        "IfNotPresent",
    ]
    assert created.spec.restart_policy == "Always"
    assert created.spec.termination_grace_period_seconds == 30
    assert created.spec.dns_policy == "ClusterFirst"
    assert created.spec.service_account_name == "default"
    # the main endpoint ignores status; /status changes only status
    main = core.patch_namespaced_pod("p", "default", {"status": {"phase": "Running"}})
    assert main.status.phase == "Pending"
    image_id = "reg/app@sha256:" + "1" * 64
    written = core.patch_namespaced_pod_status(
        "p",
        "default",
        {
            "spec": {"restartPolicy": "Never"},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "a",
                        "image": "reg/app",
                        "imageID": image_id,
                        "ready": True,
                        "restartCount": 0,
                    }
                ],
            },
        },
    )
    assert written.status.phase == "Running"
    assert written.spec.restart_policy == "Always"
    assert written.status.container_statuses[0].image_id == image_id


def test_deployment_defaults_generation_and_status(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment("default", deployment())
    assert created.spec.replicas == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.revision_history_limit == 10
    assert created.spec.progress_deadline_seconds == 600
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled.metadata.generation == 1
    rolled = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "reg/app:2"}]}}}},
    )
    assert rolled.metadata.generation == 2
    status = apps.patch_namespaced_deployment_status(
        "web", "default", {"status": {"observedGeneration": 2, "replicas": 1}}
    )
    assert status.metadata.generation == 2
    assert status.status.observed_generation == 2


def test_replicaset_and_secret_round_trip(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    rs = deployment("rs")
    rs["kind"] = "ReplicaSet"
    made = apps.create_namespaced_replica_set("default", rs)
    assert apps.read_namespaced_replica_set("rs", "default").metadata.uid == made.metadata.uid
    secret = core.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert secret.type == "Opaque"
    assert secret.data == {"k": "dg=="}


def test_events_store_what_clients_post(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    event = {
        "metadata": {"name": "p.1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Pulled",
        "message": "pulled",
        "type": "Normal",
    }
    core.create_namespaced_event("default", event)
    found = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=p,reason=Pulled"
    )
    assert [e.message for e in found.items] == ["pulled"]


def test_finalizers_delay_deletion(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c", "finalizers": ["example.com/keep"]}}
    )
    core.delete_namespaced_config_map("c", "default")
    pending = core.read_namespaced_config_map("c", "default")
    assert pending.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("c", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("c", "default")
    assert err.value.status == 404


def test_garbage_collection_follows_owner_references(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    owner = apps.create_namespaced_deployment("default", deployment())
    ref = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": owner.metadata.uid,
        "controller": True,
    }
    rs = deployment("web-1")
    rs["kind"] = "ReplicaSet"
    rs["metadata"]["ownerReferences"] = [ref]
    made_rs = apps.create_namespaced_replica_set("default", rs)
    pod_ref = {**ref, "kind": "ReplicaSet", "name": "web-1", "uid": made_rs.metadata.uid}
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "web-1-a", "ownerReferences": [pod_ref]},
            "spec": {"containers": [{"name": "app", "image": "reg/app:1"}]},
        },
    )
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "kept", "ownerReferences": [ref]}}
    )
    apps.delete_namespaced_deployment("web", "default")
    assert apps.list_namespaced_replica_set("default").items == []
    assert core.list_namespaced_pod("default").items == []
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []


def test_orphan_propagation_keeps_dependents(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    owner = apps.create_namespaced_deployment("default", deployment())
    rs = deployment("web-1")
    rs["kind"] = "ReplicaSet"
    rs["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner.metadata.uid}
    ]
    apps.create_namespaced_replica_set("default", rs)
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Orphan")
    kept = apps.read_namespaced_replica_set("web-1", "default")
    assert kept.metadata.owner_references is None


def test_deleting_a_namespace_deletes_its_objects(api: client.ApiClient) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "auth"}})
    core.create_namespaced_config_map("auth", {"metadata": {"name": "c"}})
    core.delete_namespace("auth")
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("auth")
    assert err.value.status == 404
    assert (
        core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=auth").items
        == []
    )


def test_scale_subresource_changes_only_replicas(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment())
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.selector) == (1, "app=web")
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    after = apps.read_namespaced_deployment("web", "default")
    assert (after.spec.replicas, after.metadata.generation) == (4, 2)
