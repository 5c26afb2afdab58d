"""Opsgenie's Webhook integration, inbound: what someone did in Opsgenie (its mobile app, where on-call
people live) reaches the incident it pages for, as :mod:`service.pagerduty` does for PagerDuty.

Auth: the Webhook integration signs nothing; it sends the custom headers its settings list, and a URL
may carry basic-auth credentials. Medic takes a shared secret (MEDIC_OPSGENIE_WEBHOOK_SECRET) as
``X-Medic-Token: <secret>``, ``Authorization: Bearer <secret>`` or basic auth with the secret as
password (any user), compared in constant time. Anything else is :class:`WebhookRejected` (401).

Payload (Opsgenie's "Alert action data", https://docs.opsgenie.com/docs/marid-alert-action-data, "For
Webhook integration, alert action data is provided in the JSON body of the webhook request"):
``{"action": "Acknowledge", "alert": {"alertId", "alias", "message", "username", "userId", "tinyId",
"source", ...}, "source": {"name", "type"}, "integrationId", "integrationName"}``. ``action`` is one of
Create, Acknowledge, UnAcknowledge, AddNote, Close, Delete, TakeOwnership, AssignOwnership, AddTeam,
AddRecipient, Escalate, ... (a custom action's name too); ``alert.username`` is who did it.

Medic opens each alert with alias = the incident id for the first routing key an incident pages, and
``<incident id>:<key name>`` for the others (:meth:`medic.notify_state.NotificationState.alias`): the
incident is the alias up to its first ``:``. Alerts Medic did not open are ignored.

    Acknowledge                     -> acknowledge (stops Medic's escalation)
    Close, by a person              -> resolve by hand ("closed in Opsgenie")
    anything else                   -> ignored (answered 202, with why)

Medic's own acknowledge and close (sent with ``user`` :data:`MEDIC_USER`, ``source``
:data:`MEDIC_SOURCE`, see :mod:`activities.adapters.opsgenie`) come back through the same integration:
they are ignored, so an ack from Slack or PagerDuty that Medic passed to Opsgenie does not come back as
an Opsgenie ack, nor a close as a second resolution. A close by Opsgenie itself (``username`` System: an
auto-close policy, a retention clean-up) resolves nothing: the incident is over when its alerts say so.
"""

import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.adapters.opsgenie import MEDIC_SOURCE, MEDIC_USER
from medic.keys import INCIDENT_ID_PATTERN
from service.credentials import presented_secret

__all__ = [
    "CLOSED_REASON",
    "MEDIC_SOURCE",
    "MEDIC_USER",
    "TOKEN_HEADER",
    "OpsgenieAction",
    "OpsgenieIgnored",
    "WebhookRejected",
    "incident_of",
    "parse_event",
    "verify_secret",
]

TOKEN_HEADER = "X-Medic-Token"  # noqa: S105 (a header name, not a secret)
CLOSED_REASON = "closed in Opsgenie"
# Who Opsgenie names for what it did by itself (alert policies, auto close): not a person.
_NOT_PEOPLE = frozenset({"", "system", "opsgenie"})


class WebhookRejected(Exception):
    """Not carrying the shared secret (answered 401)."""


def verify_secret(secret: str | None, *, token: str | None, authorization: str | None) -> None:
    """``token`` is the X-Medic-Token header, ``authorization`` the Authorization header."""
    if not secret:
        raise WebhookRejected("Opsgenie webhooks are not configured here (MEDIC_OPSGENIE_WEBHOOK_SECRET)")
    offered = [c for c in (token, presented_secret(authorization)) if c]
    if not offered:
        raise WebhookRejected(f"no {TOKEN_HEADER} header and no Basic or Bearer credentials")
    expected = secret.encode()
    # every candidate compared, so the time taken says nothing about which one was close
    matches = [hmac.compare_digest(expected, c.encode()) for c in offered]
    if not any(matches):
        raise WebhookRejected("the credentials are not MEDIC_OPSGENIE_WEBHOOK_SECRET")


class _Source(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=500)
    type: str | None = Field(default=None, max_length=100)


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alert_id: str | None = Field(default=None, alias="alertId", max_length=200)
    alias: str | None = Field(default=None, max_length=512)
    message: str | None = Field(default=None, max_length=1000)
    username: str | None = Field(default=None, max_length=500)
    source: str | None = Field(default=None, max_length=500)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: str = Field(max_length=200)
    alert: _Alert
    source: _Source | None = None
    integration_name: str | None = Field(default=None, alias="integrationName", max_length=500)


class OpsgenieAction(BaseModel):
    """What an Opsgenie alert action asks of a Medic incident."""

    incident_id: str
    verb: Literal["acknowledge", "resolve"]
    actor: str
    reason: str = ""
    alias: str
    alert_id: str | None = None


class OpsgenieIgnored(BaseModel):
    """An action Medic does not act on, and why (said in the answer)."""

    incident_id: str | None = None
    why: str


def incident_of(alias: str | None) -> str | None:
    """The incident an alert's alias belongs to: the alias up to its first ``:`` (later escalation levels'
    ``<incident id>:<key name>``), if that is an incident id at all."""
    head = (alias or "").partition(":")[0]
    return head if INCIDENT_ID_PATTERN.fullmatch(head) else None


def _medic_did_it(event: _Payload) -> bool:
    user = (event.alert.username or "").strip()
    name = (event.source.name if event.source else None) or ""
    return user == MEDIC_USER or name.strip().casefold() == MEDIC_SOURCE


def parse_event(body: bytes) -> OpsgenieAction | OpsgenieIgnored:
    """The action an alert action asks for, or why Medic leaves it. Raises ValueError for a body that is
    not Opsgenie's alert action data."""
    try:
        event = _Payload.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValueError(f"not an Opsgenie webhook payload: {where}: {first['msg']}") from err
    incident = incident_of(event.alert.alias)
    if incident is None:
        return OpsgenieIgnored(why="not an alert Medic opened (its alias is no incident id)")
    if event.action not in ("Acknowledge", "Close"):
        return OpsgenieIgnored(
            incident_id=incident, why=f"{event.action}: Medic acts on Acknowledge and Close"
        )
    if _medic_did_it(event):
        return OpsgenieIgnored(incident_id=incident, why=f"{event.action} sent by Medic itself")
    user = (event.alert.username or "").strip()
    if event.action == "Close" and user.casefold() in _NOT_PEOPLE:
        return OpsgenieIgnored(incident_id=incident, why="Close by Opsgenie itself, not a person")
    common = {
        "incident_id": incident,
        "actor": (user or "someone in Opsgenie")[:200],
        "alias": event.alert.alias or incident,
        "alert_id": event.alert.alert_id,
    }
    if event.action == "Acknowledge":
        return OpsgenieAction(verb="acknowledge", **common)
    return OpsgenieAction(verb="resolve", reason=CLOSED_REASON, **common)
