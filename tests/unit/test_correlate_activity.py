"""What a settling incident asks Prometheus (activities/correlate.py): one ALERTS query serves every
incident asking within cache_seconds, also those that ask while it runs (a storm asks all at once)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from activities.correlate import AlertingRequest, CorrelationActivities
from medic.ports import TransientError
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


def test_without_prometheus_nothing_is_known() -> None:
    activities = CorrelationActivities(source=None, catalog=shop)
    assert activities.alerting(AlertingRequest(services=["orders-db"])).known is False
