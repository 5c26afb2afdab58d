"""Deliveries for merged incidents go straight to the incident they merged into (a shortcut learned
from visibility), and a redirect that no longer holds falls back to the incident's own workflow."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from service.ingest import MERGED_QUERY, MergeRedirects, TemporalIncidentSink, _Summaries
from service.settings import Settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def batch(*names: str, status: AlertStatus = AlertStatus.FIRING) -> AlertBatch:
    alerts = [
        Alert(fingerprint=n, status=status, labels={"alertname": n, "service": "checkout"}, starts_at=NOW)
        for n in names
    ]
    return AlertBatch(alerts=alerts, received_at=NOW)


class _Execution:
    def __init__(self, workflow_id: str, merged_into: str | None) -> None:
        self.id = workflow_id
        self._memo = {"merged_into": merged_into}

    async def memo(self) -> dict[str, Any]:
        return self._memo


class _Handle:
    def __init__(self, client: "FakeTemporal", workflow_id: str) -> None:
        self._client, self._id = client, workflow_id

    async def signal(self, name: str, arg: Any, **_: Any) -> None:
        if self._id not in self._client.running:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self._client.signals.append((self._id, name, [a.fingerprint for a in arg.alerts]))


class FakeTemporal:
    """Just what the sink and the redirects call: signals, signal-with-start, a visibility list."""

    def __init__(self, *, running: set[str], merged: dict[str, str]) -> None:
        self.running = running
        self.merged = merged
        self.signals: list[tuple[str, str, list[str]]] = []
        self.starts: list[tuple[str, list[str], str]] = []
        self.lists: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self, workflow_id)

    async def start_workflow(self, _run: Any, _input: Any, **kw: Any) -> None:
        self.running.add(kw["id"])
        self.starts.append(
            (kw["id"], [a.fingerprint for a in kw["start_signal_args"][0].alerts], kw["static_summary"])
        )

    async def list_workflows(self, query: str, **_: object) -> AsyncIterator[_Execution]:
        self.lists.append(query)
        for workflow_id in sorted(self.running):
            yield _Execution(workflow_id, self.merged.get(workflow_id))


def sink_for(fake: FakeTemporal, redirects: MergeRedirects | None) -> TemporalIncidentSink:
    return TemporalIncidentSink(cast(Client, fake), Settings(_env_file=None), redirects=redirects)


async def test_redirects_follow_merges_of_merges_and_survive_a_cycle() -> None:
    fake = FakeTemporal(
        running={"incident-a", "incident-b", "incident-c", "incident-x", "incident-y"},
        merged={
            "incident-a": "incident-b",
            "incident-b": "incident-c",
            "incident-x": "incident-y",
            "incident-y": "incident-x",
        },
    )
    redirects = MergeRedirects(cast(Client, fake))
    await redirects.refresh()
    assert fake.lists == [MERGED_QUERY]
    assert await redirects.target("incident-a") == "incident-c"
    assert await redirects.target("incident-b") == "incident-c"
    assert await redirects.target("incident-c") is None
    assert await redirects.target("incident-unknown") is None
    assert await redirects.target("incident-x") == "incident-y"  # and no endless loop


async def test_a_merged_incidents_delivery_is_signalled_to_the_incident_it_merged_into() -> None:
    fake = FakeTemporal(
        running={"incident-checkout", "incident-orders-db"},
        merged={"incident-checkout": "incident-orders-db"},
    )
    redirects = MergeRedirects(cast(Client, fake))
    await redirects.refresh()
    assert await sink_for(fake, redirects).deliver("incident-checkout", None, batch("a1", "a2"))
    assert fake.signals == [("incident-orders-db", "alerts", ["a1", "a2"])]
    assert fake.starts == []  # the merged incident's workflow was not touched


async def test_a_redirect_to_an_incident_that_closed_falls_back_and_is_forgotten() -> None:
    fake = FakeTemporal(running={"incident-checkout"}, merged={})
    redirects = MergeRedirects(cast(Client, fake))
    fake.merged["incident-checkout"] = "incident-orders-db"  # it merged; the parent has closed since
    await redirects.refresh()
    sink = sink_for(fake, redirects)
    assert await sink.deliver("incident-checkout", None, batch("a1"))
    assert [s[0] for s in fake.starts] == ["incident-checkout"] and fake.signals == []
    assert await redirects.target("incident-checkout") is None
    # A resolution for a merged incident whose parent closed goes to its own workflow as a plain signal.
    assert await sink.deliver("incident-checkout", None, batch("a1", status=AlertStatus.RESOLVED))
    assert fake.signals == [("incident-checkout", "alerts", ["a1"])]


async def stopped(redirects: MergeRedirects) -> None:
    """Until the reader has stopped by itself (a bound, not a timing assertion)."""
    for _ in range(500):
        if not redirects.reading:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the reader never stopped")


async def test_visibility_is_read_when_deliveries_pour_in_and_not_when_idle() -> None:
    fake = FakeTemporal(running={"incident-checkout"}, merged={})
    redirects = MergeRedirects(cast(Client, fake), interval=0.01, busy=3, calm=3600)
    assert await redirects.target("incident-checkout") is None  # the first delivery: the table is read
    await stopped(redirects)
    assert fake.lists == [MERGED_QUERY]
    for _ in range(2):  # an ordinary pace, with the table fresh: not read again
        await redirects.target("incident-checkout")
    await stopped(redirects)
    assert len(fake.lists) == 1
    fake.merged["incident-checkout"] = "incident-orders-db"
    await redirects.target("incident-checkout", alerts=5)  # a storm: read again, and the merge is learned
    await stopped(redirects)
    assert len(fake.lists) == 2 and await redirects.target("incident-checkout") == "incident-orders-db"


def test_a_start_summary_is_worked_out_once_per_incident_for_a_while() -> None:
    summaries = _Summaries(ttl=3600)
    first = summaries.get("incident-checkout", batch("HighLatency"))
    assert "HighLatency" in first
    assert summaries.get("incident-checkout", batch("DiskFull")) == first
    assert "DiskFull" in summaries.get("incident-payments", batch("DiskFull"))
    expired = _Summaries(ttl=0)
    expired.get("incident-checkout", batch("HighLatency"))
    assert "DiskFull" in expired.get("incident-checkout", batch("DiskFull"))


async def test_a_delivery_after_a_pause_reads_the_merges_first_and_names_the_holder() -> None:
    """The first delivery after a quiet spell went to the merged incident, which forwarded it, and the
    webhook's answer named the merged incident (a review, 2026-12-06)."""
    fake = FakeTemporal(
        running={"incident-checkout", "incident-orders-db"},
        merged={"incident-checkout": "incident-orders-db"},
    )
    redirects = MergeRedirects(cast(Client, fake), calm=3600)
    sink = sink_for(fake, redirects)
    assert await sink.deliver("incident-checkout", None, batch("a1")) == "incident-orders-db"
    assert fake.signals == [("incident-orders-db", "alerts", ["a1"])] and fake.starts == []
    assert await sink.deliver("incident-payments", None, batch("p1")) == "incident-payments"


