"""PagerDuty v3 webhooks, inbound: what someone did in PagerDuty (the mobile app, where on-call people
live) reaches the incident it pages for.

Signatures (https://developer.pagerduty.com/docs/webhooks/04-Signatures): ``X-PagerDuty-Signature``
holds one or more comma-separated ``v1=<hex HMAC-SHA256 of the raw body, keyed with the subscription's
secret>`` (several during a secret rotation); one match is enough, compared in constant time. Anything
else is :class:`WebhookRejected` (401).

Payload (https://developer.pagerduty.com/docs/webhooks/01-Overview): ``{"event": {"id", "event_type",
"agent": {"summary", ...}, "data": <incident>}}``. Medic triggers every page with ``dedup_key`` = the
incident id, and PagerDuty puts the dedup key of an incident's first alert in ``data.incident_key``:
that is how an event finds its Medic incident. Events for incidents Medic did not open are ignored.

    incident.acknowledged              -> acknowledge (stops Medic's escalation)
    incident.resolved                  -> resolve
    incident.reassigned / .escalated /
    incident.delegated                 -> a note on the timeline
"""

import hashlib
import hmac
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medic.keys import INCIDENT_ID_PATTERN

__all__ = ["PagerDutyAction", "WebhookRejected", "parse_event", "sign", "verify_signature"]

_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
_NOTED = {
    "incident.reassigned": "Reassigned in PagerDuty",
    "incident.escalated": "Escalated in PagerDuty",
    "incident.delegated": "Delegated in PagerDuty",
}


class WebhookRejected(Exception):
    """Not signed with the subscription's secret (answered 401)."""


def sign(secret: str, body: bytes) -> str:
    """The ``v1=`` signature PagerDuty sends for ``body``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | None, body: bytes, header: str | None) -> None:
    if not secret:
        raise WebhookRejected("PagerDuty webhooks are not configured here (MEDIC_PAGERDUTY_WEBHOOK_SECRET)")
    if not header:
        raise WebhookRejected("no X-PagerDuty-Signature header")
    expected = sign(secret, body)[3:]
    offered = [m.group(1) for part in header.split(",") if (m := _SIGNATURE.fullmatch(part.strip()))]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise WebhookRejected("no X-PagerDuty-Signature matches the body")


class _Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    summary: str | None = Field(default=None, max_length=500)


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    type: str | None = None
    incident_key: str | None = Field(default=None, max_length=255)
    title: str | None = None
    html_url: str | None = None
    resolve_reason: object = None
    assignees: list[_Reference] = Field(default_factory=list)
    escalation_policy: _Reference | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    event_type: str
    agent: _Reference | None = None
    data: _Data


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: _Event


class PagerDutyAction(BaseModel):
    """What a PagerDuty event asks of a Medic incident."""

    incident_id: str
    verb: Literal["acknowledge", "resolve", "note"]
    actor: str
    message: str = ""
    event_id: str
    pagerduty_incident: str | None = None


def parse_event(body: bytes) -> PagerDutyAction | None:
    """The action an event asks for; ``None`` for event types Medic does not act on and incidents it
    did not open. Raises ValueError for a body that is not a v3 webhook payload."""
    try:
        event = _Envelope.model_validate_json(body).event
    except ValidationError as err:
        raise ValueError(f"not a PagerDuty v3 webhook payload: {err.errors()[0]['msg']}") from err
    key = event.data.incident_key
    if event.data.type != "incident" or not key or not INCIDENT_ID_PATTERN.fullmatch(key):
        return None
    agent = event.agent
    actor = (agent.summary if agent and agent.summary else None) or "someone in PagerDuty"
    common = {
        "incident_id": key,
        "actor": actor[:200],
        "event_id": event.id,
        "pagerduty_incident": event.data.id,
    }
    if event.event_type == "incident.acknowledged":
        return PagerDutyAction(verb="acknowledge", **common)
    if event.event_type == "incident.resolved":
        reason = event.data.resolve_reason  # null, or {"type": "merge_resolve_reason", "incident": {...}}
        text = ""
        if isinstance(reason, dict) and reason.get("type") == "merge_resolve_reason":
            found = reason.get("incident")
            merged: dict[str, object] = found if isinstance(found, dict) else {}
            text = (
                f"merged in PagerDuty into {merged.get('summary') or merged.get('id') or 'another incident'}"
            )
        return PagerDutyAction(verb="resolve", message=text[:1000], **common)
    if event.event_type in _NOTED:
        to = ", ".join(a.summary for a in event.data.assignees if a.summary) or (
            event.data.escalation_policy.summary if event.data.escalation_policy else None
        )
        message = f"{_NOTED[event.event_type]} by {actor}" + (f" to {to}." if to else ".")
        return PagerDutyAction(verb="note", message=message[:2000], **common)
    return None
