"""A double of Grafana Mimir's front door, in front of a real Prometheus and a real Alertmanager: what
Medic meets when its Prometheus and Alertmanager are a multi-tenant Mimir (or Cortex).

What it holds to, with its sources:

- **Paths.** Mimir serves the Prometheus HTTP API under ``-http.prometheus-http-prefix`` (default
  ``/prometheus``: ``/prometheus/api/v1/query_range``) and Alertmanager's under
  ``-http.alertmanager-http-prefix`` (default ``/alertmanager``: ``/alertmanager/api/v2/silences``)
  (Mimir's HTTP API reference, https://grafana.com/docs/mimir/latest/references/http-api/). The double
  strips the prefix and passes the call to the real server, whose answer comes back as it is.
- **The tenant.** Every call must carry ``X-Scope-OrgID`` (https://grafana.com/docs/mimir/latest/manage/
  secure/authentication-and-authorization/). Without it Mimir answers 401 with the plain-text body
  ``no org id`` (grafana/dskit ``middleware/http_auth.go``: ``http.Error(w, err.Error(),
  http.StatusUnauthorized)`` with ``user.ErrNoOrgID``; grafana/mimir#2030 and grafana/alloy#1449 quote
  it as users meet it). A tenant other than ``tenants`` is one that holds nothing: Mimir's queries
  answer it empty (no series is not an error), and its Alertmanager, for a tenant with no
  configuration and no fallback one, answers 404 ``the Alertmanager is not configured`` (grafana/mimir
  ``pkg/alertmanager/multitenant.go``, ``ServeHTTP``). Several tenants joined by ``|`` read together
  only with ``-tenant-federation.enabled`` (queries, not Alertmanager): the double takes them when
  ``federation`` is on, reads the real server when any of them is its tenant, and labels each series
  with the tenant it came from, ``__tenant_id__``, as Mimir's federation does for two tenants or more
  (https://grafana.com/docs/mimir/latest/references/architecture/components/querier/ "tenant
  federation"; one tenant passes through unlabelled). With federation off, several are refused with
  dskit's ``user.ErrTooManyOrgIDs``, ``multiple org IDs present``; its status differs by component
  (401 from Loki's tenant handlers, 400 from its tail, a 500 in Grafana's reports): the double answers
  400 in Prometheus's error envelope, and Medic reads the words, not the status.
- **Mimir's Helm chart** (``mimir-distributed``) puts an nginx gateway in front that sends the tenant
  ``anonymous`` when a call names none (``map $http_x_scope_orgid $ensured_x_scope_orgid { default
  $http_x_scope_orgid; "" "anonymous"; }``, quoted in grafana/mimir#2310): ``default_tenant`` does
  the same, so a call without a tenant is refused by nothing and reads a tenant that holds nothing.
- **What answers.** ``/prometheus/api/v1/status/buildinfo`` is served without a tenant (grafana/mimir
  ``pkg/api/api.go``, ``RegisterQueryAPI``: registered with ``auth`` false) and names Mimir in its
  ``application`` field, beside Prometheus's own fields (``version``, ``revision``, ``branch``,
  ``goVersion``) and a ``features`` object.
- **An authenticating proxy** in front of Mimir, as its docs say to run one: with ``bearer``, a call
  without ``Authorization: Bearer <bearer>`` is answered 401 ``Unauthorized`` before the tenant is
  looked at.

- **What a busy or limited Mimir answers** (:meth:`MimirGateway.refuse_queries`, past the tenant check,
  for the Prometheus API's queries): its query-frontend's queue full, 429 with the plain-text body ``too
  many outstanding requests`` (grafana/mimir ``pkg/frontend/v2/frontend_scheduler_worker.go``,
  ``TOO_MANY_REQUESTS_PER_TENANT``; users meet it as grafana/mimir#4518); and its API errors in
  Prometheus's envelope, ``{"status": "error", "errorType": ..., "error": ...}``, their status by type
  (grafana/mimir ``pkg/api/error/error.go``: ``execution`` 422, ``timeout`` 503, ``too_many_requests``
  429), e.g. its series limit, 422 ``the query exceeded the maximum number of series (limit: N series)
  (err-mimir-max-series-per-query). ...`` (``pkg/util/limiter/query_limiter.go``).

Every call is in the request log (``double.requests()``), headers included.
"""

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from tests.doubles._base import HttpDouble

__all__ = ["MimirGateway"]