async def test_merges_that_cannot_be_read_do_not_fail_a_delivery() -> None:
    class Down(FakeTemporal):
        async def list_workflows(self, query: str, **_: object) -> AsyncIterator[_Execution]:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
            yield  # pragma: no cover

    fake = Down(running=set(), merged={})
    sink = sink_for(fake, MergeRedirects(cast(Client, fake)))
    assert await sink.deliver("incident-checkout", None, batch("a1")) == "incident-checkout"
    assert [s[0] for s in fake.starts] == ["incident-checkout"]


class _SlowVisibility(FakeTemporal):
    """A visibility whose list takes ``delay`` seconds (Elasticsearch under load, Temporal Cloud
    throttling with the client's retries; a hung RPC), and the ``rpc_timeout`` each list was given."""

    def __init__(self, delay: float) -> None:
        super().__init__(running={"incident-checkout"}, merged={})
        self.delay = delay
        self.timeouts: list[object] = []

    async def list_workflows(self, query: str, **kw: object) -> AsyncIterator[_Execution]:
        self.lists.append(query)
        self.timeouts.append(kw.get("rpc_timeout"))
        await asyncio.sleep(self.delay)
        for workflow_id in sorted(self.merged):
            yield _Execution(workflow_id, self.merged[workflow_id])


async def _latencies(fake: _SlowVisibility, n: int, gap: float) -> list[float]:
    sink = sink_for(fake, MergeRedirects(cast(Client, fake)))
    out = []
    for _ in range(n):
        began = time.monotonic()
        await sink.deliver("incident-checkout", None, batch("a1"))
        out.append(time.monotonic() - began)
        await asyncio.sleep(gap)
    return out


@pytest.mark.parametrize("delay", [10**6, 1.5])
async def test_slow_or_hung_visibility_does_not_hold_every_delivery(delay: float) -> None:
    """Waiting for the merges to be read is for a visibility that answers: a read that hangs or takes
    1.5 s holds one delivery for ``wait`` (0.2 s) at most, and the rest go on at once (a review: every
    later delivery waited a whole second, for ever once a read hung); each list has an RPC timeout."""
    fake = _SlowVisibility(delay)
    took = await _latencies(fake, 6, 0.4)
    assert max(took) < 0.35 and max(took[1:]) < 0.1, [round(t, 2) for t in took]
    assert fake.timeouts and all(t is not None for t in fake.timeouts)


async def test_deliveries_in_the_same_turn_as_a_read_wait_for_it() -> None:
    """Two incidents' deliveries flushed in the same turn: the read the first one started had not
    run yet, so the second took it for a read long in flight and went to the merged incident (a
    review); both wait for it now, and both reach the holder."""

    class Quick(FakeTemporal):
        async def list_workflows(self, query: str, **_: object) -> AsyncIterator[_Execution]:
            self.lists.append(query)
            await asyncio.sleep(0.02)
            for workflow_id in sorted(self.running):
                yield _Execution(workflow_id, self.merged.get(workflow_id))

    fake = Quick(
        running={"incident-a", "incident-b", "incident-holder"},
        merged={"incident-a": "incident-holder", "incident-b": "incident-holder"},
    )
    redirects = MergeRedirects(cast(Client, fake), calm=3600)
    found = await asyncio.gather(redirects.target("incident-a"), redirects.target("incident-b"))
    assert list(found) == ["incident-holder", "incident-holder"]
