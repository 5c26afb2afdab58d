"""The cluster's answer to "who owns this?" (:class:`medic.subject.OwnerLookup`) over the official
``kubernetes`` client: read-only GETs, raw JSON (``_preload_content=False``, as the remediation adapter
reads rollouts), a short timeout, and no retries (a lookup that fails falls back to the naming
patterns; it never holds up an alert).

Walks ``metadata.ownerReferences`` (the ``controller: true`` one): Pod -> ReplicaSet -> Deployment,
Pod -> StatefulSet / DaemonSet, Pod -> Job -> CronJob; an HPA's ``spec.scaleTargetRef``; a PVC's
workload through a pod of its namespace that mounts it; a Service's through a pod its selector selects;
a node by any of ``status.addresses``. Wrap it in :class:`service.owners.CachedOwners` (bounded, TTL).

A service's nodes: its workload's ``spec.selector.matchLabels``, then the ``spec.nodeName`` of the pods
that selector lists.

RBAC: get/list ``pods``, ``services``, ``nodes``, get ``replicasets``, ``deployments``, ``statefulsets``,
``daemonsets``, ``jobs``, ``horizontalpodautoscalers``, cluster-wide (the API process only).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, AppsV1Api, AutoscalingV2Api, BatchV1Api, Configuration, CoreV1Api

from activities.adapters.kubeconfig import kube_configuration
from medic.subject import ObjectKey

__all__ = ["KubernetesOwners"]

log = logging.getLogger(__name__)

# Untyped in the client; bound here with the types they have.
_load_kube_config: Callable[..., None] = kube_config.load_kube_config
_load_incluster_config: Callable[..., None] = kube_config.load_incluster_config
_TOP = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob"})
_MAX_HOPS = 4


class KubernetesOwners:
    def __init__(self, configuration: Configuration, *, timeout: float = 3.0) -> None:
        configuration = copy.deepcopy(configuration)
        configuration.retries = False
        self._timeout = (min(timeout, 2.0), timeout)
        client = ApiClient(configuration)
        self._close: Callable[[], None] = client.close
        self._core, self._apps = CoreV1Api(client), AppsV1Api(client)
        self._batch, self._autoscaling = BatchV1Api(client), AutoscalingV2Api(client)

    @classmethod
    def from_settings(cls, kubeconfig: Path | None = None, *, timeout: float = 3.0) -> KubernetesOwners:
        """``kubeconfig``; else the default kubeconfig; else in-cluster. :class:`PermanentError` if none."""
        return cls(kube_configuration(kubeconfig), timeout=timeout)

    def close(self) -> None:
        self._close()

    def _get(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """The JSON the API sent, or None when it did not answer with an object (404, 403, timeout...)."""
        try:
            response = call(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
        except Exception as err:  # any failure means "not known": the naming patterns decide
            log.info("owner lookup failed: %s", type(err).__name__)
            return None
        return body if isinstance(body, dict) else None

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        calls: dict[str, Callable[..., Any]] = {
            "Pod": self._core.read_namespaced_pod,
            "ReplicaSet": self._apps.read_namespaced_replica_set,
            "Job": self._batch.read_namespaced_job,
            "HorizontalPodAutoscaler": self._autoscaling.read_namespaced_horizontal_pod_autoscaler,
            "Service": self._core.read_namespaced_service,
            "Deployment": self._apps.read_namespaced_deployment,
            "StatefulSet": self._apps.read_namespaced_stateful_set,
            "DaemonSet": self._apps.read_namespaced_daemon_set,
        }
        call = calls.get(kind)
        return self._get(call, name, namespace) if call else None

    def _controller_chain(self, kind: str, namespace: str, name: str) -> ObjectKey | None:
        """Up the controller ownerReferences to a Deployment/StatefulSet/DaemonSet/CronJob (or the last
        controller found: a bare Job, a bare ReplicaSet)."""
        found: ObjectKey | None = None
        for _ in range(_MAX_HOPS):
            if kind in _TOP:
                return ObjectKey(kind=kind, namespace=namespace, name=name)
            obj = self._read(kind, namespace, name)
            refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
            controller = next((r for r in refs if r.get("controller")), None)
            if controller is None:
                return found
            kind, name = str(controller.get("kind", "")), str(controller.get("name", ""))
            found = ObjectKey(kind=kind, namespace=namespace, name=name)
        return found

    def _pods(self, namespace: str, **selector: str) -> list[dict[str, Any]]:
        listed = self._get(self._core.list_namespaced_pod, namespace, **selector)
        items = (listed or {}).get("items") or []
        return [p for p in items if isinstance(p, dict)]

    def owner(self, obj: ObjectKey) -> ObjectKey | None:
        ns = obj.namespace
        if obj.kind in ("Pod", "Job", "ReplicaSet"):
            return self._controller_chain(obj.kind, ns, obj.name)
        if obj.kind == "HorizontalPodAutoscaler":
            ref = ((self._read(obj.kind, ns, obj.name) or {}).get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") and ref.get("name"):
                return ObjectKey(kind=str(ref["kind"]), namespace=ns, name=str(ref["name"]))
            return None
        if obj.kind == "PersistentVolumeClaim":
            for pod in self._pods(ns):
                volumes = (pod.get("spec") or {}).get("volumes") or []
                if any((v.get("persistentVolumeClaim") or {}).get("claimName") == obj.name for v in volumes):
                    return self._controller_chain("Pod", ns, str(pod["metadata"]["name"]))
            return None
        if obj.kind == "Service":
            selector = ((self._read("Service", ns, obj.name) or {}).get("spec") or {}).get("selector") or {}
            if not selector:
                return None
            label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            pods = self._pods(ns, label_selector=label_selector)
            return self._controller_chain("Pod", ns, str(pods[0]["metadata"]["name"])) if pods else None
        return None

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        listed = self._get(self._core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}")
        found: list[ObjectKey] = []
        for pod in (listed or {}).get("items") or []:
            meta = pod.get("metadata") or {}
            owner = self._controller_chain("Pod", str(meta.get("namespace", "")), str(meta.get("name", "")))
            if owner is not None and owner not in found:
                found.append(owner)
        return found

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        """Two reads: the workload's ``spec.selector.matchLabels``, then the pods it selects."""
        if workload.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            return []  # a CronJob's pods come and go: no node to tie its incidents to
        spec = (self._read(workload.kind, workload.namespace, workload.name) or {}).get("spec") or {}
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        if not match:
            return []
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        nodes = {
            str(node)
            for pod in self._pods(workload.namespace, label_selector=label_selector)
            if (node := (pod.get("spec") or {}).get("nodeName"))
        }
        return sorted(nodes)

    def node_for_address(self, address: str) -> str | None:
        listed = self._get(self._core.list_node)
        for node in (listed or {}).get("items") or []:
            addresses = (node.get("status") or {}).get("addresses") or []
            if any(a.get("address") == address for a in addresses):
                return str(node["metadata"]["name"])
        return None
