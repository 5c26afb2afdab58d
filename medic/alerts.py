"""Alertmanager (and Grafana alerting) webhook payloads, and Medic's normalised alert.

The wire models are tolerant of what real senders omit (per-alert ``status``,
``fingerprint``, ``generatorURL``, ``truncatedAlerts``) and keep unknown fields, since
newer Alertmanager and Grafana versions add some. Everything downstream works on
:class:`Alert`, which has no optional identity fields.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medic.fingerprint import label_fingerprint
from medic.redact import redact_data
from medic.subject import Subject

__all__ = [
    "HELD_SOURCE",
    "Alert",
    "AlertStatus",
    "AlertmanagerWebhook",
    "WebhookAlert",
    "normalise_webhook",
    "utc",
]

# An alert taken from Alertmanager's API before its webhook delivered it (activities/correlate.py): firing
# until its ``ends_at`` (Alertmanager's own "valid until"), unless Alertmanager delivers it meanwhile.
HELD_SOURCE = "alertmanager-api"

# Go's zero time, which Alertmanager sends for "no end yet".
_GO_ZERO_YEAR = 1
_LABEL_VALUE_MAX = 4096
_URL_MAX = 4096
# The links a sender gives beside its generator URL, by the name Medic shows them under.
GRAFANA_LINKS = {"dashboardURL": "dashboard", "panelURL": "panel", "silenceURL": "silence"}


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def _zero_time_to_none(value: datetime | None) -> datetime | None:
    if value is None or value.year <= _GO_ZERO_YEAR:
        return None
    return value


class WebhookAlert(BaseModel):
    """One alert as Alertmanager's webhook v4 (or Grafana's v1) sends it."""

    model_config = ConfigDict(extra="allow")

    status: AlertStatus | None = None
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - wire name
    endsAt: datetime | None = None  # noqa: N815 - wire name
    generatorURL: str | None = None  # noqa: N815 - wire name
    fingerprint: str | None = Field(default=None, max_length=128)
    # Grafana's (grafana/alerting templates.ExtendedAlert): where to look and how to silence it there, and
    # the query's values when it fired (refId -> value); Alertmanager sends none of them
    # (never a reason to refuse a delivery: a link too long, or values of another shape, are left out)
    dashboardURL: Any = None  # noqa: N815 - wire name
    panelURL: Any = None  # noqa: N815 - wire name
    silenceURL: Any = None  # noqa: N815 - wire name
    values: Any = None

    @field_validator("endsAt")
    @classmethod
    def _zero_end(cls, value: datetime | None) -> datetime | None:
        return _zero_time_to_none(value)

    @field_validator("labels")
    @classmethod
    def _label_values(cls, value: dict[str, str]) -> dict[str, str]:
        for name, label in value.items():
            if not name:
                raise ValueError("label names must not be empty")
            if len(label) > _LABEL_VALUE_MAX:
                raise ValueError(f"label {name!r} is longer than {_LABEL_VALUE_MAX} characters")
        return value


class AlertmanagerWebhook(BaseModel):
    """The body Alertmanager posts to a ``webhook_configs`` receiver."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str | None = Field(default=None, max_length=8192)  # noqa: N815 - wire name
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815 - wire name
    status: AlertStatus
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815 - wire name
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815 - wire name
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815 - wire name
    externalURL: str | None = None  # noqa: N815 - wire name
    alerts: list[WebhookAlert] = Field(min_length=1)

    @property
    def is_grafana(self) -> bool:
        """Grafana alerting sends version "1" plus Grafana-only fields such as orgId."""
        extra: dict[str, Any] = self.model_extra or {}
        return self.version == "1" or "orgId" in extra


