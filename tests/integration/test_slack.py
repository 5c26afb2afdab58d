"""`/medic` commands and message buttons end to end: signed like Slack signs them, through the real
API, dev server and worker, with the Slack double resolving user groups and taking follow-ups."""

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.doubles.kubernetes import KubernetesDouble
from tests.integration.test_control import RUNBOOK
from tests.integration.test_control import payload as stuck_payload
from tests.support.kube import write_kubeconfig
from tests.support.slackreq import SIGNING_SECRET, command_body, interaction_body, signed_headers
from tests.support.stack import TOKEN, MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: all}
access:
  groups:
    sre: [U0SRE]
  ack: [S0ONCALL, sre]
  resolve: [S0ONCALL, sre]
  silence: [sre]
  false_positive: [S0ONCALL, sre]
  kill_switch: [sre]
  approve: {low: [S0ONCALL], high: [sre]}
"""
ONCALL, SRE, INTRUDER = "U0ONCALL", "U0SRE", "U0MALLORY"


def alert_payload(name: str = "CheckoutDown", fingerprint: str = "c0ffee0000000001") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": "firing",
        "receiver": "medic",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": name,
                    "service": "checkout",
                    "severity": "critical",
                    "pod": "checkout-1",
                },
                "annotations": {"summary": "checkout is down"},
                "startsAt": "2026-11-23T12:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }


class SlackClient:
    """Posts to Medic's Slack routes as Slack would."""

    def __init__(self, stack: MedicStack, slack: SlackDouble) -> None:
        self.stack, self.slack = stack, slack
        self._n = 0

    def _url(self) -> tuple[str, str]:
        self._n += 1
        rid = f"r{self._n}-{time.time_ns()}"
        return rid, self.slack.response_url(rid)

    async def command(self, text: str, user: str = ONCALL) -> dict[str, Any]:
        rid, url = self._url()
        body = command_body(text, user_id=user, response_url=url)
        async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=10) as http:
            answer = await http.post("/slack/commands", content=body, headers=signed_headers(body))
        assert answer.status_code == 200, answer.text
        reply: dict[str, Any] = answer.json()
        if "Working on it" in reply.get("text", ""):
            await wait_until(lambda: _has(self.slack, rid), timeout=30, what="the follow-up")
            reply = self.slack.responses(rid)[0]
        return reply

    async def press(self, action_id: str, value: str, user: str = ONCALL) -> dict[str, Any]:
        rid, url = self._url()
        body = interaction_body(action_id, value, user_id=user, response_url=url)
        async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=10) as http:
            answer = await http.post("/slack/interactions", content=body, headers=signed_headers(body))
        assert answer.status_code == 200, answer.text
        await wait_until(lambda: _has(self.slack, rid), timeout=30, what=f"the answer to {action_id}")
        reply: dict[str, Any] = self.slack.responses(rid)[0]
        return reply


async def _has(slack: SlackDouble, rid: str) -> bool:
    return bool(slack.responses(rid))


