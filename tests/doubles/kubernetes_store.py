"""The in-memory state behind :class:`tests.doubles.kubernetes.KubernetesDouble`: objects kept as the
JSON the API server would return, the two patch formats the double accepts, and a synchronous
stand-in for the deployment controller (ReplicaSets and their revisions).

The controller behaves as Kubernetes' does, converged at once: a Deployment whose pod template changes
gets a new ReplicaSet ``{name}-{pod-template-hash}`` with revision ``max + 1``, or, when an owned
ReplicaSet already has that template (a rollback), that ReplicaSet's revision is raised to ``max + 1``
and its old revision appended to ``deployment.kubernetes.io/revision-history``. The Deployment's
``deployment.kubernetes.io/revision`` follows; its annotations (but the controller's own) are copied to
the new ReplicaSet; old ReplicaSets beyond ``revisionHistoryLimit`` are pruned. Status is converged
(every replica ready and updated, ``observedGeneration == generation``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CONFIGMAP_MAX_BYTES",
    "CUSTOM",
    "GITOPS",
    "MERGE_PATCH",
    "REVISION",
    "REVISION_HISTORY",
    "STRATEGIC_MERGE_PATCH",
    "ApiError",
    "KubeStore",
    "Resource",
    "json_merge_patch",
    "status_body",
    "strategic_merge_patch",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_NOT_COPIED = frozenset(
    {REVISION, REVISION_HISTORY, "kubectl.kubernetes.io/last-applied-configuration"}
    | {"deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas"}
)
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' SafeEncodeString
# List fields strategic merge patch merges by key (the rest are replaced), as in the Kubernetes types.
_MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ports": "containerPort",
    "hostAliases": "ip",
    "conditions": "type",
}


@dataclass(frozen=True)
class Resource:
    """A served resource type: ``apps/v1 deployments``, ``v1 configmaps``, a custom resource."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``configmaps``: how the API names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self) -> str:
        """``Deployment.apps``: how the API names the kind in 422 messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
BUILTIN = (DEPLOYMENTS, STATEFULSETS, REPLICASETS, HPAS, CONFIGMAPS)
CUSTOM: tuple[Resource, ...] = (
    *(
        Resource("networking.istio.io", version, plural, kind)
        for version in ("v1beta1", "v1")
        for plural, kind in (("destinationrules", "DestinationRule"), ("virtualservices", "VirtualService"))
    ),
    Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
    # What drives a workload by reference (remediations/referrers.py): Argo Rollouts' Rollout
    # (https://argo-rollouts.readthedocs.io/en/stable/features/specification/) and KEDA's ScaledObject
    # (https://keda.sh/docs/latest/reference/scaledobject-spec/).
    Resource("argoproj.io", "v1alpha1", "rollouts", "Rollout"),
    Resource("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
    # GitOps reconcilers, as their CRDs serve them today: Argo CD's Application (argoproj.io/v1alpha1,
    # https://argo-cd.readthedocs.io/en/stable/user-guide/application-specification/), Flux's
    # Kustomization (kustomize.toolkit.fluxcd.io/v1) and HelmRelease (helm.toolkit.fluxcd.io/v2,
    # https://fluxcd.io/flux/components/). KubernetesDouble(crds=...) leaves them out: not installed.
    Resource("argoproj.io", "v1alpha1", "applications", "Application"),
    Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
    Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"),
)
GITOPS = CUSTOM[-3:]


class ApiError(Exception):
    """An answer in the API's ``Status`` shape."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def not_found(resource: Resource, name: str) -> ApiError:
    details = {"name": name, "kind": resource.plural} | ({"group": resource.group} if resource.group else {})
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', details)


