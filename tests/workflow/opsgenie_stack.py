"""An SLO team's stack on the time-skipping server (from a field walk-through): Opsgenie (its double) as
the pager through the real adapter and ``service.pagers``, one API key per routing key; Microsoft Teams
(its double) as the chat; no Slack (a FakeChat that must stay empty) and no PagerDuty. Sloth burn alerts
on checkout (``tests.support.shop``)."""

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.adapters.teams import TeamsChat
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.keys import service_incident_id
from medic.routing import load_routing
from service.pagers import build_pager
from service.settings import Settings
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.doubles.opsgenie import OpsgenieDouble
from tests.doubles.teams import TeamsDouble
from tests.support.fakes import FakeChat, FakeTracker, queried_state
from tests.support.shop import ctx, shop
from tests.support.timeskip import time_skipping
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["INCIDENT", "KEYS", "T0", "OpsgenieStack", "batch", "burn", "opsgenie_stack", "running_stack"]

T0 = datetime.now(UTC).replace(microsecond=0)  # the test server starts at the wall clock
KEYS = {
    "checkout": "key-checkout-primary",
    "checkout-secondary": "key-checkout-secondary",
    "eng-managers": "key-eng-managers",
}
POLICY = load_routing(
    """
timezone: Europe/Berlin
teams:
  checkout: {primary: checkout, secondary: checkout-secondary, manager: eng-managers, pager: opsgenie}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary], note: "no ack after 5 min"}
    - {after_minutes: 15, page: [manager], note: "no ack after 15 min"}
rules:
  - {name: p1, match: {priority: [P1]}, slack: false, pagerduty: true, escalation: critical,
     teams_channels: [checkout-oncall]}
  - {name: rest, slack: false, teams_channels: [checkout-oncall]}
""",
    catalog=shop(),
)
INCIDENT = service_incident_id("checkout")


def burn(status: AlertStatus = AlertStatus.FIRING, *, at: datetime = T0) -> Alert:
    """Sloth's fast burn (page) on checkout's availability SLO."""
    labels = {
        "alertname": "CheckoutHighErrorRate",
        "owner": "checkout",
        "sloth_id": "checkout-requests-availability",
        "sloth_service": "checkout",
        "sloth_slo": "requests-availability",
        "sloth_severity": "page",
        "severity": "critical",
        "sloth_window": "5m",
        "category": "availability",
    }
    return Alert(
        fingerprint="availability-page",
        status=status,
        starts_at=at,
        service="checkout",
        labels=labels,
        annotations={
            "title": "(page) checkout requests-availability SLO error budget burn rate is too fast."
        },
    )


def batch(*alerts: Alert, at: datetime = T0) -> AlertBatch:
    return AlertBatch(alerts=list(alerts), received_at=at, contexts=[ctx("checkout")])


@dataclass
class OpsgenieStack:
    env: WorkflowEnvironment
    opsgenie: OpsgenieDouble
    teams: TeamsDouble
    slack: FakeChat
    worker: Worker
    task_queue: str
    activities: list[Any]

    async def open(self, first: AlertBatch, *, task_queue: str | None = None) -> WorkflowHandle[Any, Any]:
        return await self.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=INCIDENT, service=ctx("checkout"), quiet_period_seconds=300, remediate=False
            ),
            id=INCIDENT,
            task_queue=task_queue or self.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[first],
        )

    def teams_texts(self, flow: str = "checkout-oncall") -> list[str]:
        return [" | ".join(p.texts()) for p in self.teams.posts(flow)]

    def creates_by_key(self) -> list[str]:
        """The API key of every create Opsgenie answered 202."""
        return [
            r.headers.get("authorization", "").removeprefix("GenieKey ")
            for r in self.opsgenie.requests("POST /v2/alerts")
            if r.fault is None
        ]


@pytest.fixture
async def opsgenie_stack(tmp_path: Path) -> AsyncIterator[OpsgenieStack]:
    async with running_stack(require_binary("temporal-test-server"), tmp_path) as stack:
        yield stack


@asynccontextmanager
async def running_stack(path: Path, tmp_path: Path) -> AsyncIterator[OpsgenieStack]:
    """The stack on the test server at ``path`` (the fixture's; tests/workflow/r15_history.py's too)."""
    og = OpsgenieDouble(keys=tuple(KEYS.values()))
    teams = TeamsDouble(flows=("checkout-oncall",))
    slack = FakeChat()
    with ExitStack() as doubles:
        og_url = doubles.enter_context(og.serve())
        teams_url = doubles.enter_context(teams.serve())
        settings = Settings(
            _env_file=None,
            pager="opsgenie",
            opsgenie_api_keys={n: SecretStr(k) for n, k in KEYS.items()},
            opsgenie_url=og_url,
            teams_webhooks={"checkout-oncall": SecretStr(teams.webhook_url(teams_url, "checkout-oncall"))},
        )
        notify = NotifyActivities(
            chat=slack,
            pager=build_pager(settings),  # type: ignore[arg-type]
            tracker=FakeTracker(),
            chats={"teams": TeamsChat({n: u.get_secret_value() for n, u in settings.teams_webhooks.items()})},
            policy=lambda: POLICY,
            workflow_url=lambda wid: f"https://temporal.example/namespaces/default/workflows/{wid}",
        )
        async with time_skipping(path) as env:
            pm = PostmortemActivities(PostmortemWriter(tmp_path / "pm"), queried_state(env.client))
            queue = f"tq-{uuid.uuid4().hex[:6]}"
            activities = [*notify.all(), *pm.all()]
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=activities,
                activity_executor=ThreadPoolExecutor(4),
            )
            yield OpsgenieStack(env, og, teams, slack, worker, queue, activities)
