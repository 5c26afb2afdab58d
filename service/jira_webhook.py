"""Jira webhooks, inbound: a team whose incident work lives in Jira moves the incident's issue, and the
incident follows, as :mod:`service.opsgenie` does for Opsgenie's app.

Auth (MEDIC_JIRA_WEBHOOK_SECRET): a webhook registered with that secret (System > WebHooks, Jira Cloud
since 2024, Jira Data Center 10) signs each post, ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw
body>`` (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks;
https://confluence.atlassian.com/adminjiraserver/managing-webhooks-938846912.html); where a site cannot
sign (an older Data Center; a Jira Automation rule's *Send web request*, with a custom body that
carries the payload's fields below: its stock bodies do not), the secret itself as
``X-Medic-Token``, ``Authorization: Bearer`` or a basic-auth password. Compared in constant time;
anything else is :class:`WebhookRejected` (401).

Payload (event *Issue updated*, ``jira:issue_updated``): ``timestamp`` (ms), ``user`` (who did it),
``issue.key``, ``issue.fields.labels`` and ``issue.fields.status.statusCategory.key`` (after the
change), ``changelog.items`` (a ``status`` item when the status changed). The incident is the one whose
occurrence label (``<incident id>-<opened, UTC>``, or the bare id on issues filed before) the issue
carries; the incident also checks that the issue is its own (its ``jira_key``), so moving last week's
issue of the same service changes nothing today.

    status moved into the In Progress category   -> acknowledge
    status moved into the Done category          -> resolve by hand ("moved to <status> in Jira")
    anything else (To Do, comments, fields)      -> ignored (answered 202, with why)

Medic's own moves come back through the same webhook: its close at resolution (the incident is resolved
or merged by then: refused) and its reopen when an incident opens again. Those are told apart by the
incident itself, from what it did (see ``IncidentWorkflow._check_jira``): a status event from before
Medic last moved the issue, or while its own close stands, is not a person's. Where Medic's Jira user is
known here (MEDIC_JIRA_USER: a Data Center user name, or an e-mail address a site shows), its events are
ignored at once.
"""

import hmac
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from medic.keys import INCIDENT_ID_PATTERN
from service.credentials import presented_secret

__all__ = [
    "SIGNATURE_HEADER",
    "TOKEN_HEADER",
    "JiraAction",
    "JiraIgnored",
    "WebhookRejected",
    "incident_of",
    "parse_event",
    "verify",
]

SIGNATURE_HEADER = "X-Hub-Signature"
TOKEN_HEADER = "X-Medic-Token"  # noqa: S105 (a header name, not a secret)
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# An occurrence label: the incident id and when it opened (workflows.notifier._occurrence_label).
_OCCURRENCE = re.compile(r"(?P<id>.+)-[0-9]{8}T[0-9]{6}Z")


def _cut(value: object) -> object:
    """A string cut to 255 characters (what Medic reads of it); anything else as it is."""
    return value[:255] if isinstance(value, str) else value


class WebhookRejected(Exception):
    """Neither signed with the secret nor carrying it (answered 401)."""


def verify(
    secret: str | None,
    body: bytes,
    *,
    signature: str | None,
    token: str | None,
    authorization: str | None,
) -> None:
    """A post is Jira's when its ``X-Hub-Signature`` is the body's HMAC with the secret, or when it
    presents the secret (``X-Medic-Token``, Bearer or basic-auth password)."""
    if not secret:
        raise WebhookRejected("Jira webhooks are not configured here (MEDIC_JIRA_WEBHOOK_SECRET)")
    expected = hmac.new(secret.encode(), body, "sha256").hexdigest()
    signed = _SIGNATURE.fullmatch((signature or "").strip())
    offered = [c for c in (token, presented_secret(authorization)) if c]
    if not signed and not offered:
        raise WebhookRejected(f"no {SIGNATURE_HEADER}, {TOKEN_HEADER}, Basic or Bearer credentials")
    # every candidate compared, so the time taken says nothing about which one was close
    matches = [hmac.compare_digest(expected, signed.group(1).lower())] if signed else []
    matches += [hmac.compare_digest(secret.encode(), c.encode()) for c in offered]
    if not any(matches):
        raise WebhookRejected(
            f"neither {SIGNATURE_HEADER} nor the credentials match MEDIC_JIRA_WEBHOOK_SECRET"
        )


