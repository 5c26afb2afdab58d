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

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, Field, ValidationError
from temporalio import activity

from medic.alerts import HELD_SOURCE, AlertmanagerWebhook, AlertStatus, WebhookAlert
from medic.assign import decide
from medic.catalog import Catalog
from medic.ports import PermanentError, TransientError
from medic.redact import redact
from medic.subject import OwnerLookup

__all__ = [
    "ActiveAlerts",
    "AlertingAnswer",
    "AlertingRequest",
    "CorrelationActivities",
    "DeliverAlerts",
    "HandOverAnswer",
    "HandOverRequest",
    "HeldAlerts",
    "StillHeldAnswer",
    "StillHeldRequest",
]

_MAX_NAMED = 5  # alert names kept per service in the answer (it is recorded in history)


class ActiveAlerts(Protocol):
    def active_alerts(self) -> list[dict[str, str]]: ...


class HeldAlerts(Protocol):
    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]: ...


# What the webhook does with a body: assign its alerts to incidents and hand each its share (the incidents
# that took one); the alerts say they came from ``source``.
DeliverAlerts = Callable[[AlertmanagerWebhook, str], Awaitable[list[str]]]
_MAX_HANDED = 50  # alerts handed over per ask: a cause's own, not a storm's


class AlertingRequest(BaseModel):
    services: list[str] = Field(
        description="the catalog services whose alerts matter (the incident's dependencies)"
    )
    cluster: str = Field(
        default="",
        description="the asking incident's cluster (MEDIC_INCIDENTS_PER_CLUSTER): another cluster's alerts "
        "are no cause of it ('': every cluster's, as before)",
    )


class AlertingAnswer(BaseModel):
    known: bool = Field(description="False: no Prometheus to ask, or it did not answer")
    alerting: dict[str, list[str]] = Field(
        default_factory=dict,
        description="service -> its alerts pending or firing, e.g. 'PostgresDown (pending)'",
    )
    firing: list[str] = Field(
        default_factory=list, description="of those services, the ones with an alert firing, not only pending"
    )
    takes_held: bool = Field(
        default=False,
        description="the worker can take a firing cause's alerts from Alertmanager (hand_over_held)",
    )


class HandOverRequest(BaseModel):
    services: list[str] = Field(description="the likely causes firing in Prometheus")
    asked_by: str = Field(description="the settling incident that asks (for the log)")
    cluster: str = Field(default="", description="as AlertingRequest.cluster: that cluster's alerts only")


class StillHeldRequest(BaseModel):
    fingerprints: list[str] = Field(description="alerts taken from Alertmanager that it has not delivered")
    names: list[str] = Field(
        default_factory=list,
        description="their alert names, to ask Alertmanager for those only (empty: every alert it holds)",
    )


class StillHeldAnswer(BaseModel):
    known: bool = Field(description="False: no Alertmanager to ask, or it did not answer")
    until: dict[str, datetime] = Field(
        default_factory=dict, description="fingerprint -> its endsAt, for those Alertmanager still holds"
    )


class HandOverAnswer(BaseModel):
    known: bool = Field(description="False: no Alertmanager to ask, or it did not answer")
    handed: dict[str, list[str]] = Field(
        default_factory=dict, description="service -> the alert names handed to its incident"
    )
    incidents: list[str] = Field(default_factory=list, description="the incidents that took them")


