"""A merge's close-out survives kill -9 of the worker in the middle of it (issue 12).

checkout pages its team on its own; then its cause, orders-db, fires and absorbs it. The next PagerDuty
event (the cause's page or the symptom's resolve, whichever comes first) is held by the double, and the
worker process that sent it is killed with SIGKILL while it is held. A second worker process takes over
from the histories alone. What people receive must be what the grouping says, once: checkout's page
resolved and never triggered again, orders-db paged once, checkout's Slack message marked merged, and
nothing open once everything resolved. The held request itself still lands (the dead worker's request
reached PagerDuty): its retry must not turn into a second page."""

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import require_binary
from tests.doubles import SLACK_TOKEN, PagerDutyDouble, SlackDouble
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true}
  - {name: rest}
"""
KEYS = {"checkout": "C" * 32, "data": "D" * 32}
CHANNELS = {"#checkout-oncall": "C0CHECKOUT", "#data-oncall": "C0DATA", "#incidents": "C0INCIDENTS"}
STARTED = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
HOLD_SECONDS = 15.0


def delivery(service: str, alertname: str, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "receiver": "medic",
        "groupKey": f'{{}}:{{alertname="{alertname}",service="{service}"}}',
        "groupLabels": {"alertname": alertname, "service": service},
        "alerts": [
            {
                "status": status,
                "startsAt": STARTED,
                "endsAt": STARTED if status == "resolved" else "0001-01-01T00:00:00Z",
                "labels": {"alertname": alertname, "service": service, "severity": "critical"},
            }
        ],
    }


@contextmanager
def worker_process(
    stack: MedicStack, log: Path, pager_url: str, slack_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`medic worker` as its own process (own session, so it can be killed with everything it started)."""
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_TEMPORAL_ADDRESS=s.temporal_address,
        MEDIC_TASK_QUEUE=s.task_queue,
        MEDIC_CATALOG=str(s.catalog),
        MEDIC_ROUTING=str(s.data_dir / "routing.yaml"),
        MEDIC_DATA_DIR=str(s.data_dir / log.stem),
        MEDIC_RESOLVE_QUIET_SECONDS=str(s.resolve_quiet_seconds),
        MEDIC_SLACK_BOT_TOKEN=SLACK_TOKEN,
        MEDIC_SLACK_BASE_URL=f"{slack_url}/api/",
        MEDIC_PAGERDUTY_EVENTS_URL=f"{pager_url}/v2/enqueue",
        MEDIC_PAGERDUTY_ROUTING_KEYS=json.dumps(KEYS),
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(require_binary("medic")), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def test_a_merge_closes_out_once_when_the_worker_is_killed_in_the_middle(tmp_path: Path) -> None:
    slack, pager = SlackDouble(channels=CHANNELS), PagerDutyDouble(KEYS.values())
    with slack.serve() as slack_url, pager.serve() as pager_url:
        async with (
            medic_stack(
                worker=False,
                quiet_seconds=2.0,
                routing_yaml=ROUTING,
                settle_seconds=1.0,
                slack_bot_token=SecretStr(SLACK_TOKEN),
                slack_base_url=f"{slack_url}/api/",
                pagerduty_routing_keys={k: SecretStr(v) for k, v in KEYS.items()},
                pagerduty_events_url=f"{pager_url}/v2/enqueue",
            ) as stack,
            stack.http(timeout=30) as http,
        ):

            def events(dedup_key: str) -> list[tuple[str, str]]:
                return [
                    (e.event_action or "", e.outcome)
                    for e in pager.events()
                    if e.dedup_key == dedup_key and e.outcome != "rejected"
                ]

            async def fire(service: str, alertname: str, status: str = "firing") -> None:
                answer = await http.post("/webhooks/alertmanager", json=delivery(service, alertname, status))
                assert answer.status_code == 200, answer.text

            with worker_process(stack, tmp_path / "worker-a.log", pager_url, slack_url) as first:

                async def checkout_paged() -> bool:
                    assert first.poll() is None, (tmp_path / "worker-a.log").read_text()[-3000:]
                    return ("trigger", "created") in events("incident-checkout")

                await fire("checkout", "HighErrorRate")
                await wait_until(checkout_paged, timeout=60, what="checkout paging its own team")
                pager.faults.push("delay", seconds=HOLD_SECONDS, route="POST /v2/enqueue")
                await fire("orders-db", "PostgresDown")

                async def held() -> bool:
                    return bool(pager.faults.fired)

                await wait_until(held, timeout=60, interval=0.05, what="the next page event held")
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(10)

            with worker_process(stack, tmp_path / "worker-b.log", pager_url, slack_url) as second:

                async def closed_out() -> bool:
                    assert second.poll() is None, (tmp_path / "worker-b.log").read_text()[-3000:]
                    return ("resolve", "resolved") in events("incident-checkout") and (
                        "trigger",
                        "created",
                    ) in events("incident-orders-db")

                await wait_until(closed_out, timeout=120, what="checkout resolved, orders-db paged")
                await fire("orders-db", "PostgresDown", "resolved")
                await fire("checkout", "HighErrorRate", "resolved")

                async def all_resolved() -> bool:
                    return all(a.status == "resolved" for a in pager.alerts())

                await wait_until(all_resolved, timeout=120, what="every page resolved")

                async def merged_message() -> bool:
                    texts = [m.text for m in slack.messages("#checkout-oncall") if not m.is_reply]
                    return len(texts) == 1 and "[merged into incident-orders-db]" in texts[0]

                await wait_until(merged_message, timeout=60, what="checkout's message marked merged")

    checkout = events("incident-checkout")
    # Triggered once; after its resolve (the held one and its retry may both land), never triggered again.
    assert [e for e in checkout if e[0] == "trigger"] == [("trigger", "created")], checkout
    first_resolve = checkout.index(("resolve", "resolved"))
    assert all(action != "trigger" for action, _ in checkout[first_resolve:]), checkout
    orders = events("incident-orders-db")
    assert [e for e in orders if e == ("trigger", "created")] == [("trigger", "created")], orders
    assert [channel for channel in CHANNELS if slack.messages(channel)] == [
        "#checkout-oncall",
        "#data-oncall",
    ]
