"""Objects as Argo CD and Flux leave them, and their own resources, for the GitOps tests.

What the reconcilers write on what they apply, from their references:

- Flux kustomize-controller applies server-side as field manager ``kustomize-controller`` and labels
  each object ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``
  (https://fluxcd.io/flux/components/kustomize/kustomizations/, "Controlling the apply behavior of
  resources"); helm-controller labels ``helm.toolkit.fluxcd.io/name`` and ``/namespace``
  (https://fluxcd.io/flux/components/helm/helmreleases/).
- Argo CD tracks with the annotation ``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>``
  (the default from 3.0) or the label ``app.kubernetes.io/instance`` (2.x)
  (https://argo-cd.readthedocs.io/en/stable/user-guide/resource_tracking/); it applies client-side
  (``kubectl.kubernetes.io/last-applied-configuration``) unless ``ServerSideApply=true``, then as field
  manager ``argocd-controller`` (https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/).

``managedFields`` are what the API server records for an apply: the applied manifest's fields as a
``fieldsV1`` set (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "application",
    "argo_applied",
    "deployment",
    "fields_v1",
    "flux_applied",
    "helm_release",
    "hpa",
    "kustomization",
    "manifest_of",
]


def fields_v1(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fieldsV1`` set an apply of ``manifest`` owns: ``f:<key>`` per field, list items keyed by
    their merge key (``k:{"name":"web"}``), ``.`` for an item itself."""
    out: dict[str, Any] = {}
    for key, value in manifest.items():
        if key in ("apiVersion", "kind"):
            continue
        out[f"f:{key}"] = _field_value(value)
    return out


def _field_value(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return fields_v1(value)
    if isinstance(value, list) and value and all(isinstance(v, Mapping) and "name" in v for v in value):
        return {
            "k:" + json.dumps({"name": v["name"]}, separators=(",", ":")): {".": {}, **fields_v1(v)}
            for v in value
        }
    return {}


def manifest_of(obj: Mapping[str, Any], *, replicas: bool = True) -> dict[str, Any]:
    """What Git would hold for a live Deployment: its name, labels and spec as written (``replicas=False``:
    a manifest that leaves the count to an HPA)."""
    spec = copy.deepcopy(dict(obj["spec"]))
    keep = {"selector", "template"} | ({"replicas"} if replicas else set())
    template = spec["template"]
    containers = [
        {"name": c["name"], "image": c["image"], "ports": c.get("ports", [])}
        for c in template["spec"]["containers"]
    ]
    spec = {k: v for k, v in spec.items() if k in keep}
    spec["template"] = {
        "metadata": {"labels": template["metadata"]["labels"]},
        "spec": {"containers": containers},
    }
    meta = obj["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels", {}),
        },
        "spec": spec,
    }


def _entry(manager: str, operation: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": manifest.get("apiVersion", "apps/v1"),
        "time": "2026-12-01T09:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(manifest),
    }


def flux_applied(
    obj: dict[str, Any],
    manifest: Mapping[str, Any],
    *,
    name: str = "apps",
    namespace: str = "flux-system",
    helm: bool = False,
) -> None:
    """Mark ``obj`` (in place) as Flux's kustomize-controller (or helm-controller) applied ``manifest``."""
    prefix = "helm.toolkit.fluxcd.io" if helm else "kustomize.toolkit.fluxcd.io"
    labels = {f"{prefix}/name": name, f"{prefix}/namespace": namespace}
    applied = copy.deepcopy(dict(manifest))
    applied.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {}).update(labels)
    manager = "helm-controller" if helm else "kustomize-controller"
    meta["managedFields"] = [
        _entry(manager, "Apply", applied),
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-12-01T09:00:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:replicas": {}, "f:readyReplicas": {}}},
            "subresource": "status",
        },
    ]


