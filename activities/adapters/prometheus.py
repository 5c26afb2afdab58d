"""Prometheus over its HTTP API (httpx): is a PromQL condition true right now?"""

from typing import Any

import httpx

from medic.ports import PermanentError, TransientError

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
