"""The double's ConfigMaps as the API serves them
(https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/config-map-v1/), through
the real ``kubernetes`` client: replace (PUT) with and without a resourceVersion precondition, the
``Status`` bodies of its refusals, and the 1 MiB limit on ``data`` plus ``binaryData``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration, CoreV1Api, V1ConfigMap
from kubernetes.client.exceptions import ApiException

from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import CONFIGMAP_MAX_BYTES, CONFIGMAPS, ApiError

NS = "medic"
ROUTE = "/api/v1/namespaces/{namespace}/configmaps/{name}"


@pytest.fixture
def core(k8s: KubernetesDouble) -> Iterator[CoreV1Api]:
    configuration = Configuration()
    configuration.host = k8s.url
    configuration.retries = False
    client = ApiClient(configuration)
    close: Callable[[], None] = client.close  # untyped in the client
    yield CoreV1Api(client)
    close()


def _configmap(name: str, **fields: Any) -> V1ConfigMap:
    return V1ConfigMap.model_validate(
        {"apiVersion": "v1", "kind": "ConfigMap"}
        | fields
        | {"metadata": {"name": name, "namespace": NS} | fields.get("metadata", {})}
    )


def _refusal(err: ApiException) -> dict[str, Any]:
    body = json.loads(err.body or "{}")
    assert isinstance(body, dict)
    return body


def test_replace_makes_the_body_the_object_and_moves_the_resource_version(
    core: CoreV1Api, k8s: KubernetesDouble
) -> None:
    created = k8s.add_configmap(NS, "state", {"a": "1"}, labels={"team": "sre"})
    packed = base64.b64encode(b"\x00\xffbinary").decode()
    body = _configmap(
        "state",
        binaryData={"blob": packed},
        metadata={"labels": {"owner": "medic"}, "resourceVersion": created["metadata"]["resourceVersion"]},
    )
    core.replace_namespaced_config_map("state", NS, body)
    stored = k8s.obj("v1", "configmaps", NS, "state")
    assert "data" not in stored and stored["binaryData"] == {"blob": packed}  # replaced, not merged
    assert stored["metadata"]["labels"] == {"owner": "medic"}
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(stored["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    [write] = k8s.writes(f"/api/v1/namespaces/{NS}/configmaps/state")
    assert write.method == "PUT" and write.body["binaryData"] == {"blob": packed}


def test_a_stale_resource_version_is_a_conflict_with_the_apis_status(
    core: CoreV1Api, k8s: KubernetesDouble
) -> None:
    created = k8s.add_configmap(NS, "state", {"a": "1"})
    stale = created["metadata"]["resourceVersion"]
    core.replace_namespaced_config_map("state", NS, _configmap("state", data={"a": "2"}))  # unconditional
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_config_map(
            "state", NS, _configmap("state", data={"a": "3"}, metadata={"resourceVersion": stale})
        )
    assert refused.value.status == 409
    assert _refusal(refused.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on configmaps "state": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "state", "kind": "configmaps"},
        "code": 409,
    }
    assert k8s.obj("v1", "configmaps", NS, "state")["data"] == {"a": "2"}


def test_replace_does_not_create(core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_config_map("absent", NS, _configmap("absent", data={"a": "1"}))
    assert refused.value.status == 404
    assert _refusal(refused.value)["details"] == {"name": "absent", "kind": "configmaps"}


def test_replace_under_another_name_is_a_bad_request(core: CoreV1Api, k8s: KubernetesDouble) -> None:
    k8s.add_configmap(NS, "state", {"a": "1"})
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_config_map("state", NS, _configmap("other", data={"a": "1"}))
    assert refused.value.status == 400 and _refusal(refused.value)["reason"] == "BadRequest"


def test_more_than_a_mebibyte_is_invalid(core: CoreV1Api, k8s: KubernetesDouble) -> None:
    """Counted decoded: base64 makes the request larger, not the ConfigMap."""
    fits = base64.b64encode(bytes(CONFIGMAP_MAX_BYTES)).decode()
    core.create_namespaced_config_map(NS, _configmap("big", binaryData={"state": fits}))
    over = base64.b64encode(bytes(CONFIGMAP_MAX_BYTES - 1)).decode()
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_config_map(
            "big", NS, _configmap("big", data={"x": "ab"}, binaryData={"state": over})
        )
    body = _refusal(refused.value)
    assert refused.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == 'ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes'
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueTooLong",
            "message": "Too long: may not be more than 1048576 bytes",
            "field": "[]",
        }
    ]


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"binaryData": {"state": "not base64!"}}, 400, "illegal base64 data"),
        ({"data": {"a/b": "x"}}, 422, "a valid config key"),
        ({"data": {"k": "x"}, "binaryData": {"k": "eA=="}}, 422, "duplicate of key present in data"),
    ],
)
def test_what_the_api_refuses_in_a_configmap(
    k8s: KubernetesDouble, fields: dict[str, Any], status: int, says: str
) -> None:
    body = {"metadata": {"name": "bad", "namespace": NS}} | fields
    with pytest.raises(ApiError) as refused:
        k8s.store.create(CONFIGMAPS, NS, body)
    assert refused.value.code == status and says in refused.value.message
