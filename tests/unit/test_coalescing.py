"""The coalescing sink: concurrent deliveries for one incident share one signal, and every request
learns the outcome of the signal that carried its alerts."""

import asyncio
from datetime import UTC, datetime

import pytest

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, AnomalyBatch
from medic.topology import ServiceContext
from service.ingest import CoalescingSink, TemporalUnavailable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def batch(*names: str) -> AlertBatch:
    alerts = [
        Alert(fingerprint=n, status=AlertStatus.FIRING, labels={"alertname": n}, starts_at=NOW) for n in names
    ]
    return AlertBatch(alerts=alerts, received_at=NOW, contexts=[ServiceContext(name="checkout")])


class RecordingSink:
    def __init__(self, fail: bool = False, *, gated: bool = False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail = fail
        self.in_flight = asyncio.Event()
        self.release: asyncio.Event | None = asyncio.Event() if gated else None

    async def deliver(
        self, incident_id: str, service: ServiceContext | None, b: AlertBatch | AnomalyBatch
    ) -> str | None:
        self.in_flight.set()
        if self.release is not None:
            await self.release.wait()  # the test decides when Temporal answers
        else:
            await asyncio.sleep(0.01)  # a round trip to Temporal
        if self.fail:
            raise TemporalUnavailable("down")
        assert isinstance(b, AlertBatch)
        self.calls.append((incident_id, [a.fingerprint for a in b.alerts]))
        return incident_id


async def test_concurrent_deliveries_share_one_signal_per_incident() -> None:
    inner = RecordingSink()
    sink = CoalescingSink(inner, window=0.02)
    results = await asyncio.gather(
        sink.deliver("incident-a", None, batch("1", "2")),
        sink.deliver("incident-a", None, batch("3")),
        sink.deliver("incident-b", None, batch("4")),
        sink.deliver("incident-a", None, batch("5")),
    )
    assert list(results) == ["incident-a", "incident-a", "incident-b", "incident-a"]
    assert sorted(inner.calls) == [("incident-a", ["1", "2", "3", "5"]), ("incident-b", ["4"])]


async def test_a_failed_signal_fails_every_request_it_carried() -> None:
    sink = CoalescingSink(RecordingSink(fail=True), window=0.02)
    outcomes = await asyncio.gather(
        sink.deliver("incident-a", None, batch("1")),
        sink.deliver("incident-a", None, batch("2")),
        return_exceptions=True,
    )
    assert all(isinstance(o, TemporalUnavailable) for o in outcomes)


async def test_large_batches_go_as_consecutive_signals_in_order() -> None:
    inner = RecordingSink()
    sink = CoalescingSink(inner, window=0, max_items=2)
    await asyncio.gather(
        sink.deliver("incident-a", None, batch("1", "2")), sink.deliver("incident-a", None, batch("3"))
    )
    assert inner.calls == [("incident-a", ["1", "2"]), ("incident-a", ["3"])]


async def test_a_caller_that_hangs_up_does_not_cancel_the_others() -> None:
    inner = RecordingSink()
    sink = CoalescingSink(inner, window=0.02)
    quitter = asyncio.create_task(sink.deliver("incident-a", None, batch("1")))
    stayer = asyncio.create_task(sink.deliver("incident-a", None, batch("2")))
    await asyncio.sleep(0.005)
    quitter.cancel()
    assert await stayer == "incident-a"
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert inner.calls == [("incident-a", ["1", "2"])]


async def test_group_commit_one_signal_in_flight_per_incident() -> None:
    """Without a window, what arrives while a signal is in flight goes together in the next one."""
    inner = RecordingSink(gated=True)
    sink = CoalescingSink(inner, window=0)
    first = asyncio.create_task(sink.deliver("incident-a", None, batch("1")))
    await inner.in_flight.wait()  # the first signal is in flight until released
    rest = [asyncio.create_task(sink.deliver("incident-a", None, batch(n))) for n in ("2", "3", "4")]
    for _ in range(3):
        await asyncio.sleep(0)  # each of them queues behind it
    assert inner.release is not None
    inner.release.set()
    assert await first and all(await asyncio.gather(*rest))
    assert inner.calls == [("incident-a", ["1"]), ("incident-a", ["2", "3", "4"])]
