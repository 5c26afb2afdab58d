"""A local double of the Kubernetes API server, good enough for the official ``kubernetes`` client
(``Configuration().host = double.url``, no auth, plain HTTP).

Covered (exactly what ``activities.adapters.kubernetes`` calls); objects are complete enough for the
client's pydantic models, which reject e.g. a Deployment without ``spec.selector``/``spec.template``:

* ``apps/v1`` ``deployments`` and ``statefulsets``: ``GET``/``PATCH`` the object and its ``scale``
  subresource (an ``autoscaling/v1`` ``Scale``; ``spec.replicas`` is omitted when 0, as the API does).
  ``GET replicasets`` (list) with ``labelSelector``. Deployments run a synchronous deployment
  controller (see :mod:`tests.doubles.kubernetes_store`): a new pod template makes a new ReplicaSet
  revision, or re-uses the ReplicaSet that has it and raises its revision. StatefulSets' status follows
  their update strategy (a ``partition`` holds the pods below it, ``OnDelete`` every running pod); an
  update of a field the API keeps fixed (``podManagementPolicy``, ``volumeClaimTemplates``...) or a
  ``rollingUpdate`` under ``OnDelete`` is 422 ``Invalid``, as ValidateStatefulSetUpdate words it.
* ``autoscaling/v2`` ``horizontalpodautoscalers``: ``GET``/``PATCH``, and ``GET`` the namespace's list.
* ``v1`` ``configmaps``: ``POST``, ``GET``/``PUT``/``PATCH``/``DELETE``, as the ConfigMap reference
  describes them (https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/
  config-map-v1/). ``PUT`` (replace) makes the body the object, labels and ``binaryData`` included; a
  missing ConfigMap is 404 (a PUT does not create one); a ``metadata.resourceVersion`` other than the
  stored one is 409 ``Conflict`` with the API's ``Status`` body (``Operation cannot be fulfilled on
  configmaps "x": the object has been modified; ...``), none means an unconditional update. Written
  ConfigMaps are validated as the API does: ``binaryData`` base64, config keys, and ``data`` plus
  ``binaryData`` at most 1 MiB decoded (422 ``Invalid``, ``[]: Too long: may not be more than 1048576
  bytes``). A ``DELETE`` body's ``DeleteOptions.preconditions`` (``uid``, ``resourceVersion``) are
  checked (409 ``Conflict``), custom objects' too.
* Custom objects: ``POST``, ``GET``/``PATCH``/``DELETE`` under ``/apis/{group}/{version}/namespaces/
  {namespace}/{plural}[/{name}]`` for Istio ``destinationrules``/``virtualservices``
  (``networking.istio.io`` ``v1beta1`` and ``v1``) and Gateway API ``httproutes`` (``v1``, with the
  CRD's weight bounds), Argo Rollouts' ``rollouts`` and KEDA's ``scaledobjects`` (``GET`` the
  namespace's list too), and the GitOps reconcilers' Argo CD ``applications``, Flux ``kustomizations``
  and ``helmreleases`` (``crds=`` chooses which are installed). An unknown resource type is a 404
  without ``details.name``, as when a CRD is not installed.
* ``PATCH`` takes ``application/merge-patch+json`` (RFC 7386) everywhere and
  ``application/strategic-merge-patch+json`` on built-in types (a subset; see
  :func:`~tests.doubles.kubernetes_store.strategic_merge_patch`); custom objects answer it with 415,
  like the real API. ``metadata.resourceVersion`` in a patch is a precondition (409 ``Conflict`` on
  mismatch, the scale subresource included), as the API conventions describe (see
  :meth:`~tests.doubles.kubernetes_store.KubeStore.write`); Medic's conditional writes rely on it.
  A patch that changes nothing keeps ``resourceVersion``; a spec change bumps ``metadata.generation``.
* ``POST`` ``authorization.k8s.io/v1`` ``selfsubjectaccessreviews``: allowed unless ``deny(...)`` said
  otherwise.
* Errors in the ``Status`` shape (404 ``NotFound``, 409 ``AlreadyExists``/``Conflict``, 415, 422
  ``Invalid`` with ``details.causes``), injected faults too.

Not covered: JSON patch and server-side apply (415), PUT but on ConfigMaps, watches, list paging, other
resource types, status subresources, field selectors, dry-run, authentication/RBAC (inject a 403
instead), protobuf/CBOR, pods, finalizers and garbage collection, rollout progress (everything converges
at once).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from tests.doubles._base import HttpDouble
from tests.doubles.kubernetes_store import (
    BUILTIN,
    CONFIGMAPS,
    CUSTOM,
    DEPLOYMENTS,
    HPAS,
    MERGE_PATCH,
    REPLICASETS,
    REVISION,
    STATEFULSETS,
    STRATEGIC_MERGE_PATCH,
    ApiError,
    KubeStore,
    Resource,
    json_merge_patch,
    selector_string,
    status_body,
    strategic_merge_patch,
)

__all__ = ["KubernetesDouble", "Write"]

_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_WORKLOADS: Mapping[str, Resource] = {"deployments": DEPLOYMENTS, "statefulsets": STATEFULSETS}
_UNKNOWN_FORMAT = "the body of the request was in an unknown format - accepted media types include: "
_ERRORS: Mapping[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: the server does not allow this method on the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the object has been modified; please apply your changes to the latest version"),
    422: ("Invalid", "the object is invalid"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", 'an error on the server ("unknown") has prevented the request from succeeding'),
    502: ("InternalError", "the server is currently unable to handle the request (bad gateway)"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


@dataclass(frozen=True)
class Write:
    """A write the double received: ``method`` (POST/PATCH/DELETE), ``path``, ``content_type`` and the
    JSON ``body`` (``None`` when empty)."""

    method: str
    path: str
    content_type: str
    body: Any


class KubernetesDouble(HttpDouble):
    """The Kubernetes API double. See the module docstring for what it covers.

    Seed: ``add_deployment``, ``add_statefulset``, ``add_hpa``, ``add_configmap``, ``add_custom``.
    Inspect: ``obj(api_version, plural, namespace, name)`` (``find`` returns ``None`` when missing),
    ``replicasets(namespace, deployment)`` (oldest revision first), ``revisions(namespace, deployment)``
    (revision -> image), ``writes(path=None)`` (every POST/PATCH/DELETE received, faulted ones included),
    plus the request log and counters of :class:`HttpDouble` (routes like
    ``"PATCH /apis/apps/v1/namespaces/{namespace}/{workload}/{name}"``). ``tamper(...)`` edits a stored
    object behind the API's back; ``store`` is the :class:`KubeStore` itself.
    """

    def __init__(self, *, crds: Sequence[Resource] = CUSTOM) -> None:
        super().__init__(title="Kubernetes API double")
        self.store = KubeStore()
        self.crds = tuple(crds)  # the custom resources served: the others' CRDs are not installed
        # What Medic's identity may not do: (verb, group, resource, subresource, namespace); "" namespace in
        # an entry: in none. Everything else is allowed, by the Role of the chart.
        self.denied: set[tuple[str, str, str, str, str]] = set()
        self.by_name_only: set[tuple[str, str, str, str, str]] = set()  # granted by resourceNames only
        self.app.add_exception_handler(ApiError, _on_api_error)
        apps, ns = "/apis/apps/v1/namespaces/{namespace}", "/namespaces/{namespace}"
        custom = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"
        for path, endpoint, methods in (
            (apps + "/{workload}/{name}", self._workload, ["GET", "PATCH"]),
            (apps + "/{workload}/{name}/scale", self._scale, ["GET", "PATCH"]),
            (apps + "/replicasets", self._list_replicasets, ["GET"]),
            ("/apis/autoscaling/v2" + ns + "/horizontalpodautoscalers", self._list_hpas, ["GET"]),
            ("/apis/autoscaling/v2" + ns + "/horizontalpodautoscalers/{name}", self._hpa, ["GET", "PATCH"]),
            ("/api/v1" + ns + "/configmaps", self._create_configmap, ["POST"]),
            ("/api/v1" + ns + "/configmaps/{name}", self._configmap, ["GET", "PUT", "PATCH", "DELETE"]),
            (_REVIEWS, self._access_review, ["POST"]),
            ("/apis/{group}/{version}", self._discovery, ["GET"]),
            (custom, self._create_custom, ["POST"]),
            (custom, self._list_custom, ["GET"]),
            (custom + "/{name}", self._custom, ["GET", "PATCH", "DELETE"]),
        ):
            self.app.add_api_route(path, endpoint, methods=methods)

    # -- seeding -----------------------------------------------------------------------------------------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        image: str = "registry.example.com/app:1.0.0",
        history: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
        revision_history_limit: int = 10,
    ) -> dict[str, Any]:
        """A Deployment whose pod template (one container named ``name``) went through the images in
        ``history`` (oldest first) and then ``image``: ReplicaSet revisions 1..len(history)+1."""
        return self._seed_workload(
            DEPLOYMENTS,
            namespace,
            name,
            replicas=replicas,
            images=[*history, image],
            labels=labels,
            extra_spec={
                "revisionHistoryLimit": revision_history_limit,
                "progressDeadlineSeconds": 600,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
            },
        )

    def add_statefulset(
        self, namespace: str, name: str, *, replicas: int = 3, image: str = "registry.example.com/db:1.0.0"
    ) -> dict[str, Any]:
        return self._seed_workload(
            STATEFULSETS,
            namespace,
            name,
            replicas=replicas,
            images=[image],
            labels=None,
            extra_spec={
                "serviceName": name,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
            },
        )

    def _seed_workload(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        replicas: int,
        images: Sequence[str],
        labels: Mapping[str, str] | None,
        extra_spec: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Create the workload with ``images[0]``, then roll it through each later image (for a
        Deployment, one ReplicaSet revision each). Defaults as the API server would fill them in."""
        selector = dict(labels or {"app": name})
        container = {
            "name": name,
            "image": images[0],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        }
        pod_spec = {
            "containers": [container],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        }
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": dict(selector)}, "spec": pod_spec},
        }
        body = {"metadata": {"name": name, "labels": dict(selector)}, "spec": spec | dict(extra_spec)}
        with self.store.lock:
            obj = self.store.create(resource, namespace, body)
            for image in images[1:]:
                obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
                obj = self.store.write(resource, namespace, name, obj)
            return obj

    def add_hpa(
        self,
        namespace: str,
        name: str,
        *,
        target: str | None = None,
        min_replicas: int = 2,
        max_replicas: int = 10,
        cpu_utilization: int = 80,
    ) -> dict[str, Any]:
        """An autoscaling/v2 HPA on Deployment ``target`` (default: ``name``), scaling on CPU."""
        return self.store.create(
            HPAS,
            namespace,
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target or name},
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": cpu_utilization},
                            },
                        }
                    ],
                },
            },
        )

    def add_configmap(
        self, namespace: str, name: str, data: Mapping[str, str], *, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        meta = {"name": name, "namespace": namespace} | ({"labels": dict(labels)} if labels else {})
        return self.store.create(CONFIGMAPS, namespace, {"metadata": meta, "data": dict(data)})

    def add_custom(self, group: str, version: str, plural: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A custom object; ``body`` needs ``metadata.name`` and ``metadata.namespace``."""
        resource = _custom_resource(self.crds, group, version, plural)
        return self.store.create(resource, body["metadata"]["namespace"], dict(body))

    # -- inspection ----------------------------------------------------------------------------------------

    def find(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (a copy) or ``None``: ``find("apps/v1", "deployments", "shop", "web")``."""
        return self.store.find(_served(api_version, plural), namespace, name)

    def tamper(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any]], None],
    ) -> None:
        """Change the stored object in place, bypassing the API (no validation, no new resourceVersion,
        no controller): for states the double would not produce, e.g. fields this client does not know."""
        with self.store.lock:
            change(self.store.live(_served(api_version, plural), namespace, name))

    def obj(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        found = self.find(api_version, plural, namespace, name)
        if found is None:
            raise KeyError(f"no {plural} {namespace}/{name}")
        return found

    def replicasets(self, namespace: str, deployment: str) -> list[dict[str, Any]]:
        """The ReplicaSets the Deployment owns, oldest revision first (copies)."""
        with self.store.lock:
            dep = self.store.get(DEPLOYMENTS, namespace, deployment)
            return self._snapshot(self.store.owned_replicasets(dep))  # type: ignore[no-any-return]

    def revisions(self, namespace: str, deployment: str) -> dict[int, str]:
        """Revision -> first container image, over the Deployment's ReplicaSets."""
        return {
            int(rs["metadata"]["annotations"][REVISION]): rs["spec"]["template"]["spec"]["containers"][0][
                "image"
            ]
            for rs in self.replicasets(namespace, deployment)
        }

    def writes(self, path: str | None = None) -> list[Write]:
        """Every POST/PATCH/PUT/DELETE received (``path``: only those on exactly that path), but access
        reviews: a SelfSubjectAccessReview is a POST that stores nothing (``requests()`` has them)."""
        found = []
        for request in self.requests():
            if request.path == _REVIEWS:
                continue
            if request.method in ("POST", "PATCH", "PUT", "DELETE") and path in (None, request.path):
                body = json.loads(request.body) if request.body else None
                found.append(
                    Write(request.method, request.path, request.headers.get("content-type", ""), body)
                )
        return found

    def error_body(self, status: int) -> Any:
        reason, message = _ERRORS.get(status, ("Unknown", f"the server responded with status {status}"))
        return status_body(status, reason, message, {"retryAfterSeconds": 1} if status == 429 else None)

    # -- handlers -----------------------------------------------------------------------------------------

    async def _workload(self, request: Request, namespace: str, workload: str, name: str) -> JSONResponse:
        return await self._object(request, _workload_resource(workload), namespace, name)

    async def _hpa(self, request: Request, namespace: str, name: str) -> JSONResponse:
        return await self._object(request, HPAS, namespace, name)

    async def _configmap(self, request: Request, namespace: str, name: str) -> JSONResponse:
        if request.method == "PUT":  # replace
            body = await _json(request, "application/json")
            return JSONResponse(self.store.replace(CONFIGMAPS, namespace, name, body))
        return await self._object(request, CONFIGMAPS, namespace, name)

    async def _custom(
        self, request: Request, *, group: str, version: str, namespace: str, plural: str, name: str
    ) -> JSONResponse:
        if any((r.group, r.version, r.plural) == (group, version, plural) for r in BUILTIN):
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        resource = _custom_resource(self.crds, group, version, plural)
        return await self._object(request, resource, namespace, name)

    async def _create_configmap(self, request: Request, namespace: str) -> JSONResponse:
        body = await _json(request, "application/json")
        return JSONResponse(self.store.create(CONFIGMAPS, namespace, body), status_code=201)

    async def _create_custom(
        self, request: Request, *, group: str, version: str, namespace: str, plural: str
    ) -> JSONResponse:
        resource = _custom_resource(self.crds, group, version, plural)
        body = await _json(request, "application/json")
        return JSONResponse(self.store.create(resource, namespace, body), status_code=201)

    async def _list_custom(
        self, request: Request, *, group: str, version: str, namespace: str, plural: str
    ) -> JSONResponse:
        """A LIST of a custom resource in a namespace (``{Kind}List``, its items as stored; a namespace
        with none is an empty list); a CRD not installed is 404 without ``details.name``."""
        resource = _custom_resource(self.crds, group, version, plural)
        meta = {"resourceVersion": self.store.resource_version()}
        items = self.store.select(resource, namespace)
        return JSONResponse(
            {
                "apiVersion": resource.api_version,
                "kind": f"{resource.kind}List",
                "metadata": meta,
                "items": items,
            }
        )

    async def _object(self, request: Request, resource: Resource, namespace: str, name: str) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(self.store.get(resource, namespace, name))
        if request.method == "DELETE":
            options = json.loads(await request.body() or b"{}")  # DeleteOptions, when sent
            preconditions = options.get("preconditions") if isinstance(options, dict) else None
            gone = self.store.delete(resource, namespace, name, preconditions)
            if resource == CONFIGMAPS:  # deleted at once: the API answers with a Status
                details = {"name": name, "kind": resource.plural, "uid": gone["metadata"]["uid"]}
                return JSONResponse(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": details,
                    }
                )
            return JSONResponse(gone)
        patch = await _json(request, _patch_type(request, resource))
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            return JSONResponse(self.store.write(resource, namespace, name, _apply(request, current, patch)))

    async def _scale(self, request: Request, namespace: str, workload: str, name: str) -> JSONResponse:
        resource = _workload_resource(workload)
        if request.method == "GET":
            return JSONResponse(_scale_of(self.store.get(resource, namespace, name)))
        patch = await _json(request, _patch_type(request, resource))
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            scaled = _apply(request, _scale_of(current), patch)
            replicas = (scaled.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                message = (
                    f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                    "must be greater than or equal to 0"
                )
                raise ApiError(
                    422, "Invalid", message, {"name": name, "group": "autoscaling", "kind": "Scale"}
                )
            rv = (scaled.get("metadata") or {}).get("resourceVersion")
            current["spec"]["replicas"] = replicas
            current["metadata"]["resourceVersion"] = rv
            return JSONResponse(_scale_of(self.store.write(resource, namespace, name, current)))

    async def _discovery(self, request: Request, group: str, version: str) -> JSONResponse:
        """A group/version's discovery document (an APIResourceList: GET /apis/{group}/{version},
        https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api) for the built-in groups
        and the custom resources served; 404 for one not installed, as the API server answers it."""
        served = [r for r in (*BUILTIN, *self.crds) if (r.group, r.version) == (group, version)]
        if not served:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        resources = [
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": True,
                "kind": r.kind,
                "verbs": ["get", "list", "patch"],
            }
            for r in served
        ]
        return JSONResponse(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}",
                "resources": resources,
            }
        )

    async def _access_review(self, request: Request) -> JSONResponse:
        """A SelfSubjectAccessReview (authorization.k8s.io/v1), answered as the RBAC authorizer does: the
        spec echoed, ``status.allowed``, and on an allow the binding's reason
        (https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/self-subject-access-review-v1/)."""
        body = await _json(request, "application/json")
        attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
        key = tuple(
            str(attributes.get(k) or "") for k in ("verb", "group", "resource", "subresource", "namespace")
        )
        refused = key in self.denied or (*key[:4], "") in self.denied
        if not attributes.get("name"):  # a Role's resourceNames allow only requests that name one
            refused = refused or key in self.by_name_only or (*key[:4], "") in self.by_name_only
        status: dict[str, Any] = {"allowed": not refused}
        if not refused:
            namespace = attributes.get("namespace") or "(cluster)"
            status["reason"] = (
                f'RBAC: allowed by RoleBinding "medic-remediator/{namespace}" of Role "medic-remediator" to '
                'ServiceAccount "medic-worker/medic"'
            )
        answer = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": status,
        }
        return JSONResponse(answer, status_code=201)

    def deny(
        self,
        verb: str,
        resource: str,
        *,
        group: str = "apps",
        subresource: str = "",
        namespace: str = "",
        unless_named: bool = False,
    ) -> None:
        """Medic's identity may not ``verb`` the resource (in ``namespace``; "": anywhere); with
        ``unless_named``, only a request naming an object is allowed (a Role's ``resourceNames``)."""
        held = self.by_name_only if unless_named else self.denied
        held.add((verb, group, resource, subresource, namespace))

    async def _list_hpas(self, request: Request, namespace: str) -> JSONResponse:
        items = self.store.select(HPAS, namespace)
        meta = {"resourceVersion": self.store.resource_version()}
        return JSONResponse(
            {
                "kind": "HorizontalPodAutoscalerList",
                "apiVersion": "autoscaling/v2",
                "metadata": meta,
                "items": items,
            }
        )

    async def _list_replicasets(self, request: Request, namespace: str) -> JSONResponse:
        selector = request.query_params.get("labelSelector", "")
        items = self.store.select(REPLICASETS, namespace, selector)
        meta = {"resourceVersion": self.store.resource_version()}
        return JSONResponse(
            {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": meta, "items": items}
        )


def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.code)


