"""Correlation's question to Prometheus while a new incident settles: does any service it depends on
have an alert pending or firing right now?

A symptom often fires before its cause is delivered: the cause's rule has a longer ``for:``, or its
Alertmanager group is still in ``group_wait``. Prometheus already knows: its ``ALERTS`` series holds
every alert pending or firing, with the alert's labels. Each is assigned to a catalog service exactly
as the webhook would assign it (``medic.assign.decide``, without the cluster lookup), so an incident
learns whether its likely cause is on its way (wait for the join) or nothing below it is wrong (it is
the cause itself: tell at once). One answer serves every incident asking within ``cache_seconds``
(a storm asks many times a second); no answer (no Prometheus, or it failed) is ``known=False`` and the
incident keeps the plain settle period.
"""

import threading
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio import activity

from medic.assign import decide
from medic.catalog import Catalog
from medic.ports import PermanentError, TransientError

__all__ = ["ActiveAlerts", "AlertingAnswer", "AlertingRequest", "CorrelationActivities"]

_MAX_NAMED = 5  # alert names kept per service in the answer (it is recorded in history)


class ActiveAlerts(Protocol):
    def active_alerts(self) -> list[dict[str, str]]: ...


class AlertingRequest(BaseModel):
    services: list[str] = Field(
        description="the catalog services whose alerts matter (the incident's dependencies)"
    )


class AlertingAnswer(BaseModel):
    known: bool = Field(description="False: no Prometheus to ask, or it did not answer")
    alerting: dict[str, list[str]] = Field(
        default_factory=dict,
        description="service -> its alerts pending or firing, e.g. 'PostgresDown (pending)'",
    )


class CorrelationActivities:
    def __init__(
        self,
        *,
        source: ActiveAlerts | None,
        catalog: Callable[[], Catalog],
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source, self._catalog, self._cache, self._clock = source, catalog, cache_seconds, clock
        self._held: tuple[float, dict[str, list[str]]] | None = None
        self._lock = threading.Lock()

    def _by_service(self) -> dict[str, list[str]]:
        """One query serves every incident asking within ``cache_seconds``: callers that arrive while it
        runs wait for its answer (in a storm every settling incident asks at once)."""
        assert self._source is not None
        with self._lock:
            now = self._clock()
            if self._held is not None and now - self._held[0] < self._cache:
                return self._held[1]
            found = self._ask(self._source)
            self._held = (now, found)
            return found

    def _ask(self, source: ActiveAlerts) -> dict[str, list[str]]:
        catalog = self._catalog()
        found: dict[str, list[str]] = {}
        for labels in source.active_alerts():
            service = decide(catalog, labels).service
            if service is None:
                continue
            named = found.setdefault(service, [])
            entry = f"{labels.get('alertname', 'an alert')} ({labels.get('alertstate', 'firing')})"
            if entry not in named and len(named) < _MAX_NAMED:
                named.append(entry)
        return found

    @activity.defn(name="correlate.alerting")
    def alerting(self, request: AlertingRequest) -> AlertingAnswer:
        if self._source is None:
            return AlertingAnswer(known=False)
        try:
            found = self._by_service()
        except (PermanentError, TransientError) as err:
            activity.logger.info("Prometheus could not say which services alert: %s", err)
            return AlertingAnswer(known=False)  # the plain settle period: never a failed incident
        return AlertingAnswer(known=True, alerting={s: found[s] for s in request.services if s in found})

    def all(self) -> list[Callable[..., object]]:
        return [self.alerting]
