"""Prometheus over its HTTP API (httpx): is a PromQL condition true right now? And the points of a
query over a time range, for Medic's anomaly scans."""

from typing import Any

import httpx

from medic.ports import PermanentError, TransientError
from medic.scan import RangeSeries

__all__ = ["PrometheusMetrics"]


class PrometheusMetrics:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, trust_env=False)

    def holds(self, promql: str) -> bool:
        try:
            response = self._client.get("/api/v1/query", params={"query": promql})
        except httpx.HTTPError as err:
            raise TransientError(f"Prometheus unreachable: {err}") from err
        if response.status_code in {400, 422}:
            raise PermanentError(f"Prometheus rejected the query {promql!r}: {response.text[:300]}")
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"Prometheus answered {response.status_code}")
        body: dict[str, Any] = response.json()
        data = body.get("data", {})
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1]) != 0.0 if result else False
        return bool(result)

    def active_alerts(self) -> list[dict[str, str]]:
        """The label sets of every alert Prometheus has pending or firing now (its ``ALERTS`` series:
        the alert's labels plus ``alertname`` and ``alertstate``), including those whose ``for:`` has not
        passed yet and those Alertmanager has not delivered yet."""
        promql = 'ALERTS{alertstate=~"pending|firing"}'
        try:
            response = self._client.get("/api/v1/query", params={"query": promql})
        except httpx.HTTPError as err:
            raise TransientError(f"Prometheus unreachable: {err}") from err
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"Prometheus answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentError(f"Prometheus answered {response.status_code}: {response.text[:300]}")
        result = response.json().get("data", {}).get("result") or []
        return [{str(k): str(v) for k, v in (item.get("metric") or {}).items()} for item in result]

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        """``/api/v1/query_range``: every series of the matrix (a scalar answer is one unlabelled series)."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        try:
            response = self._client.get("/api/v1/query_range", params=params)
        except httpx.HTTPError as err:
            raise TransientError(f"Prometheus unreachable: {err}") from err
        if response.status_code in {400, 422}:
            raise PermanentError(f"Prometheus rejected the query {promql!r}: {response.text[:300]}")
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"Prometheus answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentError(f"Prometheus answered {response.status_code}: {response.text[:300]}")
        data = response.json().get("data", {})
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
