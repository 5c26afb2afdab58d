"""Prometheus over its HTTP API (httpx): is a PromQL condition true right now? And the points of a
query over a time range, for Medic's anomaly scans."""

import logging
from typing import Any

import httpx

from activities.adapters.http import (
    TRANSIENT_STATUSES,
    Access,
    base_and_params,
    classify,
    json_answer,
    retry_after,
)
from medic.ports import PermanentError, TransientError
from medic.scan import RangeSeries

__all__ = ["CHUNK_POINTS", "PrometheusMetrics", "QueryApi", "matrix", "range_parts"]

log = logging.getLogger(__name__)


class QueryApi:
    """A query API in Prometheus's envelope (``{"status": ..., "data": ...}``): Prometheus's own, and
    Loki's, which answers metric queries in the same shape (its docs: "The API endpoints starting with
    /loki/ are Prometheus API-compatible")."""

    def __init__(self, base_url: str, *, timeout: float, access: Access) -> None:
        self._access = access
        self._service = access.service
        base, fixed = base_and_params(base_url)
        self._client = httpx.Client(
            base_url=base, params=fixed, timeout=timeout, trust_env=False, verify=self._access.verify()
        )
        self._told: set[int] = set()  # the infos logged already (query and text)

    def _also(self) -> dict[str, str]:
        """Parameters sent with every query."""
        return {}

    def _query(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """GET ``path``: the answer's ``data`` (:meth:`_answer`)."""
        body = self._answer(path, params, what)
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def _answer(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """GET ``path``: the answer's JSON object; a query the server refuses (400, 422: bad PromQL or
        LogQL, a limit) is a PermanentError naming it, a 5xx, 408, 425 or 429 a TransientError with the
        server's own words ("query timed out in expression evaluation", Mimir's "too many outstanding
        requests"), any other failure as
        ``activities.adapters.http.classify`` says. The warnings of an answer (a partial answer from
        Thanos, Mimir or Cortex) are logged at every answer, its infos (Prometheus 3's "metric might
        not be a counter") once per query and text in a process: its points are taken as they are."""
        name = self._service
        try:
            response = self._client.get(
                path, params={**params, **self._also()}, headers=self._access.headers()
            )
        except httpx.HTTPError as err:
            raise classify(None, service=name, what=what, detail=str(err) or type(err).__name__) from err
        self._access.refuse_without_tenant(response, what)
        if response.status_code in {400, 422}:
            # in the server's own words ("1:49: parse error: unclosed left parenthesis"), its kind
            # (bad_data, execution) beside the status: the scan's last_error shows it
            said = _error_of(response)
            raise PermanentError(
                f"{name} rejected the query {params.get('query', path)[:200]!r}"
                f" ({response.status_code}{_error_type(response)}): {said}",
                said=said,
            )
        if response.status_code >= 500 or response.status_code in TRANSIENT_STATUSES:
            # (a 429 too: Mimir's query-frontend with its queue full, "too many outstanding requests",
            # was said as "(429)" alone)
            said = _error_of(response)
            raise TransientError(
                f"{name} unavailable while trying to {what} ({response.status_code})"
                + (f": {said}" if said else ""),
                retry_after=retry_after(response.headers.get("Retry-After")),
            )
        body = json_answer(response, service=name, what=what)
        if not isinstance(body, dict):
            raise TransientError(f"{name} answered with no JSON object while trying to {what}")
        for kind in ("warnings", "infos"):
            notes = body.get(kind)
            if isinstance(notes, list) and notes:
                said = "; ".join(str(n)[:300] for n in notes[:5])
                first = kind == "warnings" or self._first(params.get("query", path), said)
                level = (logging.WARNING if kind == "warnings" else logging.INFO) if first else logging.DEBUG
                log.log(
                    level,
                    "%s %s for %r while trying to %s: %s",
                    name,
                    kind,
                    params.get("query", path)[:200],
                    what,
                    said,
                )
        return body

    def _first(self, query: str, said: str) -> bool:
        """Whether this is the first time a query is answered with these words in this process (they
        are said again at every run of a scan: logged in full once, at DEBUG after)."""
        key = hash((query, said))
        if key in self._told:
            return False
        if len(self._told) >= 10_000:  # bounded: a query edited often starts over
            self._told.clear()
        self._told.add(key)
        return True

    def build_info(self) -> dict[str, str]:
        """``.../status/buildinfo``: what answers (``version``; Grafana Mimir adds ``application``);
        empty where the route is not served."""
        try:
            data = self._build_info()
        except PermanentError as err:
            if "(404)" in str(err):
                return {}
            raise
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | float)}

    def _build_info(self) -> dict[str, Any]:
        return self._query("/api/v1/status/buildinfo", {}, "tell its version")