def invalid(resource: Resource, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 ``Invalid`` listing ``(field, message)`` causes, worded like the API's validation errors."""
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    details = {
        "name": name,
        "kind": resource.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    } | ({"group": resource.group} if resource.group else {})
    return ApiError(422, "Invalid", f'{resource.kind_qualified} "{name}" is invalid: {text}', details)


# -- ConfigMaps ------------------------------------------------------------------------------------------

CONFIGMAP_MAX_BYTES = 1024 * 1024  # core.MaxSecretSize: data and binaryData together, decoded
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _validate_configmap(obj: dict[str, Any]) -> None:
    """What the API server checks of a ConfigMap (``ValidateConfigMap``; field reference:
    https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/config-map-v1/):
    ``data`` values are strings and ``binaryData`` values base64 (else the body cannot be decoded: 400);
    keys are config keys, none in both maps, and the values together hold at most 1 MiB (422, the
    whole object named ``[]`` in the cause, as the API words it)."""
    name = obj["metadata"]["name"]
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    undecodable = 'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ApiError(400, "BadRequest", undecodable + "data values must be strings")
    if not isinstance(binary, dict):
        raise ApiError(400, "BadRequest", undecodable + "binaryData must be an object")
    size = sum(len(v.encode()) for v in data.values())
    for value in binary.values():
        try:
            size += len(base64.b64decode(value, validate=True))
        except (TypeError, ValueError) as err:  # binascii.Error is a ValueError
            raise ApiError(400, "BadRequest", undecodable + f"illegal base64 data: {err}") from err
    causes = [
        (
            f"{field}[{key}]",
            f'Invalid value: "{key}": a valid config key must consist of alphanumeric '
            "characters, '-', '_' or '.'",
        )
        for field, keys in (("data", data), ("binaryData", binary))
        for key in keys
        if not _CONFIG_KEY.match(key)
    ] + [
        (f"binaryData[{key}]", f'Invalid value: "{key}": duplicate of key present in data')
        for key in binary
        if key in data
    ]
    if causes:
        raise invalid(CONFIGMAPS, name, causes)
    if size > CONFIGMAP_MAX_BYTES:
        message = f"Too long: may not be more than {CONFIGMAP_MAX_BYTES} bytes"
        details = {
            "name": name,
            "kind": CONFIGMAPS.kind,
            "causes": [{"reason": "FieldValueTooLong", "message": message, "field": "[]"}],
        }
        raise ApiError(422, "Invalid", f'ConfigMap "{name}" is invalid: []: {message}', details)


# -- patches ---------------------------------------------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """The part of Kubernetes' strategic merge patch the double knows: maps merge, ``null`` deletes,
    ``$patch: replace``/``delete`` on maps, lists in :data:`_MERGE_KEYS` merge by key (``$patch:
    delete`` in an item removes it), other lists are replaced. Other directives (``$retainKeys``,
    ``$deleteFromPrimitiveList``) are refused with a 400 rather than half-applied; ``$setElementOrder``
    is ignored."""
    if not isinstance(patch, dict):
        if isinstance(patch, list) and field in _MERGE_KEYS and isinstance(target, list):
            return _merge_list(target, patch, _MERGE_KEYS[field])
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$setElementOrder/") and k != "$patch"}
    if unsupported := [k for k in body if k.startswith("$")]:
        raise ApiError(400, "BadRequest", f"the Kubernetes double does not support {unsupported[0]}")
    result = {} if directive == "replace" or not isinstance(target, dict) else copy.deepcopy(target)
    for key, value in body.items():
        merged = None if value is None else strategic_merge_patch(result.get(key), value, key)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    result = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(400, "BadRequest", f"strategic merge patch: list item without merge key {key!r}")
        at = next((i for i, old in enumerate(result) if old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append(strategic_merge_patch(None, item))
        else:
            result[at] = strategic_merge_patch(result[at], item)
    return result


# -- label selectors ---------------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)|\s(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality- and set-based label selectors (``a=b,c!=d,e in (f,g),h,!i``); 400 when unparseable."""
    for part in re.split(r",(?![^(]*\))", selector) if selector.strip() else []:
        match = _REQUIREMENT.match(part)
        if match is None or (match["neg"] and (match["op"] or match["set"])):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        key, present = match["key"], match["key"] in labels
        if match["neg"]:
            ok = not present
        elif match["op"]:
            ok = (labels.get(key) == match["value"]) == (match["op"] != "!=")
        elif match["set"]:
            values = {v.strip() for v in match["values"].split(",")}
            ok = (labels.get(key) in values) if match["set"] == "in" else (labels.get(key) not in values)
        else:
            ok = present
        if not ok:
            return False
    return True


def selector_string(selector: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))


