"""End to end with real processes: a gauge flips to 0, real Prometheus fires an alert, real
Alertmanager posts it to Medic's webhook (with the bearer token), an incident opens; the gauge
recovers, Alertmanager sends the resolution and the incident resolves after its quiet period."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.support.promstack import (
    MetricsTarget,
    ServerProcess,
    logs_of,
    metrics_target,
    running_alertmanager,
    running_prometheus,
)
from tests.support.stack import TOKEN, medic_stack, wait_until

pytestmark = pytest.mark.e2e

GAUGE = "medic_e2e_healthy"
SERVICE = "checkout"
ALERT = "CheckoutUnhealthy"
JOB = "medic-e2e"
BOUND = 60.0  # seconds; a bound on each wait, never a timing assertion


def prometheus_config(target: str, alertmanager: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }


def alert_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "medic-e2e",
                "rules": [
                    {
                        "alert": ALERT,
                        "expr": f"{GAUGE} == 0",
                        "for": "0s",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "{{ $labels.service }} is unhealthy"},
                    }
                ],
            }
        ]
    }


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "medic",
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "medic",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                    }
                ],
            }
        ],
    }


@dataclass
class Rig:
    """The clients of the running stack, and what the test last saw (for failure messages)."""

    medic: httpx.AsyncClient
    prometheus: httpx.AsyncClient
    alertmanager: httpx.AsyncClient
    target: MetricsTarget
    seen: dict[str, Any] = field(default_factory=dict)

    def set_health(self, value: float) -> None:
        self.target.set(GAUGE, {"service": SERVICE}, value)


@contextlib.contextmanager
def diagnosed(seen: dict[str, Any], *servers: ServerProcess) -> Iterator[None]:
    """Turn any failure into one message with what the test last saw and the servers' log tails."""
    try:
        yield
    except Exception as err:
        raise AssertionError(f"{type(err).__name__}: {err}\nlast seen: {seen}\n{logs_of(*servers)}") from err


def kinds_in_order(timeline: list[dict[str, Any]], expected: list[str]) -> bool:
    """True when ``expected`` occurs in the timeline's kinds in that order (other kinds may interleave)."""
    kinds = iter(entry["kind"] for entry in timeline)
    return all(kind in kinds for kind in expected)


def webhook_counters(metrics: str) -> dict[str, float]:
    """Alertmanager's own count of webhook notifications sent and failed."""
    counters: dict[str, float] = {}
    for line in metrics.splitlines():
        for name in ("alertmanager_notifications_total", "alertmanager_notifications_failed_total"):
            if line.startswith(name + "{") and 'integration="webhook"' in line:
                counters[name] = counters.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return counters


async def test_prometheus_alert_opens_then_resolves_an_incident() -> None:
    require_binary("temporal")
    async with (
        medic_stack(quiet_seconds=2.0) as stack,
        stack.http() as medic,
    ):
        with metrics_target() as target:
            target.set(GAUGE, {"service": SERVICE}, 1)
            async with running_alertmanager(
                alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")
            ) as alertmanager:
                config = prometheus_config(target.address, alertmanager.address)
                async with (
                    running_prometheus(config, rules=alert_rules()) as prometheus,
                    httpx.AsyncClient(base_url=prometheus.url, timeout=5.0) as prom,
                    httpx.AsyncClient(base_url=alertmanager.url, timeout=5.0) as am,
                ):
                    rig = Rig(medic=medic, prometheus=prom, alertmanager=am, target=target)
                    with diagnosed(rig.seen, prometheus, alertmanager):
                        await scenario(rig)


async def scenario(rig: Rig) -> None:
    medic, prom, seen = rig.medic, rig.prometheus, rig.seen

    async def prometheus_sees_healthy_target() -> bool:
        query = (await prom.get("/api/v1/query", params={"query": GAUGE})).json()
        managers = (await prom.get("/api/v1/alertmanagers")).json()
        seen["prometheus_query"], seen["prometheus_alertmanagers"] = query, managers
        results = query["data"]["result"]
        return (
            len(results) == 1
            and results[0]["metric"].get("service") == SERVICE
            and results[0]["value"][1] == "1"
            and bool(managers["data"]["activeAlertmanagers"])
        )

    await wait_until(prometheus_sees_healthy_target, timeout=BOUND, what="Prometheus to scrape the target")
    assert (await medic.get("/incidents")).json() == [], "no incident before anything fires"

    # ---- the service goes unhealthy: Prometheus -> Alertmanager -> Medic opens an incident ----------
    rig.set_health(0)
    incident_id = ""

    async def incident_open_with_firing_alert() -> bool:
        nonlocal incident_id
        listing = (await medic.get("/incidents")).json()
        seen["listing"] = listing
        found = [i for i in listing if SERVICE in i["services"] and i["status"] == "open"]
        if not found:
            return False
        incident_id = found[0]["id"]
        detail = (await medic.get(f"/incidents/{incident_id}")).json()
        seen["detail"] = detail
        return any(a["name"] == ALERT and a["status"] == "firing" for a in detail["alerts"])

    await wait_until(incident_open_with_firing_alert, timeout=BOUND, what="an open incident for checkout")
    opened = seen["detail"]
    assert opened["status"] == "open"
    assert opened["services"] == [SERVICE]
    assert opened["severity"] == "critical"
    assert opened["title"] == f"{ALERT} on {SERVICE}"
    [alert] = opened["alerts"]
    assert alert["source"] == "alertmanager"
    assert alert["labels"]["alertname"] == ALERT
    assert alert["labels"]["service"] == SERVICE
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == JOB
    assert alert["annotations"]["summary"] == f"{SERVICE} is unhealthy"
    assert alert["ends_at"] is None
    assert (alert["generator_url"] or "").startswith(str(prom.base_url).rstrip("/")), alert["generator_url"]
    assert kinds_in_order(opened["timeline"], ["incident.opened", "alert.firing"]), opened["timeline"]

    # ---- the service recovers: Alertmanager sends the resolution, the quiet period passes ------------
    rig.set_health(1)

    async def incident_resolved() -> bool:
        listing = (await medic.get("/incidents", params={"status": "resolved"})).json()
        seen["listing"] = listing
        if incident_id not in {i["id"] for i in listing}:
            return False
        detail = (await medic.get(f"/incidents/{incident_id}")).json()
        seen["detail"] = detail
        return bool(detail["status"] == "resolved")

    await wait_until(incident_resolved, timeout=BOUND, what=f"{incident_id} to resolve")
    resolved = seen["detail"]
    assert resolved["resolved_at"] is not None
    assert resolved["alert_count"] == 1
    [alert] = resolved["alerts"]
    assert alert["status"] == "resolved"
    assert alert["name"] == ALERT
    assert alert["ends_at"] is not None
    expected = ["incident.opened", "alert.firing", "alert.resolved", "incident.quiet", "incident.resolved"]
    assert kinds_in_order(resolved["timeline"], expected), [e["kind"] for e in resolved["timeline"]]
    assert [e["kind"] for e in resolved["timeline"]].count("alert.firing") == 1
    [summary] = [i for i in seen["listing"] if i["id"] == incident_id]
    assert summary["services"] == [SERVICE]

    # Alertmanager itself counts the deliveries: both went through on the first try (auth included).
    counters = webhook_counters((await rig.alertmanager.get("/metrics")).text)
    seen["alertmanager_webhook_counters"] = counters
    assert counters.get("alertmanager_notifications_total", 0) >= 2, counters
    assert counters.get("alertmanager_notifications_failed_total", 0) == 0, counters
