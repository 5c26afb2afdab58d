"""The limits a webhook delivery must keep, checked after parsing and before anything reaches Temporal,
so a refusal changes nothing and names the setting that refused it (docs/configuration.md).

413 when the delivery as a whole is too large (``MEDIC_MAX_ALERTS_PER_DELIVERY``,
``MEDIC_MAX_INCIDENTS_PER_DELIVERY``, like ``MEDIC_MAX_BODY_BYTES``); 422 when one field or one alert is
(``MEDIC_MAX_LABEL_VALUE_BYTES``, ``MEDIC_MAX_ANNOTATION_VALUE_BYTES``, ``MEDIC_MAX_LABELS_PER_ALERT``,
``MEDIC_MAX_SIGNAL_BYTES``), with the field's path. Alertmanager retries neither: a refused delivery
is logged there, which is why the defaults sit far above what real alerts carry.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException

from medic.alerts import Alert, AlertmanagerWebhook
from medic.anomaly import MAX_AGE, MAX_AHEAD, MAX_SKEW, AnomalySignal
from medic.assign import Assignment
from medic.incident import AlertBatch, AnomalyBatch
from medic.limits import model_size
from service.api.body import PayloadError
from service.ingest import envelope_size
from service.settings import Settings

__all__ = [
    "check_alertmanager",
    "check_anomalies",
    "check_delivery_count",
    "check_fan_out",
    "check_fit",
    "unfit",
]

# What an item may grow by between this check and its signal (the catalog service name it is given).
_ASSIGN_SLACK = 256


def _refuse(path: str, message: str) -> PayloadError:
    return PayloadError(f"{path}: {message}", [{"field": path, "message": message}])


def check_delivery_count(count: int, settings: Settings, what: str = "alerts") -> None:
    if count > settings.max_alerts_per_delivery:
        raise HTTPException(
            413,
            f"{count} {what} in one request, over MEDIC_MAX_ALERTS_PER_DELIVERY "
            f"({settings.max_alerts_per_delivery}): set max_alerts in Alertmanager's webhook config (in "
            "Grafana, the webhook contact point's Max alerts; its default, 0, is unlimited)",
        )


def _labels(path: str, labels: dict[str, str], settings: Settings) -> None:
    if len(labels) > settings.max_labels_per_alert:
        raise _refuse(
            path, f"{len(labels)} labels, over MEDIC_MAX_LABELS_PER_ALERT ({settings.max_labels_per_alert})"
        )
    limit = settings.max_label_value_bytes
    for name, value in labels.items():
        for what, text in (("value", value), ("name", name)):
            size = len(text.encode())
            if size > limit:
                raise _refuse(
                    f"{path}.{name[:100]}",
                    f"label {what} of {size} bytes, over MEDIC_MAX_LABEL_VALUE_BYTES ({limit})",
                )


def _annotation(path: str, value: str | None, settings: Settings) -> None:
    limit = settings.max_annotation_value_bytes
    if value is not None and len(value.encode()) > limit:
        raise _refuse(path, f"{len(value.encode())} bytes, over MEDIC_MAX_ANNOTATION_VALUE_BYTES ({limit})")


def check_alertmanager(payload: AlertmanagerWebhook, settings: Settings) -> None:
    """Counts and sizes of an Alertmanager (or Grafana) delivery."""
    check_delivery_count(len(payload.alerts), settings)
    for i, alert in enumerate(payload.alerts):
        _labels(f"alerts[{i}].labels", alert.labels, settings)
        for name, value in alert.annotations.items():
            _annotation(f"alerts[{i}].annotations.{name[:100]}", value, settings)
        _annotation(f"alerts[{i}].generatorURL", alert.generatorURL, settings)


def check_anomalies(
    signals: Sequence[AnomalySignal], settings: Settings, *, multiple: bool, received_at: datetime
) -> None:
    """Sizes of anomaly signals (their count is checked before they are parsed), and their windows: one
    ending more than ``MAX_AHEAD`` after now would hold its incident open that long (one ending in 9999
    failed every task of its incident, and every later signal and alert of its service with it); one that
    ended more than ``MAX_AGE`` before now opened an incident and paged for an outage long over (the
    docs' example, posted 13 days after its window, a review 2026-12-06); one starting more than
    ``MAX_SKEW`` after now comes from a clock that is ahead. Medic's own scans hand over without this
    check (service.scans): a scan catching up after an outage carries windows up to its lookback old."""
    for i, signal in enumerate(signals):
        at = f"[{i}]." if multiple else ""
        _labels(f"{at}series", signal.series, settings)
        if signal.window.end > received_at + MAX_AHEAD:
            raise _refuse(
                f"{at}window.end",
                f"{_iso(signal.window.end)} is more than "
                f"{MAX_AHEAD.days} days after now: an anomaly's window is the stretch it was seen in "
                "(a forecast's may reach ahead, by 31 days at most)",
            )
        if signal.window.end < received_at - MAX_AGE:
            raise _refuse(
                f"{at}window.end",
                f"{_iso(signal.window.end)} is more than {_hours(MAX_AGE)} hours before now "
                f"({_iso(received_at)}): a finding that old is history, not an incident to open and page "
                "for; post findings as they are made, with their own times",
            )
        if signal.window.start > received_at + MAX_SKEW:
            raise _refuse(
                f"{at}window.start",
                f"{_iso(signal.window.start)} is more than {MAX_SKEW.seconds // 60} minutes after now "
                f"({_iso(received_at)}): an anomaly's window is the stretch it was seen in; is the "
                "detector's clock ahead?",
            )


def _iso(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def check_fan_out(assignments: Sequence[Assignment], settings: Settings, *, heartbeats: int = 0) -> None:
    """A delivery reaching more incidents (and heartbeats: each a workflow too) than a bounded hand-over
    can start is refused as a whole, before any of them starts (a partial fan-out answered 503 would
    repeat on every retry)."""
    if len(assignments) + heartbeats > settings.max_incidents_per_delivery:
        what = f"{len(assignments)} incidents (services or groups)"
        what += f" and {heartbeats} heartbeats" if heartbeats else ""
        raise HTTPException(
            413,
            f"the alerts name {what}, over "
            f"MEDIC_MAX_INCIDENTS_PER_DELIVERY ({settings.max_incidents_per_delivery}); group alerts by "
            "service in Alertmanager (group_by) or raise the limit",
        )


def check_fit(
    items: Sequence[Alert | AnomalySignal],
    batches: Sequence[AlertBatch | AnomalyBatch],
    settings: Settings,
    *,
    path: Callable[[int], str] = "alerts[{}]".format,
) -> None:
    """Every alert (or signal) must fit one Temporal signal on its own; larger deliveries are split."""
    for i, size, room in unfit(items, batches, settings)[:1]:
        raise _refuse(
            path(i),
            f"{size} bytes as a signal, over the {room} bytes one alert may take "
            f"(MEDIC_MAX_SIGNAL_BYTES {settings.max_signal_bytes}, less the incident's context)",
        )


def unfit(
    items: Sequence[Alert | AnomalySignal], batches: Sequence[AlertBatch | AnomalyBatch], settings: Settings
) -> list[tuple[int, int, int]]:
    """The items too large for one Temporal signal on their own: (index, size, room) each."""
    room = settings.max_signal_bytes - max((envelope_size(b) for b in batches), default=0) - _ASSIGN_SLACK
    sizes = ((i, model_size(item)) for i, item in enumerate(items))
    return [(i, size, room) for i, size in sizes if size > room]