class _Category(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str | None = Field(default=None, max_length=50)


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=255)
    status_category: _Category | None = Field(default=None, alias="statusCategory")


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore")
    labels: list[str] = Field(default_factory=list, max_length=1000)
    status: _Status | None = None


class _Issue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str = Field(max_length=255)
    fields: _Fields = Field(default_factory=_Fields)


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    account_id: str | None = Field(default=None, alias="accountId", max_length=255)
    name: str | None = Field(default=None, max_length=255)
    key: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, alias="emailAddress", max_length=255)
    display_name: str | None = Field(default=None, alias="displayName", max_length=255)


class _Item(BaseModel):
    """One changed field. Its ``toString`` is the field's new value in full (a description, a long text
    field edited on the same screen as the move): cut, never refused, so that such an event is not a 400
    (and a MedicWebhookRefused alert) and its status change is not lost with it."""

    model_config = ConfigDict(extra="ignore")
    field: str | None = Field(default=None, max_length=255)
    to_string: Annotated[str | None, BeforeValidator(_cut)] = Field(default=None, alias="toString")


class _Changelog(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: list[_Item] = Field(default_factory=list, max_length=1000)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    webhook_event: str = Field(alias="webhookEvent", max_length=100)
    timestamp: int | None = None
    user: _User | None = None
    issue: _Issue | None = None
    changelog: _Changelog | None = None


class JiraAction(BaseModel):
    """What a move of an incident's issue asks of the incident."""

    incident_id: str
    verb: Literal["acknowledge", "resolve"]
    actor: str
    reason: str = ""
    issue_key: str
    at: datetime | None = Field(default=None, description="when it happened in Jira (the event's timestamp)")


class JiraIgnored(BaseModel):
    """An event Medic does not act on, and why (said in the answer)."""

    incident_id: str | None = None
    why: str


def incident_of(labels: list[str]) -> str | None:
    """The incident whose issue carries ``labels``: its occurrence label's id (or a bare incident id)."""
    for label in labels:
        found = _OCCURRENCE.fullmatch(label)
        head = found.group("id") if found else label
        if INCIDENT_ID_PATTERN.fullmatch(head):
            return head
    return None


def _medic_did_it(user: _User | None, medic_user: str | None) -> bool:
    if user is None or not medic_user:
        return False
    mine = medic_user.strip().casefold()
    return any(
        (v or "").strip().casefold() == mine for v in (user.name, user.key, user.email, user.account_id)
    )


def parse_event(body: bytes, *, medic_user: str | None = None) -> JiraAction | JiraIgnored:
    """The action a Jira webhook post asks for, or why Medic leaves it. ``medic_user``: Medic's own Jira
    user (MEDIC_JIRA_USER), whose moves are ignored. Raises ValueError for a body that is not a Jira
    webhook payload."""
    try:
        event = _Payload.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValueError(f"not a Jira webhook payload: {where}: {first['msg']}") from err
    if event.issue is None:
        return JiraIgnored(why=f"{event.webhook_event}: no issue")
    incident = incident_of(event.issue.fields.labels)
    if incident is None:
        return JiraIgnored(why=f"{event.issue.key} is no issue Medic opened (no incident label)")
    if event.webhook_event != "jira:issue_updated":
        return JiraIgnored(incident_id=incident, why=f"{event.webhook_event}: Medic acts on issue updates")
    moved = [i for i in (event.changelog.items if event.changelog else []) if i.field == "status"]
    if not moved:
        return JiraIgnored(incident_id=incident, why=f"{event.issue.key}: its status did not change")
    if _medic_did_it(event.user, medic_user):
        return JiraIgnored(incident_id=incident, why=f"{event.issue.key} moved by Medic itself")
    status = event.issue.fields.status
    category = (status.status_category.key if status and status.status_category else None) or ""
    name = (status.name if status else None) or moved[-1].to_string or "?"
    user = event.user or _User()
    actor = (user.display_name or user.name or user.email or user.account_id or "someone in Jira")[:200]
    at = datetime.fromtimestamp(event.timestamp / 1000, tz=UTC) if event.timestamp else None
    common = {"incident_id": incident, "actor": actor, "issue_key": event.issue.key, "at": at}
    if category == "indeterminate":
        return JiraAction(verb="acknowledge", **common)
    if category == "done":
        return JiraAction(verb="resolve", reason=f"moved {event.issue.key} to {name} in Jira", **common)
    return JiraIgnored(
        incident_id=incident, why=f"{event.issue.key} moved to {name} ({category or 'no category'})"
    )
