"""A local double of the Opsgenie Alert API v2, the routes Medic's adapter calls.

From Opsgenie's Alert API reference (https://docs.opsgenie.com/docs/alert-api; the routes as listed in
the OpenAPI-generated ``iksaif/opsgenie_swagger`` ``docs/AlertApi.md``). Error bodies other than 422's
follow the documented ``{"message", "took", "requestId"}`` shape; their wording is not verified.

* Auth: ``Authorization: GenieKey <key>``; anything else is 401 ``{"message": "Could not authenticate",
  "took", "requestId"}``.
* ``POST /v2/alerts``: ``message`` (required, at most 130 characters), ``alias`` (512), ``description``
  (15,000), ``priority`` (``P1``-``P5``, default ``P3``), ``source`` (100), ``entity`` (512), ``tags``
  (at most 20, each at most 50 characters), ``details`` (string values), ``user``, ``note``. Alerts
  are processed asynchronously: 202 ``{"result": "Request will be processed", "took", "requestId"}``;
  an open alert with the same alias is de-duplicated (``count`` + 1), as Opsgenie does.
* ``POST /v2/alerts/{identifier}/acknowledge``, ``/close``, ``/notes`` with ``identifierType`` ``id``
  (the default), ``alias`` or ``tiny``; body ``user``, ``source``, ``note`` (notes: required, 25,000).
  202 with the same shape. As the API is asynchronous, an unknown alert is accepted (202) and its
  request fails later (``request_status(requestId)`` says so, like ``GET /v2/alerts/requests/{id}``).
* ``GET /v2/alerts/requests/{requestId}`` ("Get Request Status", https://docs.opsgenie.com/docs/alert:
  creation and actions "are processed asynchronously ... responded to with HTTP status 202", which
  "does not guarantee that the request will be handled successfully", https://docs.opsgenie.com/docs/response):
  200 ``{"data": {"success", "action", "processedAt", "integrationId", "isSuccess", "status", "alertId",
  "alias"}, "took", "requestId"}`` as in the reference's samples (``"status": "Created alert"``,
  ``"Alert does not exist"``); 404 while the request is not processed yet (``double.unprocessed``: how many
  asks are answered so first; integrations poll it, e.g. SumoLogic/sumologic-documentation#6263) and for an
  unknown id, the 404 body's wording not verified. ``double.refuse_creates = "<status>"`` makes creates
  fail asynchronously (202, no alert, ``isSuccess: false`` with that status), as an integration whose
  settings do not take the alert does; the status wording is ours.
* 422 ``{"message": "Request body is not processable. Please check the errors.", "errors": {field:
  message}, "took", "requestId"}`` for a body that breaks those rules.
* Faults via ``double.faults``: 429 as Opsgenie answers it (Rate Limiting,
  https://docs.opsgenie.com/docs/api-rate-limiting): ``X-RateLimit-State: THROTTLED``,
  ``X-RateLimit-Reason`` (the domain throttled; ``INTEGRATION`` here, as an integration's API key was seen
  to be answered) and ``X-RateLimit-Period-In-Sec`` (the fault's ``retry_after``, 60 when ``None``), and
  no ``Retry-After`` unless the fault's own headers carry one; 5xx; delays.

Outgoing, Opsgenie's Webhook integration (alert action data,
https://docs.opsgenie.com/docs/marid-alert-action-data): :func:`webhook_payload` is the JSON Opsgenie
posts for an action (``action``, ``alert.{alertId, alias, message, username, tinyId, ...}``, ``source.{name,
type}``, ``integrationId``, ``integrationName``). :meth:`OpsgenieDouble.act_in_app` is someone acting in
Opsgenie's app (the alert changes, and the payload is returned for the test to deliver);
:meth:`OpsgenieDouble.posted_back` is what the integration would post for the actions taken through the
API: the request's ``user`` as ``alert.username`` and its ``source`` as ``source.name``, ``source.type``
``API``. That mapping of an API request onto the payload is our reading of the documented examples (the
Create example's ``source.type`` is ``API``), not checked against Opsgenie.

Not covered: the Incident API, heartbeats, schedules, responders and teams beyond being stored,
attachments, the EU host (``api.eu.opsgenie.com``: same routes), ``X-RateLimit-*`` on answers that are
not throttled.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from tests.doubles._base import Fault, HttpDouble

__all__ = ["OPSGENIE_API_KEY", "OpsgenieAlert", "OpsgenieDouble", "webhook_payload"]

OPSGENIE_API_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
_LIMITS = {"message": 130, "alias": 512, "description": 15_000, "source": 100, "entity": 512, "user": 100}


@dataclass
class OpsgenieAlert:
    id: str
    tiny_id: str
    alias: str
    message: str
    priority: str
    status: str = "open"  # open | closed
    acknowledged: bool = False
    count: int = 1
    description: str = ""
    source: str = ""
    entity: str = ""
    tags: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    # (action, user, source) of every acknowledge, close and note taken through the API
    api_actions: list[tuple[str, str, str]] = field(default_factory=list)


_WEBHOOK_ACTIONS = {"acknowledge": "Acknowledge", "close": "Close", "notes": "AddNote"}


def webhook_payload(
    action: str,
    *,
    alias: str,
    username: str,
    alert_id: str,
    message: str = "",
    tiny_id: str = "1",
    source_name: str = "",
    source_type: str = "mobile",
) -> dict[str, Any]:
    """The JSON Opsgenie's Webhook integration posts for ``action`` (Acknowledge, Close, AddNote...)."""
    return {
        "source": {"name": source_name, "type": source_type},
        "alert": {
            "updatedAt": 1420452224764002246,
            "tags": ["medic"],
            "message": message,
            "username": username,
            "alertId": alert_id,
            "source": username,
            "alias": alias,
            "tinyId": tiny_id,
            "createdAt": 1420452191104,
            "userId": "daed1180-0ce8-438b-8f8e-57e1a5920a2d",
            "entity": "",
        },
        "action": action,
        "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
        "integrationName": "Medic webhook",
    }