class Alert(BaseModel):
    """Medic's normalised alert: identity always present, times timezone-aware UTC."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    source: str = "alertmanager"
    # Grafana's links (dashboard, panel, silence: GRAFANA_LINKS) and its query's values when it fired
    links: dict[str, str] = Field(default_factory=dict)
    values: str | None = None
    # The catalog service this alert is about, when the receiver could tell.
    service: str | None = None
    # The Kubernetes object it is about (medic.subject) and why it went to its service (medic.assign).
    subject: Subject | None = None
    why: str | None = None
    # The resolution of an alert no incident takes any more (medic.meta_alerts): it resolves the alert
    # where an incident holds it (one opened before the rule), and opens or adds nothing anywhere.
    closes_only: bool = False

    @property
    def name(self) -> str:
        """The alert rule (``alertname``). A sender that leaves it out gets the fingerprint instead, so
        two different unnamed alerts are never one "rule" in false-positive feedback."""
        return self.labels.get("alertname") or f"alert-{self.fingerprint}"


def utc(value: datetime) -> datetime:
    """Aware and in UTC (a naive time is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _status_of(alert: WebhookAlert, payload: AlertmanagerWebhook, received_at: datetime) -> AlertStatus:
    """Per-alert status when sent; otherwise inferred the way Alertmanager itself does."""
    if alert.status is not None:
        return alert.status
    if payload.status is AlertStatus.RESOLVED:
        return AlertStatus.RESOLVED
    if alert.endsAt is not None and utc(alert.endsAt) <= received_at:
        return AlertStatus.RESOLVED
    return AlertStatus.FIRING


def normalise_webhook(payload: AlertmanagerWebhook, *, received_at: datetime) -> list[Alert]:
    """Turn a webhook body into normalised alerts, filling fingerprint and status when omitted.

    Secrets are redacted here, before anything enters a workflow (``medic.redact``): label names and
    values, annotations, the generator URL and a sent fingerprint. The fingerprint is worked out from
    the labels as sent, as Alertmanager works it out (a mixed-version HA pair, one sending fingerprints
    and one not, still agrees; a secret registered later does not change an alert's identity); the
    hash says nothing of the values it was made from."""
    source = "grafana" if payload.is_grafana else "alertmanager"
    received = utc(received_at)
    # One check over the whole delivery: nothing to redact is the usual case (the storm path).
    sent = [
        [i.labels, i.annotations, i.generatorURL or "", i.fingerprint or "", _links(i)]
        for i in payload.alerts
    ]
    redacted: list[list[Any]] = redact_data(sent)
    alerts: list[Alert] = []
    for item, (labels, annotations, generator_url, fingerprint, links) in zip(
        payload.alerts, redacted, strict=True
    ):
        alerts.append(
            Alert(
                fingerprint=fingerprint or label_fingerprint(item.labels),
                status=_status_of(item, payload, received),
                labels=dict(labels),
                annotations=dict(annotations),
                starts_at=utc(item.startsAt),
                ends_at=utc(item.endsAt) if item.endsAt is not None else None,
                generator_url=generator_url or None,
                source=source,
                links=dict(links),
                values=_values(item.values),
            )
        )
    return alerts


def _links(item: WebhookAlert) -> dict[str, str]:
    """Grafana's dashboard, panel and silence links, where sent (http(s) only: a card links them)."""
    sent = {name: getattr(item, wire) for wire, name in GRAFANA_LINKS.items()}
    return {
        k: v
        for k, v in sent.items()
        if isinstance(v, str) and v.startswith(("https://", "http://")) and len(v) <= _URL_MAX
    }


def _values(values: object) -> str | None:
    """Grafana's query values when the alert fired, as people read them: ``A=1.82, B=1`` (a refId's
    value of another shape is left out)."""
    if not isinstance(values, dict):
        return None
    said = [
        f"{str(ref)[:40]}={number:g}"
        for ref, value in list(values.items())[:20]
        if (number := _number(value)) is not None
    ]
    return ", ".join(said)[:300] or None


def _number(value: object) -> float | None:
    """A JSON number as a float; None for another type, or an integer too large for one (10**400 made
    the delivery a 500, where the value is only shown)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None