def argo_applied(
    obj: dict[str, Any],
    manifest: Mapping[str, Any],
    *,
    app: str = "checkout",
    tracking: str = "annotation",
    server_side: bool = False,
) -> None:
    """Mark ``obj`` (in place) as Argo CD's Application ``app`` applied ``manifest``: tracked by the
    annotation (``<app>:<group>/<kind>:<ns>/<name>``) or the label, applied client-side (the last applied
    configuration) or server-side (field manager ``argocd-controller``)."""
    meta = obj.setdefault("metadata", {})
    applied = copy.deepcopy(dict(manifest))
    if tracking == "annotation":
        group = manifest["apiVersion"].rpartition("/")[0]
        tracking_id = f"{app}:{group}/{manifest['kind']}:{meta.get('namespace')}/{meta['name']}"
        applied.setdefault("metadata", {}).setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = (
            tracking_id
        )
        meta.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = tracking_id
    else:
        applied.setdefault("metadata", {}).setdefault("labels", {})["app.kubernetes.io/instance"] = app
        meta.setdefault("labels", {})["app.kubernetes.io/instance"] = app
    if server_side:
        meta["managedFields"] = [_entry("argocd-controller", "Apply", applied)]
    else:
        last = json.dumps(applied, separators=(",", ":"), sort_keys=True)
        meta.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = last
        # the Update that created it owns every field the object had then, defaults the API server filled
        # in included (replicas a manifest left out): as managedFields dumps of client-side apply show
        created = {
            "apiVersion": applied.get("apiVersion", "apps/v1"),
            "metadata": applied.get("metadata", {}),
        }
        meta["managedFields"] = [
            _entry("argocd-controller", "Update", created | {"spec": obj.get("spec", {})})
        ]


def _resource(api_version: str, kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def application(
    name: str = "checkout",
    *,
    namespace: str = "argocd",
    self_heal: bool | None = True,
    ignore: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An Argo CD Application (argoproj.io/v1alpha1); ``self_heal=None``: no automated sync at all."""
    spec: dict[str, Any] = {
        "project": "default",
        "source": {
            "repoURL": "https://git.example.com/shop/deploy.git",
            "targetRevision": "HEAD",
            "path": name,
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
    }
    if self_heal is not None:
        spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": self_heal}}
    if ignore:
        spec["ignoreDifferences"] = ignore
    return _resource("argoproj.io/v1alpha1", "Application", name, namespace, spec)


def kustomization(
    name: str = "apps", *, namespace: str = "flux-system", suspend: bool = False
) -> dict[str, Any]:
    """A Flux Kustomization (kustomize.toolkit.fluxcd.io/v1)."""
    spec: dict[str, Any] = {
        "interval": "10m",
        "path": "./apps/production",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    }
    if suspend:
        spec["suspend"] = True
    return _resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, namespace, spec)


def helm_release(
    name: str = "checkout",
    *,
    namespace: str = "flux-system",
    drift: str | None = "enabled",
    ignore: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Flux HelmRelease (helm.toolkit.fluxcd.io/v2); ``drift``: its driftDetection.mode, None: unset."""
    spec: dict[str, Any] = {
        "interval": "5m",
        "chart": {
            "spec": {"chart": name, "version": "1.x", "sourceRef": {"kind": "HelmRepository", "name": "shop"}}
        },
    }
    if drift is not None:
        spec["driftDetection"] = {"mode": drift, **({"ignore": ignore} if ignore else {})}
    return _resource("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, namespace, spec)


def deployment() -> dict[str, Any]:
    """shop/checkout as the API server returns it (defaults filled in)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": {"app": "checkout"}, "generation": 4},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {
                    "containers": [
                        {
                            "name": "checkout",
                            "image": "registry.example.com/checkout:1.4.2",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ],
                    "restartPolicy": "Always",
                },
            },
            "strategy": {"type": "RollingUpdate"},
        },
    }


def hpa(name: str = "checkout", *, target: str = "checkout", keda: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if keda:
        meta["ownerReferences"] = [
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "name": "checkout",
                "uid": "0b0e1c9e-7f7d-4a4b-9a35-3f1b2f0c7d21",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
    }