class CorrelationActivities:
    def __init__(
        self,
        *,
        source: ActiveAlerts | None,
        catalog: Callable[[], Catalog],
        held: HeldAlerts | None = None,
        deliver: DeliverAlerts | None = None,
        lookup: OwnerLookup | None = None,
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        cluster_label: str = "",
    ) -> None:
        self._source, self._catalog, self._cache, self._clock = source, catalog, cache_seconds, clock
        self._held_by_alertmanager, self._deliver = held, deliver
        self._lookup = lookup  # the cluster lookup the webhook assigns with (MEDIC_SUBJECT_LOOKUP)
        # MEDIC_INCIDENTS_PER_CLUSTER's label: a cluster's incident is asked about its own cluster's causes
        # (a Prometheus holding every cluster's ALERTS, a Mimir, answered staging's database as prod's cause)
        self._cluster_label = cluster_label
        self._held: tuple[float, list[_Alerting]] | None = None
        self._failed: tuple[float, PermanentError | TransientError] | None = None
        self._lock = threading.Lock()

    def _by_service(self, cluster: str = "") -> tuple[dict[str, list[str]], set[str]]:
        """One query serves every incident asking within ``cache_seconds``: callers that arrive while it
        runs wait for its answer (in a storm every settling incident asks at once). With ``cluster``, the
        alerts of other clusters are left out (those naming no cluster are kept: a Prometheus of one
        cluster does not write its external labels into ALERTS)."""
        assert self._source is not None
        with self._lock:
            now = self._clock()
            if self._held is not None and now - self._held[0] < self._cache:
                return _by_service(self._held[1], cluster)
            if self._failed is not None and now - self._failed[0] < self._cache:
                raise self._failed[1]  # a Prometheus that did not answer is not asked again at once
            try:
                alerts = self._ask(self._source)
            except (PermanentError, TransientError) as err:
                self._failed = (now, err)
                raise
            self._held, self._failed = (now, alerts), None
            return _by_service(alerts, cluster)

    def _ask(self, source: ActiveAlerts) -> list["_Alerting"]:
        catalog = self._catalog()
        out: list[_Alerting] = []
        for labels in source.active_alerts():
            service = decide(catalog, labels, self._lookup).service
            if service is None:
                continue
            state = labels.get("alertstate", "firing")
            entry = f"{redact(labels.get('alertname', 'an alert'))} ({state})"  # it goes into history
            where = labels.get(self._cluster_label, "") if self._cluster_label else ""
            out.append(_Alerting(service, where, entry, state == "firing"))
        return out

    @activity.defn(name="correlate.alerting")
    def alerting(self, request: AlertingRequest) -> AlertingAnswer:
        if self._source is None:
            return AlertingAnswer(known=False)
        try:
            found, firing = self._by_service(request.cluster)
        except (PermanentError, TransientError) as err:
            activity.logger.info("Prometheus could not say which services alert: %s", err)
            return AlertingAnswer(known=False)  # the plain settle period: never a failed incident
        return AlertingAnswer(
            known=True,
            alerting={s: found[s] for s in request.services if s in found},
            firing=[s for s in request.services if s in firing],
            takes_held=self._held_by_alertmanager is not None and self._deliver is not None,
        )

    @activity.defn(name="correlate.hand_over_held")
    async def hand_over_held(self, request: HandOverRequest) -> HandOverAnswer:
        """The alerts of ``request.services`` that Alertmanager holds for Medic, handed to their incidents
        as the webhook would (idempotent: an alert already there, by fingerprint, changes nothing)."""
        if self._held_by_alertmanager is None or self._deliver is None:
            return HandOverAnswer(known=False)
        try:
            items = await self._held_by_alertmanager.held()
        except (PermanentError, TransientError) as err:
            activity.logger.info("Alertmanager could not say which alerts it holds: %s", err)
            return HandOverAnswer(known=False)  # the webhook delivers them in its own time
        chosen, receiver, handed = await asyncio.to_thread(
            self._choose, items, set(request.services), request.cluster
        )
        if not chosen:
            return HandOverAnswer(known=True)
        payload = AlertmanagerWebhook(
            version="4", status=AlertStatus.FIRING, receiver=receiver, alerts=chosen
        )
        # Firing until its endsAt unless Alertmanager delivers it (medic.incident: held_until). Temporal
        # unavailable is retried (the hand-over is idempotent); refused, it is left to the webhook.
        try:
            incidents = await self._deliver(payload, HELD_SOURCE)
        except PermanentError as err:
            activity.logger.warning("%s: the held alerts were not taken: %s", request.asked_by, err)
            return HandOverAnswer(known=False)
        if not incidents:  # every one was left out (the webhook's limits): nothing was taken
            return HandOverAnswer(known=True)
        activity.logger.info(
            "%s: handed %d held alert(s) of %s to %s",
            *(request.asked_by, len(chosen), sorted(handed), incidents),
        )
        return HandOverAnswer(known=True, handed=handed, incidents=incidents)

    def _choose(
        self, items: list[dict[str, Any]], wanted: set[str], cluster: str = ""
    ) -> tuple[list[WebhookAlert], str, dict[str, list[str]]]:
        """The alerts assigned to ``wanted`` services as the webhook assigns them (the cluster lookup
        blocks: run in a thread), Alertmanager's receiver, and the alert names per service; with
        ``cluster``, not those another cluster's label names."""
        catalog = self._catalog()
        chosen: list[WebhookAlert] = []
        receiver, handed = "", dict[str, list[str]]()
        for item in items:
            alert = _webhook_alert(item)
            if alert is not None and _elsewhere(alert.labels.get(self._cluster_label, ""), cluster):
                continue
            service = decide(catalog, alert.labels, self._lookup).service if alert is not None else None
            if alert is None or service not in wanted or len(chosen) >= _MAX_HANDED:
                continue
            assert service is not None
            chosen.append(alert)
            receiver = receiver or next(iter(_receivers(item)), "")
            names, name = handed.setdefault(service, []), redact(alert.labels.get("alertname", "an alert"))
            if name not in names:
                names.append(name)
        return chosen, receiver, handed

    @activity.defn(name="correlate.still_held")
    async def still_held(self, request: StillHeldRequest) -> StillHeldAnswer:
        """Which of these alerts, taken before Alertmanager delivered them, it still holds as active (its
        silences and inhibitions aside: a muted alert is still firing), and until when. One it no longer
        holds resolved (or expired there) before Alertmanager delivered it, so it never will."""
        if self._held_by_alertmanager is None:
            return StillHeldAnswer(known=False)
        try:
            items = await self._held_by_alertmanager.held(muted=True, names=request.names)
        except (PermanentError, TransientError) as err:
            activity.logger.info("Alertmanager could not say which alerts it holds: %s", err)
            return StillHeldAnswer(known=False)
        wanted, until = set(request.fingerprints), dict[str, datetime]()
        for item in items:
            alert = _webhook_alert(item)
            if alert is not None and alert.fingerprint in wanted and alert.endsAt is not None:
                until[alert.fingerprint] = alert.endsAt
        return StillHeldAnswer(known=True, until=until)

    def all(self) -> list[Callable[..., object]]:
        return [self.alerting, self.hand_over_held, self.still_held]