class PrometheusMetrics(QueryApi):
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        access: Access | None = None,
    ) -> None:
        super().__init__(base_url, timeout=timeout, access=access or Access("Prometheus", "MEDIC_PROMETHEUS"))
        # asked of Prometheus with every query, a second under ours: a query it cannot finish in time
        # is abandoned there too (each of our retries started another), and answered as such
        # (in whole milliseconds: Prometheus reads "9000ms" or "9s", and refuses "1.5s")
        self._timeout = f"{round(max(timeout - 1.0, 1.0) * 1000)}ms"

    def _also(self) -> dict[str, str]:
        return {"timeout": self._timeout}

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
        """``/api/v1/query_range``: every series of the matrix (a scalar answer is one unlabelled series).
        ``partial_response=false``: a Thanos querier with a store down fails the query (the run is
        retried, its state not moved) where it answered a sum short of that store's part, a drop the
        detectors would report; Prometheus itself ignores the parameter.

        Asked :data:`CHUNK_POINTS` points a series at a time: a scan's first run asks a day of 2,000
        series (2.9 million points), whose JSON answer parsed at once took the worker to 1,070 MiB, over
        the chart's 1 GiB limit (docs/BENCHMARKS.md); each part's answer is let go once its points are
        kept, the timestamps each series shares kept once."""
        kept: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float], list[int]]]
        kept, grid = {}, dict[float, float]()
        for first, last in range_parts(start, end, step):
            for part in self._range(promql, start=first, end=last, step=step):
                key = tuple(sorted(part.labels.items()))
                _, times, values, histograms = kept.setdefault(key, (part.labels, [], [], [0]))
                times += [grid.setdefault(t, t) for t in part.times]
                values += part.values
                histograms[0] += part.histograms
        out = [
            RangeSeries(labels, times, values, counted[0]) for labels, times, values, counted in kept.values()
        ]
        with_histograms = [s for s in out if s.histograms]
        if with_histograms:
            alone = sum(1 for s in with_histograms if not s.values)
            log.log(
                logging.WARNING if self._first(promql, "native histograms") else logging.DEBUG,
                "Prometheus answered native histograms for %d series of %r (%d of them histograms alone), "
                "which no detector can score (their histogram samples are left out): ask for one number a "
                "series, e.g. histogram_quantile(0.99, sum by (service) (rate(<metric>[5m]))), "
                "histogram_count(...) or histogram_sum(...)",
                len(with_histograms),
                promql[:200],
                alone,
            )
        return out

    def _range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "partial_response": "false",
        }
        return matrix(self._query("/api/v1/query_range", params, "run a scan's range query"))


CHUNK_POINTS = 360  # points a series a range query asks at once (a first run's day: 4 queries)


def range_parts(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """``[start, end]`` on the grid ``start + k * step`` in parts of at most :data:`CHUNK_POINTS` points,
    each part's first point a step after the last one's end (Prometheus answers both ends)."""
    if step <= 0 or end <= start:
        return [(start, end)]
    points = int((end - start) // step) + 1
    return [
        (start + first * step, min(start + (first + CHUNK_POINTS - 1) * step, end))
        for first in range(0, points, CHUNK_POINTS)
    ]


def matrix(data: dict[str, Any]) -> list[RangeSeries]:
    """Every series of a range query's ``data`` (``resultType: matrix``)."""
    out = []
    for item in data.get("result") or []:
        points = item.get("values") or []
        # Each series of a matrix holds "values", "histograms" or both (Prometheus's HTTP API,
        # "Native histograms"; its encoder writes both for a series that changed type): the
        # histograms are counted, not scored
        histograms = item.get("histograms")
        out.append(
            RangeSeries(
                labels={str(k): str(v) for k, v in (item.get("metric") or {}).items()},
                times=[float(p[0]) for p in points],
                values=[float(p[1]) for p in points],
                histograms=len(histograms) if isinstance(histograms, list) else 0,
            )
        )
    return out


def _error_type(response: httpx.Response) -> str:
    """`` bad_data`` of ``{"status": "error", "errorType": "bad_data", ...}``, else nothing."""
    try:
        body = response.json()
    except ValueError:
        return ""
    kind = body.get("errorType") if isinstance(body, dict) else None
    return f" {str(kind)[:40]}" if kind else ""


def _error_of(response: httpx.Response) -> str:
    """Prometheus's ``error`` of a failed answer (``{"status": "error", "errorType": "timeout", "error":
    "query timed out in expression evaluation"}``), else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    error = body.get("error") if isinstance(body, dict) else None
    return str(error)[:300] if error else response.text.strip()[:300]