class OpsgenieDouble(HttpDouble):
    def __init__(self, keys: tuple[str, ...] = (OPSGENIE_API_KEY,)) -> None:
        super().__init__(title="Opsgenie Alert API v2 double")
        self.keys = frozenset(keys)
        self._alerts: list[OpsgenieAlert] = []
        self._requests: dict[str, dict[str, Any]] = {}
        self._asked: dict[str, int] = {}
        self.unprocessed = 0
        """How many asks for a request's status are answered 404 (not processed yet) before its answer."""
        self.refuse_creates: str | None = None
        """A status: creates are accepted (202) and fail asynchronously with it (no alert)."""
        self.app.add_api_route("/v2/alerts/requests/{request_id}", self._request_status, methods=["GET"])
        self.app.add_api_route("/v2/alerts", self._create, methods=["POST"])
        for action in ("acknowledge", "close", "notes"):
            self.app.add_api_route(
                f"/v2/alerts/{{identifier}}/{action}", self._action(action), methods=["POST"]
            )

    # -- inspection ------------------------------------------------------------------------------------

    def alert(self, alias: str) -> OpsgenieAlert:
        with self._lock:
            found = [a for a in self._alerts if a.alias == alias]
            if not found:
                raise KeyError(alias)
            snapshot: OpsgenieAlert = self._snapshot(found[-1])
            return snapshot

    def alerts(self) -> list[OpsgenieAlert]:
        with self._lock:
            snapshot: list[OpsgenieAlert] = self._snapshot(self._alerts)
            return snapshot

    def act_in_app(self, alias: str, action: str, *, username: str) -> dict[str, Any]:
        """Someone acknowledges (``Acknowledge``) or closes (``Close``) the open alert ``alias`` in
        Opsgenie's app: the alert changes, and the Webhook integration's payload is returned."""
        with self._lock:
            alert = next(a for a in reversed(self._alerts) if a.alias == alias)
            if action == "Acknowledge" and alert.status == "open":
                alert.acknowledged = True
            elif action == "Close":
                alert.status = "closed"
            alert.log.append(f"{action} by {username} (app)")
            return webhook_payload(
                action,
                alias=alias,
                username=username,
                alert_id=alert.id,
                message=alert.message,
                tiny_id=alert.tiny_id,
            )

    def posted_back(self, alias: str) -> list[dict[str, Any]]:
        """What the Webhook integration would post for each action taken on ``alias`` through the API."""
        with self._lock:
            alert = next(a for a in reversed(self._alerts) if a.alias == alias)
            return [
                webhook_payload(
                    _WEBHOOK_ACTIONS[verb],
                    alias=alias,
                    username=user or "System",
                    alert_id=alert.id,
                    message=alert.message,
                    tiny_id=alert.tiny_id,
                    source_name=source,
                    source_type="API",
                )
                for verb, user, source in alert.api_actions
            ]

    def request_status(self, request_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._requests[request_id])

    def fault_headers(self, fault: Fault) -> dict[str, str]:
        if fault.status != 429:
            return dict(fault.headers)
        period = 60 if fault.retry_after is None else fault.retry_after
        return {
            "X-RateLimit-State": "THROTTLED",
            "X-RateLimit-Reason": "INTEGRATION",
            "X-RateLimit-Period-In-Sec": str(period),
            **fault.headers,
        }

    def error_body(self, status: int) -> Any:
        messages = {
            429: "You are making too many requests! To avoid errors, we recommend you limit requests.",
            401: "Could not authenticate",
        }
        message = messages.get(status, "Internal Server Error" if status >= 500 else "Bad Request")
        return {"message": message, "took": 0.0, "requestId": str(uuid.uuid4())}

    # -- endpoints -------------------------------------------------------------------------------------

    def _auth(self, request: Request) -> JSONResponse | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "GenieKey" or key.strip() not in self.keys:
            return JSONResponse(self.error_body(401), status_code=401)
        return None

    async def _body(self, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _unprocessable({"body": "Request body is not a JSON object"})
        return body

    def _accepted(
        self, action: str, alert: OpsgenieAlert | None, alias: str | None, *, failed: str = ""
    ) -> JSONResponse:
        request_id = str(uuid.uuid4())
        done = {"Create": "Created alert"}.get(action, "Processed")
        self._requests[request_id] = {
            "action": action,
            "isSuccess": alert is not None,
            "status": done if alert is not None else failed or "Alert does not exist",
            "alertId": alert.id if alert else "",
            "alias": alias or "",
        }
        return JSONResponse(
            {"result": "Request will be processed", "took": 0.01, "requestId": request_id}, status_code=202
        )

    async def _create(self, request: Request) -> JSONResponse:
        refused = self._auth(request)
        if refused is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        errors = _create_errors(body)
        if errors:
            return _unprocessable(errors)
        with self._lock:
            alias = str(body.get("alias") or uuid.uuid4())
            if self.refuse_creates is not None:
                return self._accepted("Create", None, alias, failed=self.refuse_creates)
            alert = next((a for a in self._alerts if a.alias == alias and a.status == "open"), None)
            if alert is not None:
                alert.count += 1
                alert.log.append("deduplicated")
            else:
                n = len(self._alerts) + 1
                alert = OpsgenieAlert(
                    id=str(uuid.uuid4()),
                    tiny_id=str(n),
                    alias=alias,
                    message=str(body["message"]),
                    priority=str(body.get("priority") or "P3"),
                    description=str(body.get("description") or ""),
                    source=str(body.get("source") or ""),
                    entity=str(body.get("entity") or ""),
                    tags=list(body.get("tags") or []),
                    details=dict(body.get("details") or {}),
                    log=["created"],
                )
                self._alerts.append(alert)
            return self._accepted("Create", alert, alias)

    async def _request_status(self, request_id: str, request: Request) -> JSONResponse:
        refused = self._auth(request)
        if refused is not None:
            return refused
        with self._lock:
            asked = self._asked[request_id] = self._asked.get(request_id, 0) + 1
            found = self._requests.get(request_id)
            if found is None or asked <= self.unprocessed:
                return JSONResponse(
                    {
                        "message": "Request not found. It might not be processed, yet.",
                        "took": 0.0,
                        "requestId": str(uuid.uuid4()),
                    },
                    status_code=404,
                )
            data = {
                "success": found["isSuccess"],
                "action": found["action"],
                "processedAt": "2026-12-07T12:00:00.000Z",
                "integrationId": "c9cec2cb-e782-4ebb-bc1d-1b2fa703cf03",
                **found,
            }
        return JSONResponse({"data": data, "took": 0.01, "requestId": str(uuid.uuid4())})

    def _action(self, action: str) -> Any:
        async def endpoint(identifier: str, request: Request) -> JSONResponse:
            refused = self._auth(request)
            if refused is not None:
                return refused
            kind = request.query_params.get("identifierType", "id")
            if kind not in ("id", "alias", "tiny"):
                return _unprocessable({"identifierType": "must be one of [id, alias, tiny]"})
            body = await self._body(request)
            if isinstance(body, JSONResponse):
                return body
            note = body.get("note")
            if action == "notes" and (not isinstance(note, str) or not note.strip()):
                return _unprocessable({"note": "Note can not be empty."})
            if isinstance(note, str) and len(note) > 25_000:
                return _unprocessable({"note": "Note can not be longer than 25000 characters."})
            with self._lock:
                field_of = {"id": "id", "alias": "alias", "tiny": "tiny_id"}[kind]
                found = [a for a in self._alerts if getattr(a, field_of) == identifier]
                alert = found[-1] if found else None
                if alert is not None:
                    if action == "acknowledge" and alert.status == "open":
                        alert.acknowledged = True
                    elif action == "close":
                        alert.status = "closed"
                    if isinstance(note, str) and note:
                        alert.notes.append(note)
                    alert.log.append(action)
                    alert.api_actions.append(
                        (action, str(body.get("user") or ""), str(body.get("source") or ""))
                    )
                return self._accepted(action.capitalize(), alert, identifier if kind == "alias" else None)

        return endpoint


def _unprocessable(errors: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {
            "message": "Request body is not processable. Please check the errors.",
            "errors": errors,
            "took": 0.0,
            "requestId": str(uuid.uuid4()),
        },
        status_code=422,
    )


def _create_errors(body: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        errors["message"] = "Message can not be empty."
    for name, limit in _LIMITS.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors[name] = f"{name.capitalize()} can not be longer than {limit} characters."
    if body.get("priority") is not None and body["priority"] not in _PRIORITIES:
        errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, list)
        or len(tags) > 20
        or not all(isinstance(t, str) and len(t) <= 50 for t in tags)
    ):
        errors["tags"] = "Tags can contain at most 20 tags of at most 50 characters."
    details = body.get("details")
    if details is not None and (
        not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values())
    ):
        errors["details"] = "Details must be a map of strings."
    return errors
