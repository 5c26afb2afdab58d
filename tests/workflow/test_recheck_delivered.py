"""An alert inhibited when it resolves is never sent resolved (prometheus/alertmanager#226, #2754), and its
incident stayed open for good. Here the real Alertmanager (Debian's package) with kube-prometheus-stack's
inhibit rule for InfoInhibitor decides what is sent: an info alert (CPUThrottlingHigh) is delivered beside
a warning in its namespace; the warning resolves, InfoInhibitor fires and inhibits the info alert, which
then resolves. Alertmanager sends nothing for it (checked on its webhook). The incident asks Alertmanager
(``correlate.still_held`` over the real adapter) and resolves; an incident that does not ask (no
MEDIC_ALERTMANAGER_URL) stays open, as every incident did before. Time-skipping Temporal server; the
deliveries are Alertmanager's own webhook bodies, handed over through the webhook's assignment."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from activities.adapters.alertmanager import AlertmanagerAlerts
from activities.correlate import CorrelationActivities
from medic.alerts import HELD_SOURCE, AlertmanagerWebhook, AlertStatus
from medic.fingerprint import label_fingerprint
from medic.incident import GONE_CONFIRM, RECHECK_FIRST, IncidentState, IncidentStatus
from service.held import held_delivery
from service.settings import Settings
from tests.support.promstack import running_alertmanager
from tests.support.shop import shop
from tests.workflow.test_held_cause import HarnessSink
from tests.workflow.test_notifications import Handle, Harness, harness
from tests.workflow.test_settle_probe import FakePrometheus, correlation_worker, poll
from workflows.incident import IncidentResult, IncidentWorkflow

__all__ = ["harness"]

NAMESPACE = "payments"
# kube-prometheus's rule labels (tests/fixtures/alerts/kubernetes-mixin.json, kube-prometheus
# manifests/kubePrometheus-prometheusRule.yaml): the info alert, the warning beside it, and InfoInhibitor
# (ALERTS{severity="info"}'s labels, alertname and severity overridden).
INFO = {
    "alertname": "CPUThrottlingHigh",
    "container": "payments",
    "namespace": NAMESPACE,
    "pod": "payments-5f7c9d8b4-m8v2n",
    "severity": "info",
}
WARNING = {"alertname": "KubePodNotReady", "namespace": NAMESPACE, "pod": INFO["pod"], "severity": "warning"}
INHIBITOR = {**INFO, "alertname": "InfoInhibitor", "alertstate": "firing", "severity": "none"}


class Webhooks:
    """Alertmanager's webhook receiver: every body it posts, as it posted it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @contextmanager
    def serve(self) -> Iterator[str]:
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with received.lock:
                    received.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()

    def sent(self, labels: dict[str, str], status: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                body
                for body in self.bodies
                for alert in body["alerts"]
                if alert["labels"] == labels and alert["status"] == status
            ]


def config(hook: str) -> dict[str, Any]:
    """The shipped receiver's shape with kube-prometheus-stack's InfoInhibitor inhibit rule, and group
    timers of a second so that the test waits seconds, not minutes."""
    return {
        "route": {
            "receiver": "medic",
            "group_by": ["namespace"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "4h",
            "routes": [{"matchers": ['alertname="InfoInhibitor"'], "receiver": "null"}],
        },
        "receivers": [
            {"name": "medic", "webhook_configs": [{"url": hook, "send_resolved": True}]},
            {"name": "null"},
        ],
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="InfoInhibitor"'],
                "target_matchers": ['severity="info"'],
                "equal": ["namespace"],
            }
        ],
    }


def posted(labels: dict[str, str], *, ended: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": labels,
        "annotations": {"summary": labels["alertname"]},
        "startsAt": (now - timedelta(minutes=10)).isoformat(),
        "endsAt": (now if ended else now + timedelta(hours=1)).isoformat(),
        "generatorURL": "http://prometheus.example:9090/graph",
    }


async def waited(what: str, found: Any) -> Any:
    """Bounded wait (20 s of real time) for Alertmanager to send what ``found`` looks for."""
    for _ in range(200):
        got = found()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"Alertmanager never sent {what}")