def pod_template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the store ---------------------------------------------------------------------------------------------


class KubeStore:
    """Objects by ``(resource, namespace, name)``, with a cluster-wide ``resourceVersion`` counter.

    Callers get deep copies. :meth:`write` is the one way objects change: it enforces server-managed
    metadata, validation, no-op detection (an identical result keeps its ``resourceVersion``),
    ``generation`` bumps on spec changes and the deployment controller.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[tuple[Resource, str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1000)
        # A StatefulSet's pods, as the revision each runs, by ordinal (pods are not served: status only)
        self._pods: dict[tuple[str, str], list[str]] = {}

    # -- reading -----------------------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def live(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        """The stored object itself (hold :attr:`lock` while using it)."""
        obj = self._objects.get((resource, namespace, name))
        if obj is None:
            raise not_found(resource, name)
        return obj

    def find(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            return None if obj is None else copy.deepcopy(obj)

    def select(self, resource: Resource, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for (res, ns, _), obj in sorted(self._objects.items(), key=lambda kv: kv[0][2])
                if res == resource
                and ns == namespace
                and selector_matches(selector, obj["metadata"].get("labels") or {})
            ]

    def resource_version(self) -> str:
        with self.lock:
            return str(next(self._versions))

    # -- writing -----------------------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            meta = body.get("metadata") or {}
            name = meta.get("name")
            if not name:
                raise invalid(
                    resource, "", [("metadata.name", "Required value: name or generateName is required")]
                )
            _check_body_names(resource, namespace, body)
            if (resource, namespace, name) in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{name}" already exists',
                    {"name": name, "kind": resource.plural},
                )
            obj = copy.deepcopy(body) | {"apiVersion": resource.api_version, "kind": resource.kind}
            obj["metadata"] = {
                k: v
                for k, v in meta.items()
                if k not in ("uid", "resourceVersion", "creationTimestamp", "generation")
            } | {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": self.resource_version(),
                "creationTimestamp": _now(),
            }
            if resource != CONFIGMAPS:
                obj["metadata"]["generation"] = 1
            self._validate(resource, obj)
            self._objects[(resource, namespace, name)] = obj
            self._after_write(resource, obj, None)
            return copy.deepcopy(self._objects[(resource, namespace, name)])

    def replace(self, resource: Resource, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A PUT: ``body`` becomes the object (labels, annotations and data included; ``uid`` and
        ``creationTimestamp`` stay). A missing object is 404 (ConfigMaps are not created by a PUT);
        ``metadata.resourceVersion``, when given, is a precondition (409 ``Conflict``, see :meth:`write`);
        without it the update is unconditional, which the API allows for ConfigMaps."""
        _check_body_names(resource, namespace, body)
        return self.write(resource, namespace, name, body)

    def write(self, resource: Resource, namespace: str, name: str, new: dict[str, Any]) -> dict[str, Any]:
        """Replace the object with ``new`` (a patched copy), as an update through the API would."""
        with self.lock:
            old = self.get(resource, namespace, name)
            wanted_rv = new.get("metadata", {}).get("resourceVersion")
            # A resourceVersion in the write is a precondition: the API server answers 409 Conflict (a
            # Status with reason Conflict) when the object changed since (API conventions, "Concurrency
            # Control and Consistency": https://github.com/kubernetes/community/blob/master/contributors/
            # devel/sig-architecture/api-conventions.md#concurrency-control-and-consistency). Through the
            # scale subresource the Scale's resourceVersion is its workload's, so the same holds there.
            if wanted_rv is not None and wanted_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "kind": resource.plural}
                    | ({"group": resource.group} if resource.group else {}),
                )
            if new.get("metadata", {}).get("name", name) != name:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"the name of the object ({new['metadata']['name']}) does not match the name on the URL "
                    f"({name})",
                )
            obj = copy.deepcopy(new) | {"apiVersion": resource.api_version, "kind": resource.kind}
            meta = obj.setdefault("metadata", {})
            for key in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion", "generation"):
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            if "status" in old:  # status is written through the status subresource only
                obj["status"] = old["status"]
            self._validate(resource, obj)
            if obj == old:
                return old
            if "generation" in meta and {k: v for k, v in obj.items() if k not in ("metadata", "status")} != {
                k: v for k, v in old.items() if k not in ("metadata", "status")
            }:
                meta["generation"] += 1
            meta["resourceVersion"] = self.resource_version()
            self._objects[(resource, namespace, name)] = obj
            self._after_write(resource, obj, old)
            return copy.deepcopy(self._objects[(resource, namespace, name)])

    def delete(
        self, resource: Resource, namespace: str, name: str, preconditions: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``preconditions`` (``DeleteOptions.preconditions``: ``uid``, ``resourceVersion``) must hold, else
        409 ``Conflict`` worded as the API server's (``Precondition failed: ...``), nothing deleted."""
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            for key, field in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(key)
                if wanted is not None and wanted != obj["metadata"][key]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                        f"Precondition failed: {field} in precondition: {wanted}, "
                        f"{field} in object meta: {obj['metadata'][key]}",
                        {"name": name, "kind": resource.plural}
                        | ({"group": resource.group} if resource.group else {}),
                    )
            del self._objects[(resource, namespace, name)]
            return obj

    # -- validation (the part of the API's that the tests rely on) -----------------------------------------

    def _validate(self, resource: Resource, obj: dict[str, Any]) -> None:
        name, spec, causes = obj["metadata"]["name"], obj.get("spec") or {}, []
        if resource in (DEPLOYMENTS, STATEFULSETS):
            replicas = spec.get("replicas", 1)
            if not isinstance(replicas, int) or replicas < 0:
                causes.append(
                    ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
                )
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        f"Invalid value: {labels}: `selector` does not match template `labels`",
                    )
                )
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            causes += [
                (f"spec.template.spec.containers[{i}].image", "Required value")
                for i, c in enumerate(containers)
                if not c.get("image")
            ]
            if not containers:
                causes.append(("spec.template.spec.containers", "Required value"))
            if resource == STATEFULSETS:
                causes += _update_strategy_causes(spec.get("updateStrategy") or {})
            old = self._objects.get((resource, obj["metadata"]["namespace"], name))
            if old is not None and old["spec"].get("selector") != spec.get("selector"):
                causes.append(("spec.selector", f"Invalid value: {spec.get('selector')}: field is immutable"))
            elif old is not None and resource == STATEFULSETS and _fixed(old["spec"]) != _fixed(spec):
                # ValidateStatefulSetUpdate (k8s.io/kubernetes pkg/apis/apps/validation): the rest of a
                # StatefulSet's spec (serviceName, podManagementPolicy, volumeClaimTemplates) is fixed
                causes.append(("spec", f"Forbidden: {_STATEFULSET_FIXED}"))
        elif resource == HPAS:
            low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if not isinstance(low, int) or low < 1:
                causes.append(
                    ("spec.minReplicas", f"Invalid value: {low}: must be greater than or equal to 1")
                )
            elif not isinstance(high, int) or high < low:
                causes.append(
                    (
                        "spec.maxReplicas",
                        f"Invalid value: {high}: must be greater than or equal to `minReplicas`",
                    )
                )
        elif resource == CONFIGMAPS:
            _validate_configmap(obj)
        elif resource.plural == "httproutes":
            for i, rule in enumerate(spec.get("rules") or []):
                for j, ref in enumerate(rule.get("backendRefs") or []):
                    weight = ref.get("weight", 1)
                    if not isinstance(weight, int) or not 0 <= weight <= 1_000_000:
                        at = f"spec.rules[{i}].backendRefs[{j}].weight"
                        causes.append(
                            (at, f"Invalid value: {weight}: {at} in body should be between 0 and 1000000")
                        )
        if causes:
            raise invalid(resource, name, causes)

    # -- controllers -----------------------------------------------------------------------------------------

    def _after_write(self, resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = obj.get("spec") or {}
        if resource == DEPLOYMENTS:
            self._sync_deployment(obj)
        elif resource == STATEFULSETS:
            self._sync_statefulset(obj)
        elif resource == HPAS:
            low = spec.get("minReplicas", 1)
            obj["status"] = {"currentReplicas": low, "desiredReplicas": low, "currentMetrics": []}

    def _sync_statefulset(self, sts: dict[str, Any]) -> None:
        """The StatefulSet controller, converged at once, as its update strategy lets it
        (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#update-strategies): with
        ``RollingUpdate`` the pods from the highest ordinal down to ``rollingUpdate.partition`` run the
        new template, those below the partition keep theirs; with ``OnDelete`` no running pod is replaced
        (a new one, scaled out, starts on the new template). ``status.currentRevision`` moves to the update
        revision only once every pod runs it; ``currentReplicas``/``updatedReplicas`` count the pods on
        each (apps/v1 StatefulSetStatus)."""
        spec, meta = sts["spec"], sts["metadata"]
        key, replicas = (meta["namespace"], meta["name"]), spec.get("replicas", 1)
        update = f"{meta['name']}-{pod_template_hash(spec['template'])}"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0) if rolling else replicas
        current = (sts.get("status") or {}).get("currentRevision") or update
        pods = self._pods.get(key, [])[:replicas]
        for ordinal in range(replicas):
            if ordinal >= len(pods):  # created: below a rolling update's partition on the current revision
                pods.append(current if rolling and ordinal < partition else update)
            elif ordinal >= partition:
                pods[ordinal] = update
        self._pods[key] = pods
        updated = pods.count(update)
        if updated == replicas:
            current = update
        sts["status"] = _counts(replicas, "ready", "available") | {
            "currentReplicas": pods.count(current),
            "updatedReplicas": updated,
            "observedGeneration": meta["generation"],
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": 0,
        }

    def owned_replicasets(self, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The ReplicaSets the Deployment controls, oldest revision first (live objects, not copies)."""
        uid, namespace = deployment["metadata"]["uid"], deployment["metadata"]["namespace"]
        owned = [
            obj
            for (res, ns, _), obj in self._objects.items()
            if res == REPLICASETS
            and ns == namespace
            and any(
                o.get("uid") == uid and o.get("controller")
                for o in obj["metadata"].get("ownerReferences", [])
            )
        ]
        return sorted(owned, key=_revision)

    def _sync_deployment(self, dep: dict[str, Any]) -> None:
        spec, meta = dep["spec"], dep["metadata"]
        owned = self.owned_replicasets(dep)
        current = next(
            (rs for rs in owned if _without_hash(rs["spec"]["template"]) == spec["template"]), None
        )
        others_max = max((_revision(rs) for rs in owned if rs is not current), default=0)
        copied = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_COPIED}
        if current is None:
            current = self._new_replicaset(dep, others_max + 1)
            owned.append(current)
        elif _revision(current) <= others_max:
            annotations = current["metadata"].setdefault("annotations", {})
            history = [r for r in annotations.get(REVISION_HISTORY, "").split(",") if r]
            annotations[REVISION_HISTORY] = ",".join([*history, str(_revision(current))])
            annotations[REVISION] = str(others_max + 1)
        current["metadata"].setdefault("annotations", {}).update(copied)
        replicas = spec.get("replicas", 1)
        for rs in owned:
            count = replicas if rs is current else 0
            before = copy.deepcopy(rs)
            rs["spec"]["replicas"] = count
            rs["status"] = _counts(count, "fullyLabeled", "ready", "available") | {
                "observedGeneration": rs["metadata"]["generation"]
            }
            if rs != before:
                rs["metadata"]["resourceVersion"] = self.resource_version()
        limit = spec.get("revisionHistoryLimit", 10)
        old = [rs for rs in owned if rs is not current]
        for rs in old[: max(0, len(old) - limit)]:
            del self._objects[(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])]
        meta.setdefault("annotations", {})[REVISION] = current["metadata"]["annotations"][REVISION]
        progressed = f'ReplicaSet "{current["metadata"]["name"]}" has successfully progressed.'
        dep["status"] = _counts(replicas, "updated", "ready", "available") | {
            "observedGeneration": meta["generation"],
            "conditions": [
                _condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                _condition("Progressing", "NewReplicaSetAvailable", progressed),
            ],
        }

    def _new_replicaset(self, dep: Mapping[str, Any], revision: int) -> dict[str, Any]:
        meta, spec = dep["metadata"], dep["spec"]
        template_hash = pod_template_hash(spec["template"])
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = template_hash
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        name = f"{meta['name']}-{template_hash}"
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "resourceVersion": self.resource_version(),
                "generation": 1,
                "creationTimestamp": _now(),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"], "uid": meta["uid"]}
                    | {"controller": True, "blockOwnerDeletion": True}
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        self._objects[(REPLICASETS, meta["namespace"], name)] = rs
        return rs


_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)
_STATEFULSET_FIXED = (
    "updates to statefulset spec for fields other than "
    + ", ".join(f"'{f}'" for f in _STATEFULSET_MUTABLE[:-1])
    + f" and '{_STATEFULSET_MUTABLE[-1]}' are forbidden"
)


def _update_strategy_causes(strategy: Mapping[str, Any]) -> list[tuple[str, str]]:
    """ValidateStatefulSetUpdateStrategy: ``rollingUpdate`` only with type RollingUpdate, a partition
    of at least 0."""
    at, rolling = "spec.updateStrategy.rollingUpdate", strategy.get("rollingUpdate")
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" and rolling is not None:
        shown = json.dumps(rolling, separators=(",", ":"))
        return [(at, f"Invalid value: {shown}: only allowed for updateStrategy 'RollingUpdate'")]
    partition = (rolling or {}).get("partition", 0)
    if not isinstance(partition, int) or partition < 0:
        return [(f"{at}.partition", f"Invalid value: {partition}: must be greater than or equal to 0")]
    return []


def _fixed(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}


def _revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(dict(template))
    labels = result.get("metadata", {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return result


def _counts(replicas: int, *kinds: str) -> dict[str, int]:
    """``{"replicas": n, "readyReplicas": n, ...}``: a converged status."""
    return {"replicas": replicas} | {f"{kind}Replicas": replicas for kind in kinds}


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    now = _now()
    return {
        "type": kind,
        "status": "True",
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _check_body_names(resource: Resource, namespace: str, body: dict[str, Any]) -> None:
    """A POST's or PUT's body must name the request's namespace, kind and apiVersion (400 otherwise)."""
    if (body.get("metadata") or {}).get("namespace", namespace) != namespace:
        raise ApiError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    if (
        body.get("kind", resource.kind) != resource.kind
        or body.get("apiVersion", resource.api_version) != resource.api_version
    ):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
            f"API version ({resource.api_version})",
        )
