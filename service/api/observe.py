"""Count and time a webhook request whatever its outcome, and say a refusal in the log.

Every webhook route is observed: ``medic_webhook_requests_total{route,code}`` and
``medic_webhook_latency_seconds{route}``, and a 4xx goes to :class:`~service.api.refusals.RefusalLog`
(which says what it costs on that route: a lost alert, an acknowledgement that did not arrive)."""

import time

from fastapi import HTTPException, Request

from service.api.auth import presented_credentials
from service.api.deps import Deps

__all__ = ["Observe"]


class Observe:
    """``with Observe(deps, route, request): ...`` around a route's whole handling."""

    def __init__(self, deps: Deps, route: str, request: Request) -> None:
        self._deps, self._route, self._request = deps, route, request

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        code = exc.status_code if isinstance(exc, HTTPException) else (500 if exc else 200)
        self._deps.metrics.webhook_requests.labels(self._route, str(code)).inc()
        self._deps.metrics.webhook_latency.labels(self._route).observe(time.perf_counter() - self._start)
        if isinstance(exc, HTTPException) and 400 <= code < 500:
            detail = exc.detail.get("error", "") if isinstance(exc.detail, dict) else str(exc.detail)
            presented = presented_credentials(self._request) if code == 401 else ""
            self._deps.refusals.refused(self._route, code, detail=str(detail)[:200], presented=presented)
