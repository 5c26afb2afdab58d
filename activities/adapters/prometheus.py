"""Prometheus over its HTTP API (httpx): is a PromQL condition true right now? And the points of a
query over a time range, for Medic's anomaly scans."""

from typing import Any

import httpx

from activities.adapters.http import classify, json_answer
from medic.ports import PermanentError, TransientError
from medic.scan import RangeSeries

__all__ = ["PrometheusMetrics"]


class PrometheusMetrics:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, trust_env=False)

    def _query(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """GET ``path``: the answer's ``data``; a query Prometheus refuses (400, 422: bad PromQL) is a
        PermanentError naming it, any other failure as ``activities.adapters.http.classify`` says."""
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as err:
            raise classify(None, service="Prometheus", what=what, detail=str(err)) from err
        if response.status_code in {400, 422}:
            raise PermanentError(f"Prometheus rejected the query {params['query']!r}: {response.text[:300]}")
        body = json_answer(response, service="Prometheus", what=what)
        if not isinstance(body, dict):
            raise TransientError(f"Prometheus answered with no JSON object while trying to {what}")
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def holds(self, promql: str) -> bool:
        data = self._query("/api/v1/query", {"query": promql}, "evaluate a verification query")
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1]) != 0.0 if result else False
        return bool(result)

    def active_alerts(self) -> list[dict[str, str]]:
        """The label sets of every alert Prometheus has pending or firing now (its ``ALERTS`` series:
        the alert's labels plus ``alertname`` and ``alertstate``), including those whose ``for:`` has not
        passed yet and those Alertmanager has not delivered yet."""
        data = self._query("/api/v1/query", {"query": 'ALERTS{alertstate=~"pending|firing"}'}, "read ALERTS")
        return [
            {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            for item in data.get("result") or []
        ]

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        """``/api/v1/query_range``: every series of the matrix (a scalar answer is one unlabelled series)."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._query("/api/v1/query_range", params, "run a scan's range query")
        out = []
        for item in data.get("result") or []:
            points = item.get("values") or []
            out.append(
                RangeSeries(
                    labels={str(k): str(v) for k, v in (item.get("metric") or {}).items()},
                    times=[float(p[0]) for p in points],
                    values=[float(p[1]) for p in points],
                )
            )
        return out
