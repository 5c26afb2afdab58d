"""A local double of the PagerDuty Events API v2 (``POST /v2/enqueue``) and Change Events
(``POST /v2/change/enqueue``), good enough for an unmodified ``pagerduty.EventsApiV2Client`` (and the
deprecated ``pdpyras.EventsAPISession``).

Both post to ``base_url + "/v2/enqueue"`` (``https://events.pagerduty.com`` by default;
``EventsApiV2Client(key, base_url=double.url)``, or ``session.url = double.url`` for pdpyras), with
``Content-Type: application/json``, no auth header, and the ``routing_key`` added to the JSON body.

Covered, per ``shared/reference/pagerduty/events-v2.openapiv3.json``:

* ``routing_key`` must be one of the configured keys; ``event_action`` one of ``trigger``,
  ``acknowledge``, ``resolve``; ``dedup_key`` a string of at most 255 characters, required except for
  ``trigger`` (the double then makes one, 32 hex digits, as PagerDuty does); for ``trigger`` a
  ``payload`` with ``summary`` (at most 1,024 characters), ``source`` and ``severity`` (``critical``,
  ``error``, ``warning``, ``info``); ``links`` need ``href``, ``images`` need ``src``.
* 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``; 400 ``{"status":
  "invalid event", "message": "Event object is invalid", "errors": [...]}``; a body that is not a JSON
  object: 400 ``{"status": "Unrecognized object", "message": "Event object format is unrecognized",
  "errors": ["JSON parse error"]}``.
* Alert state per (routing key, dedup key): a trigger opens an alert (``triggered``; a trigger for a
  resolved alert opens a new one, with a new ``incident_number``), a trigger for an open alert is
  de-duplicated (state kept, counted in ``dedup_count``); acknowledge and resolve move an open alert
  and are accepted but ignored (202) for an unknown or resolved one, as PagerDuty does.
* The full event log, rejected events included (``outcome == "rejected"`` with their errors).
* Optional built-in rate limit: ``rate_limit_per_minute=N`` answers 429 once a routing key has had N
  accepted events in the last 60 s (PagerDuty's is about 120/min). Faults via ``double.faults``.

* Change Events (PagerDuty/developer-docs ``docs/events-API-v2/03-Change-Events.md``): ``routing_key``
  (a configured one), ``payload.summary`` (required, at most 1,024 characters), optional
  ``payload.source``, ``timestamp``, ``custom_details``, ``links`` (each with ``href``); 202
  ``{"status": "success", "message": "Change event processed"}``, 400 as for alert events; kept in
  ``changes()``. The docs send responses and limits to the Events API overview: the same rate limit and
  faults apply.
* Faults for both routes via ``double.faults``: 429 with ``Retry-After`` in seconds or as an HTTP-date
  (``push("rate_limit", retry_after=None, headers={"Retry-After": date})``), 5xx, and delays longer
  than the client's timeout.

Not covered: Events API v1, incidents, escalation,
urgency, suppression rules, event orchestration, payload ``timestamp`` format checks, the account-wide
rate limits.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse

from tests.doubles._base import HttpDouble

__all__ = [
    "DEFAULT_ROUTING_KEY",
    "PagerDutyAlert",
    "PagerDutyDouble",
    "PagerDutyEvent",
]

DEFAULT_ROUTING_KEY = "R0UT1NGKEYMED1C0000000000000000A"  # 32 characters, like a real integration key
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024

AlertStatus = Literal["triggered", "acknowledged", "resolved"]
Outcome = Literal["created", "deduplicated", "acknowledged", "resolved", "ignored", "rejected"]


@dataclass
class PagerDutyEvent:
    """One request to ``/v2/enqueue`` as the double judged it."""

    seq: int
    received_at: float
    body: Any
    outcome: Outcome
    routing_key: str | None = None
    event_action: str | None = None
    dedup_key: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class PagerDutyAlert:
    routing_key: str
    dedup_key: str
    incident_number: int
    status: AlertStatus
    summary: str
    source: str
    severity: str
    payload: dict[str, Any]
    dedup_count: int = 0
    history: list[AlertStatus] = field(default_factory=list)
    events: list[PagerDutyEvent] = field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class PagerDutyDouble(HttpDouble):
    """The Events API v2 double. See the module docstring for what it covers.

    Configure: ``PagerDutyDouble(routing_keys={"R0UT1NG..."}, rate_limit_per_minute=None)``.
    Inspect: ``alert(dedup_key)`` (``.status``, ``.history``, ``.events``), ``alerts()``, ``events()``
    (every request, rejected ones included), plus the request log and counters of
    :class:`HttpDouble` (route ``"POST /v2/enqueue"``).
    """

    ROUTE = "POST /v2/enqueue"

    def __init__(
        self,
        routing_keys: Iterable[str] = (DEFAULT_ROUTING_KEY,),
        *,
        rate_limit_per_minute: int | None = None,
    ) -> None:
        super().__init__(title="PagerDuty Events API v2 double")
        self.routing_keys = frozenset(routing_keys)
        self.rate_limit_per_minute = rate_limit_per_minute
        self._alerts: dict[tuple[str, str], PagerDutyAlert] = {}
        self._closed: list[PagerDutyAlert] = []
        self._events: list[PagerDutyEvent] = []
        self._accepted_at: dict[str, list[float]] = {}
        self._incidents = 0
        self._changes: list[dict[str, Any]] = []
        self.app.add_api_route("/v2/enqueue", self._enqueue, methods=["POST"])
        self.app.add_api_route("/v2/change/enqueue", self._change, methods=["POST"])

    # -- inspection ------------------------------------------------------------------------------------

    def alert(self, dedup_key: str, routing_key: str | None = None) -> PagerDutyAlert:
        """The latest alert for ``dedup_key`` (under ``routing_key`` if several keys used it)."""
        with self._lock:
            found = [
                a
                for (rk, dk), a in self._alerts.items()
                if dk == dedup_key and (routing_key is None or rk == routing_key)
            ]
            if not found:
                raise KeyError(f"no alert with dedup_key {dedup_key!r}")
            if len(found) > 1:
                raise KeyError(f"dedup_key {dedup_key!r} is used under several routing keys; name one")
            snapshot: PagerDutyAlert = self._snapshot(found[0])
            return snapshot

    def alerts(self, *, include_superseded: bool = False) -> list[PagerDutyAlert]:
        """The latest alert of every dedup key; with ``include_superseded``, also resolved alerts that a
        later trigger on the same key replaced."""
        with self._lock:
            alerts = (
                [*self._closed, *self._alerts.values()] if include_superseded else [*self._alerts.values()]
            )
            snapshot: list[PagerDutyAlert] = self._snapshot(alerts)
            return snapshot

    def events(self) -> list[PagerDutyEvent]:
        snapshot: list[PagerDutyEvent] = self._snapshot(self._events)
        return snapshot

    def changes(self) -> list[dict[str, Any]]:
        """The accepted change events, as sent (routing key included)."""
        snapshot: list[dict[str, Any]] = self._snapshot(self._changes)
        return snapshot

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.  Please retry later.",
            }
        if status >= 500:
            return {"status": "server error", "message": "An unexpected error occurred"}
        return {"status": "invalid event", "message": "Event object is invalid", "errors": []}

    # -- the endpoint ----------------------------------------------------------------------------------

    async def _enqueue(self, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        with self._lock:
            seq = len(self._events) + 1
            now = time.monotonic()
            if not isinstance(body, dict):
                self._events.append(
                    PagerDutyEvent(
                        seq, now, raw.decode("utf-8", "replace"), "rejected", errors=["JSON parse error"]
                    )
                )
                return JSONResponse(
                    {
                        "status": "Unrecognized object",
                        "message": "Event object format is unrecognized",
                        "errors": ["JSON parse error"],
                    },
                    status_code=400,
                )
            event = PagerDutyEvent(
                seq,
                now,
                body,
                "rejected",
                routing_key=_str_or_none(body.get("routing_key")),
                event_action=_str_or_none(body.get("event_action")),
                dedup_key=_str_or_none(body.get("dedup_key")),
            )
            self._events.append(event)
            try:
                _validate(body, self.routing_keys)
            except _Invalid as err:
                event.errors = err.errors
                return JSONResponse(
                    {"status": "invalid event", "message": "Event object is invalid", "errors": err.errors},
                    status_code=400,
                )
            assert event.routing_key is not None and event.event_action is not None
            if self._throttled(event.routing_key, now):
                event.errors = ["rate limited"]
                return JSONResponse(self.error_body(429), status_code=429)
            if event.dedup_key is None:
                event.dedup_key = uuid.uuid4().hex
            event.outcome = self._apply(event)
            self._accepted_at.setdefault(event.routing_key, []).append(now)
            return JSONResponse(
                {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key},
                status_code=202,
            )

    async def _change(self, request: Request) -> JSONResponse:
        try:
            body: Any = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                {
                    "status": "Unrecognized object",
                    "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"],
                },
                status_code=400,
            )
        errors: list[str] = []
        routing_key = body.get("routing_key")
        if not isinstance(routing_key, str) or not routing_key:
            errors.append("'routing_key' is missing or blank")
        elif routing_key not in self.routing_keys:
            errors.append("Invalid routing key")
        payload = body.get("payload")
        summary = payload.get("summary") if isinstance(payload, dict) else None
        if not isinstance(summary, str) or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > MAX_SUMMARY:
            errors.append(f"'payload.summary' is too long (must be {MAX_SUMMARY} characters or fewer)")
        links = body.get("links")
        if links is not None and (
            not isinstance(links, list) or not all(isinstance(v, dict) and v.get("href") for v in links)
        ):
            errors.append("'links' must be a list of objects each with 'href'")
        if errors:
            return JSONResponse(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status_code=400,
            )
        assert isinstance(routing_key, str)
        with self._lock:
            if self._throttled(routing_key, time.monotonic()):
                return JSONResponse(self.error_body(429), status_code=429)
            self._accepted_at.setdefault(routing_key, []).append(time.monotonic())
            self._changes.append(body)
        return JSONResponse({"status": "success", "message": "Change event processed"}, status_code=202)

    def _throttled(self, routing_key: str, now: float) -> bool:
        if self.rate_limit_per_minute is None:
            return False
        recent = [t for t in self._accepted_at.get(routing_key, []) if now - t < 60.0]
        self._accepted_at[routing_key] = recent
        return len(recent) >= self.rate_limit_per_minute

    def _apply(self, event: PagerDutyEvent) -> Outcome:
        assert event.routing_key is not None and event.dedup_key is not None
        key = (event.routing_key, event.dedup_key)
        alert = self._alerts.get(key)
        open_alert = alert is not None and alert.status != "resolved"
        if event.event_action == "trigger":
            if alert is not None and open_alert:
                alert.dedup_count += 1
                alert.events.append(event)
                return "deduplicated"
            if alert is not None:
                self._closed.append(alert)
            payload: dict[str, Any] = event.body["payload"]
            self._incidents += 1
            self._alerts[key] = PagerDutyAlert(
                routing_key=event.routing_key,
                dedup_key=event.dedup_key,
                incident_number=self._incidents,
                status="triggered",
                summary=payload["summary"],
                source=payload["source"],
                severity=payload["severity"],
                payload=payload,
                history=["triggered"],
                events=[event],
            )
            return "created"
        if alert is None or not open_alert:
            if alert is not None:
                alert.events.append(event)
            return "ignored"
        alert.events.append(event)
        if event.event_action == "acknowledge":
            if alert.status == "triggered":
                alert.status = "acknowledged"
                alert.history.append("acknowledged")
            return "acknowledged"
        alert.status = "resolved"
        alert.history.append("resolved")
        return "resolved"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _validate(body: dict[str, Any], routing_keys: frozenset[str]) -> None:
    errors: list[str] = []
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        errors.append("'routing_key' is missing or blank")
    elif routing_key not in routing_keys:
        errors.append("Invalid routing key")
    action = body.get("event_action")
    if not isinstance(action, str) or not action:
        errors.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and not isinstance(dedup_key, str):
        errors.append("'dedup_key' must be a string")
    elif isinstance(dedup_key, str) and len(dedup_key) > MAX_DEDUP_KEY:
        errors.append(f"'dedup_key' is too long (must be {MAX_DEDUP_KEY} characters or fewer)")
    elif action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors.extend(_payload_errors(body.get("payload")))
    for name, required in (("links", "href"), ("images", "src")):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, dict) and v.get(required) for v in value):
            errors.append(f"'{name}' must be a list of objects each with '{required}'")
    if errors:
        raise _Invalid(errors)


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or blank"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY:
        errors.append(f"'payload.summary' is too long (must be {MAX_SUMMARY} characters or fewer)")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    severity = payload.get("severity")
    if not isinstance(severity, str) or not severity:
        errors.append("'payload.severity' is missing or blank")
    elif severity not in SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    return errors