async def detail(stack: MedicStack, incident_id: str = "incident-checkout") -> dict[str, Any]:
    async with stack.http() as http:
        answer = await http.get(f"/incidents/{incident_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


async def metric(http: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample from /metrics (0 when absent)."""
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def kinds(d: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in d["timeline"]]


def stack_for(slack_url: str, tmp: Path, **extra: Any) -> Any:
    return medic_stack(
        quiet_seconds=600.0,
        routing_yaml=ROUTING,
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_base_url=f"{slack_url}/api/",
        slack_response_url_prefixes=[slack_url],
        postmortem_dir=tmp / "postmortems",
        **extra,
    )


async def test_bad_signatures_are_refused_and_change_nothing(tmp_path: Path) -> None:
    slack = SlackDouble(usergroups={"S0ONCALL": [ONCALL]})
    with slack.serve() as slack_url:
        async with stack_for(slack_url, tmp_path) as stack, stack.http() as http:
            assert (await http.post("/webhooks/alertmanager", json=alert_payload())).status_code == 200
            body = command_body("ack incident-checkout", user_id=ONCALL, response_url=slack.response_url("x"))
            unsigned = await http.post("/slack/commands", content=body)
            stale = await http.post(
                "/slack/commands",
                content=body,
                headers=signed_headers(body, timestamp=int(time.time()) - 301),
            )
            wrong_secret = await http.post(
                "/slack/commands", content=body, headers=signed_headers(body, secret="guess")
            )
            headers = signed_headers(body)
            tampered = await http.post(
                "/slack/commands", content=body.replace(b"ack", b"resolve"), headers=headers
            )
            assert [r.status_code for r in (unsigned, stale, wrong_secret, tampered)] == [401] * 4
            assert "stale" in stale.json()["detail"]
            button = interaction_body("medic_ack", "incident-checkout", user_id=ONCALL, response_url="x")
            assert (await http.post("/slack/interactions", content=button)).status_code == 401
            # However malformed, through the real server: 401, never a 500 (issue 13's probes).
            forged = [
                [(b"X-Slack-Request-Timestamp", "²³".encode("latin-1")), (b"X-Slack-Signature", b"v0=0")],
                [(b"X-Slack-Request-Timestamp", b"9" * 400), (b"X-Slack-Signature", b"v0=" + b"0" * 64)],
                [(b"X-Slack-Request-Timestamp", b"-5"), (b"X-Slack-Signature", "v0=é".encode("latin-1"))],
            ]
            for route in ("/slack/commands", "/slack/interactions"):
                for raw_headers in forged:
                    assert (await http.post(route, content=body, headers=raw_headers)).status_code == 401
                garbled = await http.post(route, content=b"\xff\xfe" * 10, headers=signed_headers(b"other"))
                assert garbled.status_code == 401
            deep = urlencode({"payload": "[" * 5000 + "]" * 5000}).encode()
            too_deep = await http.post("/slack/interactions", content=deep, headers=signed_headers(deep))
            assert too_deep.status_code == 400 and "64" in too_deep.json()["detail"]
            # A valid request is taken once; the same request replayed is refused.
            first = await http.post("/slack/commands", content=body, headers=headers)
            replay = await http.post("/slack/commands", content=body, headers=headers)
            assert first.status_code == 200 and replay.status_code == 401
            assert "replayed" in replay.json()["detail"]
            d = await detail(stack)
            assert kinds(d).count("incident.acknowledged") == 1, "only the one valid request acted"
            # A signed request pointing its response_url elsewhere is refused before anything runs.
            evil = command_body("list", user_id=ONCALL, response_url="http://169.254.169.254/latest")
            assert (
                await http.post("/slack/commands", content=evil, headers=signed_headers(evil))
            ).status_code == 400
            # The Resolve button, by someone allowed (via the Slack user group): resolved, by them.
            pressed = await SlackClient(stack, slack).press("medic_resolve", "incident-checkout")
            assert "resolved" in pressed["text"]
            d = await detail(stack)
            assert d["status"] == "resolved"
            assert any(e["kind"] == "incident.resolved" and e["actor"] == ONCALL for e in d["timeline"])


async def test_commands_and_buttons_end_to_end(tmp_path: Path) -> None:
    slack = SlackDouble(usergroups={"S0ONCALL": [ONCALL]})
    with slack.serve() as slack_url:
        async with stack_for(slack_url, tmp_path) as stack, stack.http() as http:
            chat = SlackClient(stack, slack)
            assert await metric(http, "medic_incidents_resolved_total") == 0
            assert (await http.post("/webhooks/alertmanager", json=alert_payload())).status_code == 200

            async def opened() -> bool:
                return await metric(http, "medic_incidents_opened_total") == 1

            await wait_until(opened, timeout=30, what="the opened-incidents counter")
            assert await metric(http, "medic_webhook_latency_seconds_count", route="alertmanager") == 1

            help_text = (await chat.command("help"))["text"]
            assert "/medic ack" in help_text and "silence" in help_text
            assert "Did you mean `/medic ack`?" in (await chat.command("akc incident-checkout"))["text"]
            assert "no incident `incident-nope`" in (await chat.command("show nope"))["text"]
            assert "incident-checkout" in (await chat.command("list"))["text"]

            refused = await chat.command("ack incident-checkout", user=INTRUDER)
            assert refused["text"].startswith(":no_entry:") and "may not" in refused["text"]
            d = await detail(stack)
            assert d["status"] == "open" and "command.refused" in kinds(d)

            acked = await chat.command("ack checkout")  # short id, via the Slack user group S0ONCALL
            assert "acknowledged" in acked["text"] and acked["response_type"] == "in_channel"
            d = await detail(stack)
            assert d["status"] == "acknowledged"
            assert any(e["kind"] == "incident.acknowledged" and e["actor"] == ONCALL for e in d["timeline"])
            again = await chat.press("medic_ack", "incident-checkout")
            assert "acknowledged" in again["text"]  # idempotent: still acknowledged, by the first person
            assert kinds(await detail(stack)).count("incident.acknowledged") == 1
            other = await chat.press("medic_ack", "incident-checkout", user=SRE)  # someone else, later
            assert f"was already acknowledged by <@{ONCALL}>" in other["text"]
            assert other.get("response_type") != "in_channel"  # not told the channel as theirs

            shown = (await chat.command("show incident-checkout"))["text"]
            assert "acknowledged" in shown and "CheckoutDown" in shown

            fp = await chat.press("medic_false_positive", "incident-checkout")
            assert "CheckoutDown" in fp["text"]
            feedback = (await http.get("/feedback")).json()
            assert feedback["rules"]["CheckoutDown"]["false_positives"] == 1
            assert "Marked false positive" in (await chat.command("show incident-checkout"))["text"]

            no_kill = await chat.press("medic_kill_switch", "on|incident-checkout", user=ONCALL)
            assert "may not" in no_kill["text"]
            assert (await http.get("/control/kill-switch")).json()["on"] is False
            kill = await chat.press("medic_kill_switch", "on|incident-checkout", user=SRE)
            assert "ON" in kill["text"]
            switch = (await http.get("/control/kill-switch")).json()
            assert switch["on"] is True and switch["actor"] == SRE
            assert "/medic killswitch off" in kill["text"]  # how to turn it off, said where it was turned on
            status = (await chat.command("killswitch", user=ONCALL))["text"]  # anyone may ask
            assert f"The kill switch is ON by <@{SRE}>" in status
            refused = await chat.command("killswitch off", user=ONCALL)
            assert "may not" in refused["text"]
            assert (await http.get("/control/kill-switch")).json()["on"] is True
            off = await chat.command("kill-switch off -- the bad release is rolled back", user=SRE)
            assert "turned the kill switch off" in off["text"]
            switch = (await http.get("/control/kill-switch")).json()
            assert switch["on"] is False and switch["reason"] == "the bad release is rolled back"
            assert "is off" in (await chat.command("killswitch status"))["text"]

            nothing = await chat.command("approve incident-checkout")
            assert "Nothing in `incident-checkout` is waiting" in nothing["text"]
            bad = await chat.command('silence alertname=~"(" 1h')
            assert bad["text"].startswith(":warning:")

            draft = await http.get("/incidents/incident-checkout/postmortem")
            assert draft.status_code == 200 and "Draft" in draft.text and "**Final**" not in draft.text
            assert (await http.get("/incidents/incident-nope/postmortem")).status_code == 404
            # A careless reason quoting the configured secrets: redacted in everything Medic keeps.
            resolved = await chat.command(f"resolve incident-checkout rotated {SLACK_TOKEN} and {TOKEN}")
            assert "resolved" in resolved["text"]
            everything = (await http.get("/incidents/incident-checkout")).text
            assert "rotated [redacted] and [redacted]" in everything
            assert SLACK_TOKEN not in everything and TOKEN not in everything

            async def postmortem_written() -> bool:
                return (tmp_path / "postmortems" / "incident-checkout" / "postmortem.md").exists()

            await wait_until(postmortem_written, timeout=30, what="the postmortem file")
            priority = d["priority"]
            assert await metric(http, "medic_incidents_resolved_total", priority=priority) == 1
            assert (
                await metric(http, "medic_incident_time_to_acknowledge_seconds_count", priority=priority) == 1
            )
            assert await metric(http, "medic_incident_time_to_resolve_seconds_count", priority=priority) == 1
            assert await metric(http, "medic_notifications_total", channel="slack", outcome="ok") >= 2
            text = (tmp_path / "postmortems" / "incident-checkout" / "postmortem.md").read_text()
            assert "**Final**" in text and "CheckoutDown" in text and "false positive" in text.lower()
            assert SLACK_TOKEN not in text and TOKEN not in text
            served = await http.get("/incidents/incident-checkout/postmortem")
            assert served.status_code == 200 and served.headers["content-type"].startswith("text/markdown")
            assert "**Final**" in served.text
            chart = await http.get("/incidents/incident-checkout/timeline.svg")
            assert chart.status_code == 200 and chart.text.lstrip().startswith("<")
            pm = await chat.command("postmortem incident-checkout")
            assert "Postmortem for `incident-checkout`" in pm["text"]
            late = await chat.command("ack incident-checkout")
            assert "resolved" in late["text"] or "closed" in late["text"]


async def test_approve_and_deny_from_slack(tmp_path: Path) -> None:
    """A remediation waits for a human: a person not allowed is refused (and it is recorded), an
    approver from the on-call Slack group approves with `/medic approve`, the action runs once."""
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "rb.yaml").write_text(RUNBOOK.replace("RUNBOOK_APPROVAL", "always"))
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout")
    slack = SlackDouble(usergroups={"S0ONCALL": [ONCALL]})
    with slack.serve() as slack_url, kube.serve() as kube_url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url)
        async with (
            stack_for(
                slack_url, tmp_path, runbooks_dir=runbooks, remediation_mode="auto", kubeconfig=kubeconfig
            ) as stack,
            stack.http() as http,
        ):
            chat = SlackClient(stack, slack)
            assert (await http.post("/webhooks/alertmanager", json=stuck_payload())).status_code == 200

            async def requested() -> bool:
                return "approval.requested" in kinds(await detail(stack))

            await wait_until(requested, timeout=60, what="an approval request")
            # The approval message in Slack carries Approve/Deny buttons naming the remediation.
            approval = next(
                m
                for c in ("#incidents", "#checkout-oncall")
                for m in slack.messages(c)
                if "Approval" in m.text
            )
            buttons = [e for b in approval.blocks if b.get("type") == "actions" for e in b["elements"]]
            deny_value = next(e["value"] for e in buttons if e["action_id"] == "medic_deny")

            refused = await chat.press("medic_deny", deny_value, user=INTRUDER)
            assert "may not deny a low-risk action" in refused["text"]
            d = await detail(stack)
            assert any(e["kind"] == "command.refused" and e["actor"] == INTRUDER for e in d["timeline"])
            assert kube.writes() == []

            denied = await chat.command("deny incident-checkout restart -- traffic is recovering")
            assert "denied" in denied["text"], denied

            async def denial_recorded() -> bool:
                return "approval.denied" in kinds(await detail(stack))

            await wait_until(denial_recorded, timeout=60, what="the denial")
            # The symptom comes back (a new episode): the runbook asks again, and this time it is approved.
            again = stuck_payload() | {
                "alerts": [stuck_payload()["alerts"][0] | {"fingerprint": "stuck00000000002"}]
            }
            assert (await http.post("/webhooks/alertmanager", json=again)).status_code == 200

            async def asked_twice() -> bool:
                return kinds(await detail(stack)).count("approval.requested") == 2

            await wait_until(asked_twice, timeout=60, what="a second approval request")
            approved = await chat.command("approve incident-checkout restart")
            assert "approved" in approved["text"], approved

            async def acted() -> bool:
                return "action.executed" in kinds(await detail(stack))

            await wait_until(acted, timeout=60, what="the approved restart")
            d = await detail(stack)
            assert any(e["kind"] == "approval.granted" and e["actor"] == ONCALL for e in d["timeline"])
            assert len(kube.writes()) == 1, "denied once (nothing), approved once, acted once"
            assert any(e["kind"] == "approval.denied" and e["actor"] == ONCALL for e in d["timeline"])
            assert (
                await metric(http, "medic_remediation_actions_total", kind="restart", outcome="applied") == 1
            )
            late = await chat.press("medic_approve", deny_value)
            assert "finished" in late["text"] or "not waiting" in late["text"]