class _Alerting(NamedTuple):
    """One alert of Prometheus' ALERTS, as correlation reads it."""

    service: str
    cluster: str  # its MEDIC_INCIDENTS_PER_CLUSTER label's value ('' none, or the setting off)
    entry: str  # "PostgresDown (pending)"
    firing: bool


def _elsewhere(where: str, cluster: str) -> bool:
    """An alert of ``where`` is another cluster's than the asking incident's ``cluster``."""
    return bool(cluster and where and where != cluster)


def _by_service(alerts: list[_Alerting], cluster: str) -> tuple[dict[str, list[str]], set[str]]:
    """Each service's alerts (at most _MAX_NAMED names) and those with one firing; ``cluster``: its own."""
    found: dict[str, list[str]] = {}
    firing: set[str] = set()
    for a in alerts:
        if _elsewhere(a.cluster, cluster):
            continue
        named = found.setdefault(a.service, [])
        if a.firing:
            firing.add(a.service)
        if a.entry not in named and len(named) < _MAX_NAMED:
            named.append(a.entry)
    return found, firing


def _receivers(item: dict[str, Any]) -> list[str]:
    return [str(r.get("name", "")) for r in item.get("receivers") or [] if isinstance(r, dict)]


def _webhook_alert(item: dict[str, Any]) -> WebhookAlert | None:
    """A ``gettableAlert`` as Medic takes it: firing until its ``endsAt`` (Alertmanager's "valid until",
    which Prometheus moves on at each evaluation while the alert fires); None when malformed."""
    try:
        return WebhookAlert.model_validate(
            {
                "status": AlertStatus.FIRING,
                "labels": item.get("labels"),
                "annotations": item.get("annotations") or {},
                "startsAt": item.get("startsAt"),
                "endsAt": item.get("endsAt"),
                "generatorURL": item.get("generatorURL") or None,
                "fingerprint": item.get("fingerprint") or None,
            }
        )
    except ValidationError:
        return None
