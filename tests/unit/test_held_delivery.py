"""The worker's hand-over of alerts taken from Alertmanager (service.held): the webhook's limits per alert
(one the webhook would refuse is left out, the others go), the source they are marked with, signals split
to fit as the API splits them, and Temporal refusing a signal as a permanent error (no retry helps)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from medic.alerts import HELD_SOURCE, AlertmanagerWebhook, AlertStatus, WebhookAlert
from medic.incident import AlertBatch
from medic.ports import PermanentError
from medic.topology import ServiceContext
from service.held import held_delivery
from service.ingest import Batch, DeliveryRefused
from service.settings import Settings
from tests.support.shop import shop

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


class Sink:
    def __init__(self, *, refuse: bool = False) -> None:
        self.batches: list[tuple[str, AlertBatch]] = []
        self.refuse = refuse

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> str | None:
        if self.refuse:
            raise DeliveryRefused("Blob data size exceeds limit")
        assert isinstance(batch, AlertBatch)
        self.batches.append((incident_id, batch))
        return incident_id


def payload(*labels: dict[str, str], annotations: dict[str, Any] | None = None) -> AlertmanagerWebhook:
    return AlertmanagerWebhook(
        version="4",
        status=AlertStatus.FIRING,
        receiver="medic",
        alerts=[
            WebhookAlert(status=AlertStatus.FIRING, labels=lab, annotations=annotations or {}, startsAt=T0)
            for lab in labels
        ],
    )


def db(pod: str, **extra: str) -> dict[str, str]:
    return {"alertname": "PostgresDown", "service": "orders-db", "pod": pod, **extra}


async def test_an_alert_the_webhook_would_refuse_is_left_out_and_the_rest_is_taken() -> None:
    sink, settings = Sink(), Settings(_env_file=None, max_label_value_bytes=64)
    deliver = held_delivery(sink, shop(), settings)
    taken = await deliver(payload(db("db-0"), db("db-1", note="x" * 65)), HELD_SOURCE)
    assert taken == ["incident-orders-db"]
    ((incident, batch),) = sink.batches
    assert incident == "incident-orders-db"
    assert [a.labels["pod"] for a in batch.alerts] == ["db-0"]
    assert all(a.source == HELD_SOURCE for a in batch.alerts)
    # Nothing the webhook would take: nothing handed over, no incident started.
    assert await deliver(payload(db("db-1", note="x" * 65)), HELD_SOURCE) == []
    assert len(sink.batches) == 1


async def test_signals_are_split_to_fit_and_a_refused_one_is_permanent() -> None:
    sink = Sink()
    settings = Settings(_env_file=None, max_signal_bytes=65_536)
    pods = [db(f"db-{n}") for n in range(120)]
    note = {"description": "y" * 600}
    assert await held_delivery(sink, shop(), settings)(payload(*pods, annotations=note), HELD_SOURCE) == [
        "incident-orders-db"
    ]
    assert len(sink.batches) > 1
    assert sorted(a.labels["pod"] for _, b in sink.batches for a in b.alerts) == sorted(
        p["pod"] for p in pods
    )
    with pytest.raises(PermanentError, match="Temporal refused"):
        await held_delivery(Sink(refuse=True), shop(), settings)(payload(db("db-0")), HELD_SOURCE)


async def test_an_alert_too_large_for_a_signal_alone_is_left_out_and_the_rest_is_taken() -> None:
    """One alert the webhook would refuse as a whole delivery (413: larger than a signal on its own) does
    not hold back the others: they go, it is left for the webhook."""
    sink = Sink()
    settings = Settings(_env_file=None, max_signal_bytes=65_536)
    big = AlertmanagerWebhook(
        version="4",
        status=AlertStatus.FIRING,
        receiver="medic",
        alerts=[
            WebhookAlert(status=AlertStatus.FIRING, labels=db("db-0"), startsAt=T0),
            WebhookAlert(
                status=AlertStatus.FIRING,
                labels=db("db-1"),
                annotations={f"note{n}": "z" * 4000 for n in range(20)},
                startsAt=T0,
            ),
        ],
    )
    assert await held_delivery(sink, shop(), settings)(big, HELD_SOURCE) == ["incident-orders-db"]
    assert [a.labels["pod"] for _, b in sink.batches for a in b.alerts] == ["db-0"]
    # Alone, nothing is handed over.
    lone = big.model_copy(update={"alerts": big.alerts[1:]})
    assert await held_delivery(sink, shop(), settings)(lone, HELD_SOURCE) == []
    assert len(sink.batches) == 1
