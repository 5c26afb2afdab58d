"""`medic api` stopped with SIGTERM, as Kubernetes stops a pod in a rolling update: /readyz answers 503
at once, and deliveries still reach it and are taken (handed to Temporal, answered 200) until the drain
ends, while the endpoints and every node's proxy catch up; a second SIGTERM ends the drain, exit 0.

Before, uvicorn closed its socket on the first SIGTERM (measured: connections refused 0.1 s after it),
and /readyz never said 503: what kube-proxy or the Ingress still sent there in the seconds it takes them
to drop the pod was refused. Alertmanager retries that; Grafana-managed alerting and Slack do not."""

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_binary
from tests.support.stack import TOKEN, MedicStack, free_port, medic_stack, wait_until

pytestmark = pytest.mark.integration

ALERT = {
    "status": "firing",
    "receiver": "medic",
    "groupKey": '{}:{alertname="CheckoutDown"}',
    "alerts": [
        {
            "status": "firing",
            "startsAt": "2026-11-23T12:00:00Z",
            "fingerprint": "d0wn000000000002",
            "labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "warning"},
        }
    ],
}


def start_api(stack: MedicStack, port: int, log: Path) -> subprocess.Popen[bytes]:
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_TEMPORAL_ADDRESS=s.temporal_address,
        MEDIC_TASK_QUEUE=s.task_queue,
        MEDIC_CATALOG=str(s.catalog),
        MEDIC_DATA_DIR=str(s.data_dir / "api"),
        MEDIC_API_PORT=str(port),
        MEDIC_WEBHOOK_TOKEN=TOKEN,
        MEDIC_API_DRAIN_SECONDS="300",  # the test ends it with a second SIGTERM
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(require_binary("medic")), "api"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_sigterm_turns_readiness_off_and_keeps_taking_deliveries_until_the_drain_ends(
    tmp_path: Path,
) -> None:
    log, port = tmp_path / "api.log", free_port()
    async with medic_stack(worker=False) as stack:
        api = start_api(stack, port, log)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as http:

                async def readiness(code: int) -> bool:
                    assert api.poll() is None, log.read_text()[-3000:]
                    try:
                        return (await http.get("/readyz")).status_code == code
                    except httpx.TransportError:
                        return False

                await wait_until(lambda: readiness(200), timeout=60, what="the API ready")
                api.send_signal(signal.SIGTERM)
                await wait_until(lambda: readiness(503), timeout=60, what="/readyz 503 after SIGTERM")
                assert (await http.get("/readyz")).json() == {"status": "shutting down"}
                answer = await http.post("/webhooks/alertmanager", json=ALERT)
                assert answer.status_code == 200, answer.text
                assert answer.json()["incidents"] == ["incident-checkout"]
            api.send_signal(signal.SIGTERM)
            code = api.wait(60)
        finally:
            if api.poll() is None:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait()
        assert code == 0, log.read_text()[-3000:]
        described = await stack.client.get_workflow_handle("incident-checkout").describe()
        assert described.workflow_type == "IncidentWorkflow"  # the delivery taken while draining is held
