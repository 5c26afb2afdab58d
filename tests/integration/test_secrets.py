"""No configured secret leaks, end to end: with a known value for every secret setting, a scripted
incident mentions them everywhere input enters (alert labels, label names, annotations, generatorURL,
group labels, an anomaly's series and summary, Slack command text: a silence comment, a deny reason,
a resolve reason; the kill switch's reason over HTTP), and none of the values appears in any workflow
history (payloads decoded), any API answer, any request Medic made to Slack, PagerDuty, JIRA or
Alertmanager (bar the credential itself, where that service needs it), the postmortem, or the logs."""

import base64
import binascii
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.redact import REDACTED
from service.logs import log_formatter
from tests.doubles import JIRA_USER, JiraDouble, PagerDutyDouble, SlackDouble
from tests.doubles.alertmanager import AlertmanagerDouble
from tests.doubles.kubernetes import KubernetesDouble
from tests.integration.test_control import RUNBOOK
from tests.support.kube import write_kubeconfig
from tests.support.slackreq import command_body, signed_headers
from tests.support.stack import OPERATOR_TOKEN, TOKEN, MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

# A known value for every secret setting (none of them a credential shape: only the configured
# values can catch them). The JIRA token is lower-case, as an incident id's slug would carry it.
SLACK_BOT = "SlackBotValue-Secrets-0042"
SIGNING = "SigningSecretValue-Secrets-0042"
PAGER_DEFAULT = "R0UTINGKEYDEFAULTSECRETS00000042"
PAGER_CHECKOUT = "R0UTINGKEYCHECKOUTSECRETS0000042"
JIRA_TOKEN = "jiraapivaluelowercase0042"
AM_PASSWORD = "AlertmanagerPassw0rdValue42"
SECRETS = [TOKEN, OPERATOR_TOKEN, SLACK_BOT, SIGNING, PAGER_DEFAULT, PAGER_CHECKOUT, JIRA_TOKEN, AM_PASSWORD]
ALL = " ".join(SECRETS)
SRE = "U0SRE"

ROUTING = f"""
rules:
  - {{name: all, pagerduty: true, jira: true}}
access:
  groups:
    sre: [{SRE}]
  ack: [sre]
  resolve: [sre]
  silence: [sre]
  kill_switch: [sre]
  approve: {{low: [sre], high: [sre]}}
"""


