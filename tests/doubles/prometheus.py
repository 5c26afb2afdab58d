"""A double of the part of Prometheus' HTTP API Medic asks while an incident settles: an instant query
of ``ALERTS`` (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries, and
https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/#inspecting-alerts-during-runtime
for the series: the alert's labels plus ``alertname`` and ``alertstate``, value 1).

The answer is the envelope Prometheus sends (``{"status": "success", "data": {"resultType": "vector",
"result": [{"metric": {...}, "value": [<unix time>, "1"]}]}}``), holding the alerts the test (or the
benchmark) set with :meth:`set_alerts`, filtered by ``alertstate`` when the query names it. Any other
query is a 400 with Prometheus' ``bad_data`` error body. The tests' own end-to-end runs use the real
Prometheus (Debian's package); this double serves the benchmarks, where hundreds of alerts change state
on a schedule.

``/api/v1/query_range`` (https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries)
answers the matrix set with :meth:`set_range`, with the top-level ``warnings`` and ``infos`` a partial
answer carries (Prometheus 2.x sends ``warnings``; 3.x adds ``infos``; Thanos, Mimir and Cortex send
``warnings`` for a partial response). A 503 with Prometheus's timeout body, ``{"status": "error",
"errorType": "timeout", "error": "query timed out in expression evaluation"}``, is a fault to push;
:meth:`refuse_range` answers every range query as Prometheus refuses a query (400 ``bad_data``).
"""

import re
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.doubles._base import HttpDouble

__all__ = ["PrometheusAlertsDouble"]

_ALERTS = re.compile(r'^\s*ALERTS\s*(\{\s*alertstate\s*=~\s*"([a-z|]+)"\s*\})?\s*$')


class PrometheusAlertsDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__(title="Prometheus (ALERTS)")
        self._alerts: list[dict[str, str]] = []
        self._range: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        self._range_status = 200
        self.app.add_api_route("/api/v1/query", self._query, methods=["GET", "POST"])
        self.app.add_api_route("/api/v1/query_range", self._query_range, methods=["GET", "POST"])

    def set_range(
        self,
        result: list[dict[str, Any]],
        *,
        warnings: list[str] | None = None,
        infos: list[str] | None = None,
    ) -> None:
        """What every range query answers: ``result`` as Prometheus writes it (``[{"metric": {...},
        "values": [[<unix time>, "<value>"], ...]}]``), and the notes of a partial answer."""
        body: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if warnings:
            body["warnings"] = list(warnings)
        if infos:
            body["infos"] = list(infos)
        with self._lock:
            self._range = body
            self._range_status = 200

    def refuse_range(self, error: str, *, status: int = 400, error_type: str = "bad_data") -> None:
        """Every range query is refused as Prometheus refuses a query it cannot parse (400, ``bad_data``,
        e.g. ``1:49: parse error: unclosed left parenthesis``) or cannot run (422, ``execution``)."""
        with self._lock:
            self._range = {"status": "error", "errorType": error_type, "error": error}
            self._range_status = status

    async def _query_range(self, request: Request) -> JSONResponse:
        with self._lock:
            return JSONResponse(self._range, status_code=self._range_status)

    def set_alerts(self, alerts: list[dict[str, str]]) -> None:
        """Every alert Prometheus holds now: labels with ``alertname`` and ``alertstate`` (``ALERTS`` only
        ever holds pending and firing alerts: an inactive one has no series)."""
        for alert in alerts:
            if alert.get("alertstate") not in ("pending", "firing"):
                raise ValueError(f"ALERTS holds pending and firing alerts only, not {alert}")
        with self._lock:
            self._alerts = [dict(a) for a in alerts]

    async def _query(self, request: Request) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        found = _ALERTS.match(params.get("query", ""))
        if found is None:
            error: dict[str, Any] = {
                "status": "error",
                "errorType": "bad_data",
                "error": f"this double answers only ALERTS queries, not {params.get('query', '')!r}",
            }
            return JSONResponse(error, status_code=400)
        states = set(found.group(2).split("|")) if found.group(2) else None
        now = time.time()
        with self._lock:
            result: list[dict[str, Any]] = [
                {"metric": {"__name__": "ALERTS"} | a, "value": [now, "1"]}
                for a in self._alerts
                if states is None or a.get("alertstate") in states
            ]
        return JSONResponse({"status": "success", "data": {"resultType": "vector", "result": result}})
