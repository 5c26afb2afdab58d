"""What a settling incident asks Prometheus (activities/correlate.py): one ALERTS query serves every
incident asking within cache_seconds, also those that ask while it runs (a storm asks all at once).
And what it takes from Alertmanager for a firing cause: that cause's held alerts only, as the webhook
sends them."""

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from activities.correlate import (
    AlertingRequest,
    CorrelationActivities,
    HandOverAnswer,
    HandOverRequest,
    StillHeldAnswer,
    StillHeldRequest,
)
from medic.alerts import HELD_SOURCE, AlertmanagerWebhook, AlertStatus
from medic.ports import TransientError
from medic.redact import REDACTED
from tests.support.shop import shop


class SlowPrometheus:
    def __init__(self) -> None:
        self.asked = 0
        self.down = False
        self._lock = threading.Lock()

    def active_alerts(self) -> list[dict[str, str]]:
        with self._lock:
            self.asked += 1
        time.sleep(0.05)  # a query in flight while the others arrive
        if self.down:
            raise TransientError("Prometheus unreachable")
        return [{"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending"}]


def test_concurrent_askers_share_one_query_and_the_answer_is_cached() -> None:
    source, clock = SlowPrometheus(), [100.0]
    activities = CorrelationActivities(source=source, catalog=shop, cache_seconds=2.0, clock=lambda: clock[0])
    request = AlertingRequest(services=["orders-db", "payments"])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: activities.alerting(request), range(8)))
    assert source.asked == 1
    assert all(a.known and a.alerting == {"orders-db": ["PostgresDown (pending)"]} for a in answers)
    clock[0] += 2.5  # past cache_seconds: asked again
    source.down = True
    assert activities.alerting(request).known is False and source.asked == 2
    # A Prometheus that did not answer is not asked again within cache_seconds either: a storm of
    # settling incidents asking every few seconds would queue behind its timeouts.
    with ThreadPoolExecutor(8) as pool:
        assert not any(a.known for a in pool.map(lambda _: activities.alerting(request), range(8)))
    assert source.asked == 2
    clock[0] += 2.5
    source.down = False
    assert activities.alerting(request).known and source.asked == 3


def test_the_answer_says_whether_held_alerts_can_be_taken() -> None:
    """Asking again while a cause is pending is worth it only where a firing cause can be taken."""
    request = AlertingRequest(services=["orders-db"])
    alone = CorrelationActivities(source=SlowPrometheus(), catalog=shop)
    assert alone.alerting(request).takes_held is False

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        return []

    both = CorrelationActivities(source=SlowPrometheus(), catalog=shop, held=Held([]), deliver=deliver)
    assert both.alerting(request).takes_held is True


def test_without_prometheus_nothing_is_known() -> None:
    activities = CorrelationActivities(source=None, catalog=shop)
    assert activities.alerting(AlertingRequest(services=["orders-db"])).known is False


class Held:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        return self.items


