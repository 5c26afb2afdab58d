"""`medic worker` stopped with SIGTERM, as Kubernetes stops a pod in a rolling update or a node drain:
it takes no new task, lets the activity it runs finish, reports it, and exits 0.

Before, the worker was built with the SDK's default grace period, none: SIGTERM cancelled the Slack post
it was making at once (the request had reached Slack), and the chart's terminationGracePeriodSeconds of
60 s ("in-flight activities finish before the pod goes") bought nothing. Reproduced with two worker
processes against the dev server: the post was cut off, recorded as failed, and sent again."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType

from tests.conftest import require_binary
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.integration.test_remediation_workers import pollers
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

CHANNELS = {"#checkout-oncall": "C0CHECKOUT", "#incidents": "C0INCIDENTS"}
HOLD_SECONDS = 3.0  # the double holds the post this long: it is in flight when SIGTERM comes
ALERT = {
    "status": "firing",
    "receiver": "medic",
    "groupKey": '{}:{alertname="CheckoutDown"}',
    "alerts": [
        {
            "status": "firing",
            "startsAt": "2026-11-23T12:00:00Z",
            "fingerprint": "d0wn000000000001",
            "labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
        }
    ],
}


def start_worker(stack: MedicStack, slack_url: str, log: Path) -> subprocess.Popen[bytes]:
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_TEMPORAL_ADDRESS=s.temporal_address,
        MEDIC_TASK_QUEUE=s.task_queue,
        MEDIC_CATALOG=str(s.catalog),
        MEDIC_DATA_DIR=str(s.data_dir / "worker"),
        MEDIC_WORKER_METRICS_PORT="0",
        MEDIC_SLACK_BOT_TOKEN=SLACK_TOKEN,
        MEDIC_SLACK_BASE_URL=f"{slack_url}/api/",
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(require_binary("medic")), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_sigterm_lets_the_running_activity_finish_and_exits_0(tmp_path: Path) -> None:
    slack = SlackDouble(channels=CHANNELS)
    log = tmp_path / "worker.log"
    with slack.serve() as slack_url:
        async with (
            medic_stack(
                worker=False,
                settle_seconds=0.0,
                slack_bot_token=SecretStr(SLACK_TOKEN),
                slack_base_url=f"{slack_url}/api/",
            ) as stack,
            stack.http() as http,
        ):
            worker = start_worker(stack, slack_url, log)
            try:

                async def polling() -> bool:
                    assert worker.poll() is None, log.read_text()[-3000:]
                    return await pollers(stack) >= 1

                await wait_until(polling, timeout=120, what="the worker to poll")
                slack.faults.push("delay", seconds=HOLD_SECONDS, route="POST /api/chat.postMessage")
                answer = await http.post("/webhooks/alertmanager", json=ALERT)
                assert answer.status_code == 200, answer.text

                async def held() -> bool:
                    return bool(slack.faults.fired)

                await wait_until(held, timeout=60, interval=0.02, what="the card's post in flight")
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(60)
            finally:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            assert code == 0, log.read_text()[-3000:]

            history = await stack.client.get_workflow_handle("incident-checkout").fetch_history()
            posts = {  # the held one: the card for the team's channel (others wait for the next worker)
                e.event_id
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "notify.chat_post"
                and b"#checkout-oncall" in e.activity_task_scheduled_event_attributes.input.payloads[0].data
            }
            completed = {
                e.activity_task_completed_event_attributes.scheduled_event_id
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            }
            assert len(posts) == 1 and posts <= completed, "the post in flight finished before the exit"
    requests = [r for r in slack.requests("POST /api/chat.postMessage") if b"checkout-oncall" in r.body]
    assert len(requests) == 1, "posted once, not cut off and sent again"
    assert len(slack.messages("#checkout-oncall")) == 1
