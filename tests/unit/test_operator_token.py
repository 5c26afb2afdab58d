"""No credential stretches further than it should: the webhook token (Alertmanager's) delivers and
reads but cannot decide or flip the kill switch, under any name; the operator token can, and what it
does is recorded as the credential, never as a person the body names."""

import base64
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from medic.access import OPERATOR_ACTOR, AccessPolicy
from medic.catalog import Catalog
from remediations.guardrails import GuardrailSettings, may_approve
from service.api import create_app
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.remediation import Decision

OPERATOR = "operator-s3cret"
DECISION = "/remediations/remediate-deployment-shop-checkout-1/decision"


class Controls:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.switches: list[KillSwitchRequest] = []

    async def kill_switch(self) -> KillSwitch:
        return KillSwitch()

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch:
        self.switches.append(request)
        return KillSwitch(on=request.on, actor=request.actor, reason=request.reason)

    async def decide(self, remediation_id: str, decision: Decision) -> str:
        self.decisions.append(decision)
        return "approved" if decision.approve else "denied"

    async def feedback(self) -> FeedbackState:
        return FeedbackState()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _client(controls: Controls, **settings: SecretStr | None) -> httpx.AsyncClient:
    async def ready() -> bool:
        return True

    app = create_app(
        Settings(_env_file=None, **{"webhook_token": SecretStr(TOKEN), **settings}),  # type: ignore[arg-type]
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        controls=controls,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic")


@pytest.fixture
def controls() -> Controls:
    return Controls()


@pytest.fixture
async def http(controls: Controls) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(controls, operator_token=SecretStr(OPERATOR)) as client:
        yield client


async def test_the_webhook_token_cannot_decide_as_anyone(http: httpx.AsyncClient, controls: Controls) -> None:
    """The probe from the issue: the webhook token naming U0SRE1 was approved as U0SRE1."""
    for headers in (
        bearer(TOKEN),
        {"Authorization": "Basic " + base64.b64encode(f"am:{TOKEN}".encode()).decode()},
    ):
        answer = await http.post(DECISION, json={"approve": True, "actor": "U0SRE1"}, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "MEDIC_OPERATOR_TOKEN" in answer.json()["detail"]
        switch = await http.put("/control/kill-switch", json={"on": True, "actor": "U0SRE1"}, headers=headers)
        assert switch.status_code == 403
    assert controls.decisions == [] and controls.switches == []


async def test_the_operator_token_is_recorded_as_itself(
    http: httpx.AsyncClient, controls: Controls, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.api.control"):
        answer = await http.post(
            DECISION,
            json={"approve": False, "actor": "U0SRE1", "reason": "not now"},
            headers=bearer(OPERATOR),
        )
    assert answer.status_code == 200 and answer.json() == {
        "remediation": "remediate-deployment-shop-checkout-1",
        "decision": "denied",
    }
    (decision,) = controls.decisions
    assert decision.actor == OPERATOR_ACTOR == "api:operator-token"
    assert decision.reason == "not now" and decision.groups == []
    assert "U0SRE1" not in decision.model_dump_json()
    assert "not verified" in caplog.text  # the claim is only logged, as a claim
    switch = await http.put(
        "/control/kill-switch", json={"on": True, "reason": "maintenance"}, headers=bearer(OPERATOR)
    )
    assert switch.status_code == 200 and switch.json()["actor"] == OPERATOR_ACTOR
    assert controls.switches == [KillSwitchRequest(on=True, actor=OPERATOR_ACTOR, reason="maintenance")]


async def test_reads_take_either_token_and_nothing_else(http: httpx.AsyncClient) -> None:
    for path in ("/control/kill-switch", "/feedback"):
        assert (await http.get(path, headers=bearer(TOKEN))).status_code == 200
        assert (await http.get(path, headers=bearer(OPERATOR))).status_code == 200
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, headers=bearer("guess"))).status_code == 401


async def test_without_credentials_it_is_401_before_the_body_is_looked_at(http: httpx.AsyncClient) -> None:
    for headers in ({}, bearer("guess"), {"Authorization": "Basic !!!"}):
        assert (await http.post(DECISION, json={"nonsense": 1}, headers=headers)).status_code == 401
        assert (await http.put("/control/kill-switch", json=[], headers=headers)).status_code == 401


async def test_a_reason_over_the_workflows_bound_is_422_not_500(http: httpx.AsyncClient) -> None:
    answer = await http.post(DECISION, json={"approve": False, "reason": "x" * 501}, headers=bearer(OPERATOR))
    assert answer.status_code == 422 and answer.json()["detail"]["fields"][0]["field"] == "reason"


@pytest.mark.parametrize(
    ("operator", "says"),
    [(None, "not set here"), (SecretStr(TOKEN), "give it its own value")],
)
async def test_without_an_operator_token_of_its_own_only_slack_decides(
    controls: Controls, operator: SecretStr | None, says: str
) -> None:
    async with await _client(controls, operator_token=operator) as http:
        answer = await http.post(DECISION, json={"approve": True}, headers=bearer(TOKEN))
        assert answer.status_code == 403 and says in answer.json()["detail"]
        assert (await http.post(DECISION, json={"approve": True}, headers=bearer("x"))).status_code == 401
    assert controls.decisions == []


def test_the_access_policy_can_name_the_operator_token() -> None:
    """Under an approve policy the operator token decides only where it is listed, like a person."""
    policy = AccessPolicy.model_validate({"approve": {"low": [OPERATOR_ACTOR], "high": ["U0SRE"]}})
    assert policy.problems() == []
    approvers = policy.approvers_by_risk()
    assert approvers is not None
    settings = GuardrailSettings(approvers=approvers)
    assert may_approve(settings, risk="low", actor=OPERATOR_ACTOR)
    assert not may_approve(settings, risk="high", actor=OPERATOR_ACTOR)
    assert "operator token" in policy.check("approve", user="U0X", risk="low").reason
