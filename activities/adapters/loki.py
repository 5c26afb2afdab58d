"""Grafana Loki over its HTTP API (httpx): the points of a LogQL metric query over a time range, for
Medic's anomaly scans whose ``source`` is ``loki`` (error lines counted a minute, bytes logged).

Loki answers a metric query in Prometheus's envelope (``resultType: matrix``, each point ``[<unix
seconds>, "<value>"]``: Loki's HTTP API reference, "Query logs within a range of time"), so the
matrix is read as Prometheus's; a log query answers ``resultType: streams`` (log lines), refused here
in words. Loki leaves out the steps whose range held no log line: a count of 0 is no point at all
(the scan fills them, ``absent: zero``, Loki's default)."""

from typing import Any

import httpx

from activities.adapters.http import Access
from activities.adapters.prometheus import QueryApi, matrix
from medic.ports import PermanentError
from medic.scan import RangeSeries

__all__ = ["LokiMetrics", "nanoseconds"]

_API = "/loki/api/v1"


def nanoseconds(seconds: float) -> str:
    """Epoch seconds as the nanosecond epoch Loki's reference documents for ``start`` and ``end``, to
    the microsecond (``1.7e9 * 1e9`` in floating point is off by up to 128 ns, and Loki evaluates a
    range query at ``start + k * step``; it keeps milliseconds)."""
    whole = int(seconds // 1)
    return str(whole * 1_000_000_000 + round((seconds - whole) * 1e6) * 1000)


class LokiMetrics(QueryApi):
    def __init__(self, base_url: str, *, timeout: float = 30.0, access: Access | None = None) -> None:
        # Loki's API path is added here: a URL that already holds it (copied from a curl line) is
        # taken as its base, where it asked for /loki/api/v1/loki/api/v1/query_range and got a 404
        url = httpx.URL(base_url)
        path = url.path.rstrip("/")
        if path.endswith(_API):
            url = url.copy_with(path=path.removesuffix(_API) or "/")
        super().__init__(str(url), timeout=timeout, access=access or Access("Loki", "MEDIC_LOKI"))

    def _build_info(self) -> dict[str, Any]:
        # Loki's is the bare object, without Prometheus's envelope ({"version": ..., "revision": ...}:
        # pkg/loki/version_handler.go encodes prom.PrometheusVersion as it is)
        return self._answer(f"{_API}/status/buildinfo", {}, "tell its version")

    def query_range(self, logql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        """``/loki/api/v1/query_range``: every series of the matrix of a metric query; a log query
        (``resultType: streams``) is a :class:`PermanentError` saying how to count its lines."""
        params = {"query": logql, "start": nanoseconds(start), "end": nanoseconds(end), "step": f"{step:g}"}
        data = self._query(f"{_API}/query_range", params, "run a scan's range query")
        kind = data.get("resultType")
        if kind == "streams":
            raise PermanentError(
                f"Loki answered log lines for {logql[:200]!r} (resultType streams), and a scan scores "
                "numbers: count them over a range, e.g. sum by (service) (count_over_time(<the query> [5m]))",
                said="resultType streams",
            )
        if kind not in (None, "matrix"):  # (a range query answers a matrix)
            raise PermanentError(f"Loki answered a result of type {str(kind)[:40]!r} for {logql[:200]!r}")
        return matrix(data)