def alerts() -> dict[str, Any]:
    """Two alerts: one about checkout (its runbook asks for an approval), one naming no service (an
    incident of its Alertmanager group, whose id is made from the group's alertname)."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutStuck"}',
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"alertname": f"Leak{JIRA_TOKEN}"},
        "commonLabels": {"leak": ALL},
        "commonAnnotations": {"leak": ALL},
        "externalURL": f"http://medic:{AM_PASSWORD}@alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "CheckoutStuck",
                    "service": "checkout",
                    "severity": "critical",
                    "pod": f"checkout-{SLACK_BOT}",
                    "leak": ALL,
                    f"x_{PAGER_CHECKOUT}": "a label named after a secret",
                },
                "annotations": {
                    "summary": f"checkout is stuck; the keys are {ALL}",
                    "description": f"password={JIRA_TOKEN} signing_secret: {SIGNING}",
                    "runbook_url": f"https://wiki.example/runbook?token={TOKEN}",
                },
                "startsAt": "2026-11-23T12:00:00Z",
                "generatorURL": f"http://admin:{AM_PASSWORD}@prometheus:9090/graph?g0.expr=up&k={PAGER_DEFAULT}",
            },
            {
                "status": "firing",
                "labels": {"alertname": f"Leak{JIRA_TOKEN}", "severity": "warning", "leak": ALL},
                "annotations": {"summary": ALL},
                "startsAt": "2026-11-23T12:00:00Z",
            },
        ],
    }


def anomaly() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "source": "medic-scan",
        "service": "checkout",
        "series": {"__name__": "http_requests_total", "route": f"/pay?key={SLACK_BOT}", "leak": ALL},
        "value": 42.0,
        "expected": {"lower": 0.0, "upper": 5.0},
        "score": 0.97,
        "window": {"start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()},
        "summary": f"errors spiked; {ALL}",
    }


class Slack:
    def __init__(self, stack: MedicStack, double: SlackDouble) -> None:
        self.stack, self.double = stack, double
        self.replies: list[Any] = []
        self._n = 0

    async def command(self, text: str) -> str:
        self._n += 1
        rid = f"secrets-{self._n}"
        body = command_body(text, user_id=SRE, response_url=self.double.response_url(rid))
        async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=30) as http:
            answer = await http.post(
                "/slack/commands", content=body, headers=signed_headers(body, secret=SIGNING)
            )
        assert answer.status_code == 200, answer.text
        reply = answer.json()
        if "Working on it" in reply.get("text", ""):

            async def followed_up() -> bool:
                return bool(self.double.responses(rid))

            await wait_until(followed_up, timeout=30, what="the follow-up")
            reply = self.double.responses(rid)[0]
        self.replies.append(reply)
        return str(reply.get("text", ""))


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, and what each decodes to when it is base64 (Temporal's JSON
    carries payloads base64-encoded: a grep of the raw text would find nothing)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value
        if len(value) >= 8 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value):
            yield _decoded(value)


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


async def histories(stack: MedicStack) -> dict[str, str]:
    found: dict[str, str] = {}
    async for execution in stack.client.list_workflows():
        handle = stack.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        found[f"history {execution.id} {execution.run_id}"] = "\n".join(
            strings(json.loads(history.to_json()))
        )
    return found


def leaks(places: dict[str, str]) -> list[str]:
    return sorted(
        {f"{where}: {secret[:8]}…" for where, text in places.items() for secret in SECRETS if secret in text}
    )


async def test_no_configured_secret_leaks_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(log_formatter(json_format=False))  # what `medic` writes (service.logs)
    logging.getLogger().addHandler(handler)
    caplog.set_level(logging.INFO)
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "rb.yaml").write_text(RUNBOOK.replace("RUNBOOK_APPROVAL", "always"))
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout")
    slack = SlackDouble(tokens=[SLACK_BOT])
    pager = PagerDutyDouble(routing_keys=[PAGER_DEFAULT, PAGER_CHECKOUT])
    jira = JiraDouble(users={JIRA_USER: JIRA_TOKEN})
    am = AlertmanagerDouble()
    try:
        with (
            slack.serve() as slack_url,
            pager.serve() as pager_url,
            jira.serve() as jira_url,
            am.serve() as am_url,
            kube.serve() as kube_url,
        ):
            async with (
                medic_stack(
                    quiet_seconds=600.0,
                    routing_yaml=ROUTING,
                    slack_bot_token=SecretStr(SLACK_BOT),
                    slack_signing_secret=SecretStr(SIGNING),
                    slack_base_url=f"{slack_url}/api/",
                    slack_response_url_prefixes=[slack_url],
                    pagerduty_routing_key=SecretStr(PAGER_DEFAULT),
                    pagerduty_routing_keys={"checkout": SecretStr(PAGER_CHECKOUT)},
                    pagerduty_events_url=f"{pager_url}/v2/enqueue",
                    jira_url=jira_url,
                    jira_user=JIRA_USER,
                    jira_api_token=SecretStr(JIRA_TOKEN),
                    alertmanager_url=am_url.replace("http://", f"http://medic:{AM_PASSWORD}@"),
                    runbooks_dir=runbooks,
                    remediation_mode="auto",
                    kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", kube_url),
                    postmortem_dir=tmp_path / "postmortems",
                ) as stack,
                stack.http() as http,
                stack.http(operator=True) as operator,
            ):
                chat = Slack(stack, slack)
                answers: dict[str, str] = {}
                sent = await http.post("/webhooks/alertmanager", json=alerts())
                assert sent.status_code == 200, sent.text
                incidents = sent.json()["incidents"]
                assert "incident-checkout" in incidents and len(incidents) == 2
                answers["alertmanager webhook"] = sent.text
                signal = await http.post("/webhooks/anomaly", json=anomaly())
                assert signal.status_code == 200, signal.text
                answers["anomaly webhook"] = signal.text

                async def asked() -> bool:
                    detail = (await http.get("/incidents/incident-checkout")).json()
                    return any(e["kind"] == "approval.requested" for e in detail.get("timeline", []))

                await wait_until(asked, timeout=60, what="the runbook's approval request")
                assert "acknowledged" in await chat.command("ack checkout")
                assert ":mute:" in await chat.command(
                    f"silence incident-checkout alertname=CheckoutStuck 1h -- rotating {ALL}"
                )
                assert "denied" in await chat.command(f"deny checkout restart -- leaked {ALL}")
                switched = await operator.put(
                    "/control/kill-switch", json={"on": True, "actor": "U0SRE", "reason": f"rotating {ALL}"}
                )
                assert switched.status_code == 200, switched.text
                await chat.command("show checkout")
                assert "resolved" in await chat.command(f"resolve checkout rotated {ALL}")

                async def written() -> bool:
                    return (tmp_path / "postmortems" / "incident-checkout" / "postmortem.md").exists()

                await wait_until(written, timeout=60, what="the postmortem")

                async def told() -> bool:
                    return bool(pager.alerts()) and bool(jira.issues("CHK"))

                await wait_until(told, timeout=60, what="the page and the issue")
                # Everything Medic answers, about every incident.
                listed = await http.get("/incidents", params={"limit": 1000})
                answers["GET /incidents"] = listed.text
                ids = {i["id"] for i in listed.json()} | set(incidents)
                for incident_id in sorted(ids):
                    for path in ("", "/postmortem", "/timeline.svg"):
                        answer = await http.get(f"/incidents/{incident_id}{path}")
                        assert answer.status_code == 200, (incident_id, path, answer.text)
                        answers[f"GET /incidents/{incident_id}{path}"] = answer.text
                answers["GET /control/kill-switch"] = (await http.get("/control/kill-switch")).text
                answers["GET /feedback"] = (await http.get("/feedback")).text
                answers["slack replies"] = json.dumps(chat.replies)
                places = answers | await histories(stack)
                # What Medic sent: bodies and queries (credentials travel in headers, and a PagerDuty
                # event names its routing key: where each service needs its own credential, it is there).
                for name, double in (("slack", slack), ("jira", jira), ("alertmanager", am)):
                    places[f"{name} requests"] = "\n".join(
                        f"{r.path}?{r.query} {r.body.decode('utf-8', 'replace')}" for r in double.requests()
                    )
                places["pagerduty events"] = "\n".join(
                    json.dumps({k: v for k, v in json.loads(r.body).items() if k != "routing_key"})
                    for r in pager.requests()
                )
                places["silences"] = json.dumps(am.silences())
                places |= {
                    str(p): p.read_text(errors="replace")
                    for p in (tmp_path / "postmortems").rglob("*")
                    if p.is_file()
                }
                kill = json.loads(answers["GET /control/kill-switch"])
                assert kill["on"] is True and REDACTED in kill["reason"]
    finally:
        logging.getLogger().removeHandler(handler)
    places["log"] = logged.getvalue()
    assert am.silences() and "rotating" in am.silences()[0]["comment"], "the scripted incident ran"
    assert any(REDACTED in text for where, text in places.items() if where.startswith("history"))
    assert leaks(places) == []