@pytest.fixture
def webhooks() -> Iterator[tuple[Webhooks, str]]:
    hooks = Webhooks()
    with hooks.serve() as url:
        yield hooks, url


@pytest.fixture
async def alertmanager(webhooks: tuple[Webhooks, str]) -> AsyncIterator[str]:
    async with running_alertmanager(config(webhooks[1])) as am:
        yield am.url


@pytest.mark.parametrize("ask", [True, False], ids=["asks", "does-not-ask"])
async def test_an_info_alert_inhibited_when_it_resolves_resolves_its_incident(
    harness: Harness, webhooks: tuple[Webhooks, str], alertmanager: str, ask: bool
) -> None:
    h, (hooks, _) = harness, webhooks
    deliver = held_delivery(HarnessSink(h, ask=ask), shop(), Settings(_env_file=None))
    source = AlertmanagerAlerts(alertmanager, receiver="medic")
    correlate = CorrelationActivities(
        source=FakePrometheus([]), catalog=shop, held=source, deliver=deliver, cache_seconds=0
    )
    delivered, incidents = 0, set[str]()

    async def hand_over() -> None:
        """Alertmanager's webhook bodies not handed over yet, to their incidents (as the API does)."""
        nonlocal delivered
        with hooks.lock:
            bodies, delivered = hooks.bodies[delivered:], len(hooks.bodies)
        for body in bodies:
            incidents.update(await deliver(AlertmanagerWebhook.model_validate(body), "alertmanager"))

    async with correlation_worker(h, correlate), httpx.AsyncClient(base_url=alertmanager) as am:
        # A pod not ready with its CPU throttled: the warning and the info alert are delivered together.
        assert (await am.post("/api/v2/alerts", json=[posted(WARNING), posted(INFO)])).status_code == 200
        await waited("the info alert firing", lambda: hooks.sent(INFO, "firing"))
        await hand_over()
        (incident_id,) = incidents
        handle: Handle = h.env.client.get_workflow_handle(incident_id, result_type=IncidentResult)
        await poll(handle, lambda s: s.firing_count == 2, "both alerts firing")
        await h.env.sleep(RECHECK_FIRST + timedelta(seconds=30))  # Alertmanager is asked, holds both
        if ask:
            await poll(handle, lambda s: len(s.am_holds) == 2, "Alertmanager vouching for both")

        # The pod is ready again: the warning resolves (sent), InfoInhibitor fires and inhibits the
        # info alert; the throttling stops a little later: Alertmanager sends no resolution for it.
        ended = [posted(WARNING, ended=True), posted(INHIBITOR)]
        assert (await am.post("/api/v2/alerts", json=ended)).status_code == 200
        await waited("the warning resolved", lambda: hooks.sent(WARNING, "resolved"))
        await hand_over()
        assert (await am.post("/api/v2/alerts", json=[posted(INFO, ended=True)])).status_code == 200
        await asyncio.sleep(3)  # three of its group's ticks
        assert hooks.sent(INFO, "resolved") == [], "Alertmanager sent an inhibited alert's resolution"
        listed = (await am.get("/api/v2/alerts", params={"filter": 'alertname="CPUThrottlingHigh"'})).json()
        assert listed == [], "Alertmanager no longer holds the info alert"
        await hand_over()

        await h.env.sleep(timedelta(hours=2))
        state: IncidentState = await handle.query(IncidentWorkflow.state)
        info = state.alerts[label_fingerprint(INFO)]
        if not ask:  # what every incident did before: open for good
            assert info.status is AlertStatus.FIRING and state.status is IncidentStatus.OPEN
            return
        state = await poll(handle, lambda s: s.status is IncidentStatus.RESOLVED, "the incident resolved")
        info = state.alerts[label_fingerprint(INFO)]
        assert info.status is AlertStatus.RESOLVED
        said = next(
            e
            for e in state.timeline
            if e.data.get("fingerprint") == info.fingerprint and e.actor == HELD_SOURCE
        )
        assert said.kind == "alert.resolved" and "silenced or inhibited when it resolved" in said.message
        assert info.ends_at is not None and said.at - info.ends_at >= GONE_CONFIRM
        assert any(e.kind == "incident.resolved" for e in state.timeline[state.timeline.index(said) :])
        await source.aclose()