def _served(api_version: str, plural: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    for resource in (*BUILTIN, *CUSTOM):
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    raise KeyError(f"the double does not serve {plural} in {api_version}")


def _workload_resource(plural: str) -> Resource:
    if plural not in _WORKLOADS:
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
    return _WORKLOADS[plural]


def _custom_resource(served: Sequence[Resource], group: str, version: str, plural: str) -> Resource:
    for resource in served:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    raise ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _patch_type(request: Request, resource: Resource) -> str:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    accepted = [MERGE_PATCH] + ([STRATEGIC_MERGE_PATCH] if resource not in CUSTOM else [])
    if content_type not in accepted:
        listed = ["application/json-patch+json", *accepted, "application/apply-patch+yaml"]
        message = _UNKNOWN_FORMAT + ", ".join(listed)
        if content_type in listed:
            message = f"the Kubernetes double does not implement {content_type}"
        raise ApiError(415, "UnsupportedMediaType", message)
    return content_type


async def _json(request: Request, content_type: str) -> dict[str, Any]:
    # No Content-Type means the first the API supports, JSON (the apiserver's input negotiation); the
    # 37.x client sends none on create.
    sent = request.headers.get("content-type", "").split(";", 1)[0].strip().lower() or "application/json"
    if sent != content_type:
        raise ApiError(415, "UnsupportedMediaType", _UNKNOWN_FORMAT + content_type)
    try:
        body = json.loads(await request.body())
    except ValueError as err:
        raise ApiError(400, "BadRequest", f"error decoding JSON: {err}") from err
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
    return body


def _apply(request: Request, current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith(STRATEGIC_MERGE_PATCH):
        result = strategic_merge_patch(current, patch)
    else:
        result = json_merge_patch(current, patch)
    assert isinstance(result, dict)
    if "resourceVersion" not in (patch.get("metadata") or {}):
        result.setdefault("metadata", {}).pop("resourceVersion", None)
    return result


def _scale_of(workload: Mapping[str, Any]) -> dict[str, Any]:
    meta, replicas = workload["metadata"], workload["spec"].get("replicas", 1)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": replicas} if replicas else {},  # omitempty: 0 replicas leaves spec empty
        "status": {
            "replicas": workload.get("status", {}).get("replicas", 0),
            "selector": selector_string(workload["spec"]["selector"]),
        },
    }