def _item(labels: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {},
        "startsAt": "2026-12-05T01:00:00.123Z",  # Alertmanager writes milliseconds
        "endsAt": "2026-12-05T01:05:00.123Z",
        "updatedAt": "2026-12-05T01:00:00.123Z",
        "fingerprint": "0123456789abcdef",
        "receivers": [{"name": "medic"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        **overrides,
    }


async def test_hand_over_takes_only_the_asked_causes_held_alerts() -> None:
    delivered: list[tuple[AlertmanagerWebhook, str]] = []

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        delivered.append((payload, source))
        return ["incident-orders-db"]

    held = Held(
        [
            _item({"alertname": "PostgresDown", "service": "orders-db"}),
            _item({"alertname": "HighErrorRate", "service": "payments"}),  # not a cause asked about
            _item({"alertname": "PostgresDown", "service": "orders-db", "pod": "db-1"}, startsAt="yesterday"),
            {"labels": "not a label set"},  # malformed: left out
        ]
    )
    activities = CorrelationActivities(source=None, catalog=shop, held=held, deliver=deliver)
    answer = await activities.hand_over_held(HandOverRequest(services=["orders-db"], asked_by="incident-x"))
    assert answer.known and answer.handed == {"orders-db": ["PostgresDown"]}
    assert answer.incidents == ["incident-orders-db"]
    ((payload, source),) = delivered
    (alert,) = payload.alerts
    # Firing until Alertmanager's endsAt (unless it delivers it), with its fingerprint and receiver.
    assert source == HELD_SOURCE and alert.status is AlertStatus.FIRING
    assert alert.endsAt == datetime(2026, 12, 5, 1, 5, 0, 123000, tzinfo=UTC)
    assert alert.fingerprint == "0123456789abcdef" and payload.receiver == "medic"


async def test_hand_over_without_alertmanager_or_when_it_fails_knows_nothing() -> None:
    class Down:
        async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
            raise TransientError("Alertmanager unreachable")

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        raise AssertionError("nothing to deliver")

    request = HandOverRequest(services=["orders-db"], asked_by="incident-x")
    assert (await CorrelationActivities(source=None, catalog=shop).hand_over_held(request)).known is False
    down = CorrelationActivities(source=None, catalog=shop, held=Down(), deliver=deliver)
    assert (await down.hand_over_held(request)).known is False
    nothing = CorrelationActivities(source=None, catalog=shop, held=Held([]), deliver=deliver)
    assert (await nothing.hand_over_held(request)) == HandOverAnswer(known=True)


async def test_alert_names_in_the_answers_are_redacted_they_go_into_history() -> None:
    leaky = {"alertname": "Leak AKIAABCDEFGHIJKLMNOP", "service": "orders-db"}

    class Prometheus:
        def active_alerts(self) -> list[dict[str, str]]:
            return [{**leaky, "alertstate": "firing"}]

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        return ["incident-orders-db"]

    activities = CorrelationActivities(
        source=Prometheus(), catalog=shop, held=Held([_item(leaky)]), deliver=deliver, cache_seconds=0
    )
    answer = activities.alerting(AlertingRequest(services=["orders-db"]))
    assert answer.alerting == {"orders-db": [f"Leak {REDACTED} (firing)"]} and answer.firing == ["orders-db"]
    handed = await activities.hand_over_held(HandOverRequest(services=["orders-db"], asked_by="incident-x"))
    assert handed.handed == {"orders-db": [f"Leak {REDACTED}"]}


async def test_still_held_asks_for_muted_alerts_too_and_answers_their_ends() -> None:
    """A taken alert silenced or inhibited since is still firing: it must not be judged gone."""
    asked: list[bool] = []

    class Muting(Held):
        async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
            asked.append(muted)
            return self.items if muted else []

    activities = CorrelationActivities(
        source=None, catalog=shop, held=Muting([_item({"alertname": "PostgresDown", "service": "orders-db"})])
    )
    answer = await activities.still_held(StillHeldRequest(fingerprints=["0123456789abcdef", "gone"]))
    assert asked == [True]
    assert answer == StillHeldAnswer(
        known=True, until={"0123456789abcdef": datetime(2026, 12, 5, 1, 5, 0, 123000, tzinfo=UTC)}
    )


async def test_a_clusters_incident_hears_of_its_own_clusters_causes_only() -> None:
    """MEDIC_INCIDENTS_PER_CLUSTER: prod-eu's checkout asked about orders-db heard staging's alert (a
    Prometheus and an Alertmanager holding every cluster's) and took staging's held alerts as its cause's.
    An alert naming no cluster still counts; an incident of no cluster hears of every one, as before."""
    staging = {"alertname": "PostgresDown", "service": "orders-db", "cluster": "staging"}
    local = {"alertname": "PostgresReplicationLag", "service": "orders-db"}

    class Prometheus:
        alerts = [{**staging, "alertstate": "firing"}]

        def active_alerts(self) -> list[dict[str, str]]:
            return self.alerts

    delivered: list[AlertmanagerWebhook] = []

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        delivered.append(payload)
        return ["incident-staging--orders-db"]

    source = Prometheus()
    activities = CorrelationActivities(
        source=source,
        catalog=shop,
        held=Held([_item(staging)]),
        deliver=deliver,
        cache_seconds=0,
        cluster_label="cluster",
    )
    prod = AlertingRequest(services=["orders-db"], cluster="prod-eu")
    answer = activities.alerting(prod)
    assert answer.known and answer.alerting == {} and answer.firing == []
    handed = await activities.hand_over_held(
        HandOverRequest(services=["orders-db"], asked_by="incident-prod-eu--checkout", cluster="prod-eu")
    )
    assert handed == HandOverAnswer(known=True) and delivered == []
    everyone = activities.alerting(AlertingRequest(services=["orders-db"]))
    assert everyone.alerting == {"orders-db": ["PostgresDown (firing)"]}
    source.alerts = [{**staging, "alertstate": "firing"}, {**local, "alertstate": "pending"}]
    assert activities.alerting(prod).alerting == {"orders-db": ["PostgresReplicationLag (pending)"]}
