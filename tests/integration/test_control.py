"""The kill switch and approvals over the HTTP API, against the dev server: a remediation that
would act is blocked while the switch is on; an approval reaches the waiting remediation."""

from pathlib import Path
from typing import Any

import pytest

from tests.doubles.kubernetes import KubernetesDouble
from tests.support.kube import write_kubeconfig
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

RUNBOOK = """
name: restart-checkout
match: {alertname: [CheckoutStuck]}
steps:
  - action: restart
    risk: low
    target: {namespace: shop, name: checkout}
approval: RUNBOOK_APPROVAL
verify: {alerts_resolved: true, for_seconds: 0, deadline_seconds: 60}
on_failure: escalate
cooldown_minutes: 0
"""


def payload() -> dict[str, Any]:
    return {
        "status": "firing",
        "receiver": "medic",
        "groupKey": '{}:{alertname="CheckoutStuck"}',
        "alerts": [
            {
                "status": "firing",
                "startsAt": "2026-11-23T12:00:00Z",
                "fingerprint": "stuck00000000001",
                "labels": {"alertname": "CheckoutStuck", "service": "checkout", "severity": "warning"},
            }
        ],
    }


async def timeline(stack: MedicStack) -> list[dict[str, Any]]:
    async with stack.http() as http:
        detail: dict[str, Any] = (await http.get("/incidents/incident-checkout")).json()
        return list(detail.get("timeline", []))


async def test_kill_switch_blocks_remediation(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(RUNBOOK.replace("RUNBOOK_APPROVAL", "auto"))
    async with (
        medic_stack(runbooks_dir=tmp_path, remediation_mode="auto") as stack,
        stack.http() as http,
        stack.http(operator=True) as operator,
    ):
        assert (await http.get("/control/kill-switch")).json()["on"] is False
        # The webhook token reads the switch but cannot flip it, under any name.
        forged = await http.put("/control/kill-switch", json={"on": True, "actor": "U-OPS"})
        assert forged.status_code == 403 and "MEDIC_OPERATOR_TOKEN" in forged.json()["detail"]
        on = await operator.put(
            "/control/kill-switch", json={"on": True, "actor": "U-OPS", "reason": "maintenance"}
        )
        assert on.status_code == 200 and on.json()["on"] is True
        assert on.json()["actor"] == "api:operator-token", "recorded as the credential, not the name given"
        assert (await operator.put("/control/kill-switch", json={"reason": "x"})).status_code == 422  # no on
        assert (await http.post("/webhooks/alertmanager", json=payload())).status_code == 200

        async def blocked() -> bool:
            return any(
                e["kind"] == "guardrail.blocked" and "kill switch" in e["message"]
                for e in await timeline(stack)
            )

        await wait_until(blocked, timeout=30, what="the kill switch to block the remediation")
        assert (
            await http.get("/control/kill-switch", headers={"Authorization": "Bearer nope"})
        ).status_code == 401


async def test_approval_through_the_api(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(RUNBOOK.replace("RUNBOOK_APPROVAL", "always"))
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout")
    with kube.serve() as kube_url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url)
        async with medic_stack(
            runbooks_dir=tmp_path, remediation_mode="auto", kubeconfig=kubeconfig
        ) as stack:
            await approve_and_deny(stack)
    assert kube.writes() == [], "a denied remediation changes nothing"


async def approve_and_deny(stack: MedicStack) -> None:
    async with stack.http() as http, stack.http(operator=True) as operator:
        assert (await http.post("/webhooks/alertmanager", json=payload())).status_code == 200

        async def requested() -> bool:
            return any(e["kind"] == "approval.requested" for e in await timeline(stack))

        await wait_until(requested, timeout=30, what="an approval request")
        remediation_id = next(
            e["data"]["remediation"] for e in await timeline(stack) if e["kind"] == "approval.requested"
        )
        # The webhook token (Alertmanager's) cannot decide, neither as itself nor as a person it names.
        forged = await http.post(
            f"/remediations/{remediation_id}/decision", json={"approve": True, "actor": "U0SRE1"}
        )
        assert forged.status_code == 403, forged.text
        answer = await operator.post(
            f"/remediations/{remediation_id}/decision",
            json={"approve": False, "actor": "U-ALICE", "reason": "not in business hours"},
        )
        assert answer.status_code == 200 and answer.json()["decision"] == "denied"
        again = await operator.post(f"/remediations/{remediation_id}/decision", json={"approve": True})
        assert again.status_code in (404, 409)  # no longer waiting (or finished)
        assert (
            await operator.post("/remediations/remediate-nope-1/decision", json={"approve": True})
        ).status_code == 404

        async def denied() -> bool:
            return any(
                e["kind"] == "approval.denied" and e["actor"] == "api:operator-token"
                for e in await timeline(stack)
            )

        await wait_until(denied, timeout=30, what="the denial on the timeline")
        named = [e for e in await timeline(stack) if "U-ALICE" in e["actor"] or "U0SRE1" in e["actor"]]
        assert named == [], "a name in an HTTP body is never recorded as who acted"