_HOP = {"host", "content-length", "connection", "transfer-encoding", "x-scope-orgid", "authorization"}


class MimirGateway(HttpDouble):
    def __init__(
        self,
        *,
        prometheus: str | None = None,
        alertmanager: str | None = None,
        tenants: tuple[str, ...] = ("team-a",),
        federation: bool = False,
        bearer: str | None = None,
        default_tenant: str | None = None,
    ) -> None:
        super().__init__(title="Grafana Mimir (gateway)")
        self._upstream = {"prometheus": prometheus, "alertmanager": alertmanager}
        self._tenants = set(tenants)
        self._federation = federation
        self._bearer = bearer
        self._default = default_tenant
        self._refusal: Response | None = None
        methods = ["GET", "POST", "DELETE"]
        self.app.add_api_route("/prometheus/api/v1/status/buildinfo", self._build_info, methods=["GET"])
        self.app.add_api_route("/prometheus/{path:path}", self._prometheus, methods=methods)
        self.app.add_api_route("/alertmanager/{path:path}", self._alertmanager, methods=methods)

    async def _build_info(self) -> JSONResponse:
        """Mimir's own, served without a tenant (``RegisterQueryAPI``: the buildinfo route is
        registered with ``auth`` false), its ``application`` naming it (pkg/util/version)."""
        info = {
            "application": "Grafana Mimir",
            "version": "2.15.0",
            "revision": "7c4e2b3a1",
            "branch": "HEAD",
            "goVersion": "go1.23.4",
            "features": {"query_sharding": "true"},
        }
        return JSONResponse({"status": "success", "data": info})

    def refuse_queries(self, status: int, error: str, *, error_type: str | None = None) -> None:
        """Every query of the Prometheus API answered so from now on: ``error`` as plain text (the
        query-frontend's own 429), or in Prometheus's error envelope with ``error_type``."""
        body: Response = (
            PlainTextResponse(error, status_code=status)
            if error_type is None
            else JSONResponse(
                {"status": "error", "errorType": error_type, "error": error}, status_code=status
            )
        )
        with self._lock:
            self._refusal = body

    async def _prometheus(self, path: str, request: Request) -> Response:
        return await self._pass("prometheus", path, request)

    async def _alertmanager(self, path: str, request: Request) -> Response:
        return await self._pass("alertmanager", path, request)

    async def _pass(self, component: str, path: str, request: Request) -> Response:
        if self._bearer is not None and request.headers.get("authorization") != f"Bearer {self._bearer}":
            return PlainTextResponse("Unauthorized\n", status_code=401)
        org = request.headers.get("x-scope-orgid", "").strip() or self._default or ""
        if not org:
            return PlainTextResponse("no org id\n", status_code=401)
        asked = org.split("|")
        if len(asked) > 1 and not (self._federation and component == "prometheus"):
            error = {"status": "error", "errorType": "bad_data", "error": "multiple org IDs present"}
            return JSONResponse(error, status_code=400)
        with self._lock:
            refusal = self._refusal
        if refusal is not None and component == "prometheus" and path.startswith("api/v1/query"):
            return refusal
        upstream = self._upstream[component]
        if upstream is None:
            return PlainTextResponse("404 page not found\n", status_code=404)
        ours = [t for t in asked if t in self._tenants]
        if not ours:
            return _empty(component, path)
        async with httpx.AsyncClient(base_url=upstream, timeout=30.0, trust_env=False) as client:
            answer = await client.request(
                request.method,
                f"/{path}",
                params=str(request.query_params),
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
            )
        if len(asked) > 1 and answer.status_code == 200:
            body = answer.json()
            for series in (body.get("data") or {}).get("result") or []:
                series["metric"]["__tenant_id__"] = ours[0]
            return JSONResponse(body)
        kept = {k: v for k, v in answer.headers.items() if k.lower() in {"content-type"}}
        return Response(answer.content, status_code=answer.status_code, headers=kept)


def _empty(component: str, path: str) -> Response:
    """What Mimir answers a tenant that holds nothing: an empty result to a query, and Alertmanager's
    404 for a tenant it has no configuration for."""
    if component == "alertmanager":
        return PlainTextResponse("the Alertmanager is not configured\n", status_code=404)
    kind = "matrix" if path.endswith("query_range") else "vector"
    return JSONResponse({"status": "success", "data": {"resultType": kind, "result": []}})
