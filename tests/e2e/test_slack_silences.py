"""`/medic silence` and the Silence button against a real Alertmanager (Debian's package): the
silence exists there with the parsed matchers and expiry, is linked on the incident's timeline and
shown by `/medic show`; malformed input and Alertmanager's own refusals create nothing."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.doubles import SlackDouble
from tests.integration.test_slack import ONCALL, SRE, SlackClient, alert_payload, detail, kinds, stack_for
from tests.support.promstack import running_alertmanager

pytestmark = pytest.mark.e2e

AM_CONFIG: dict[str, Any] = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}


async def silences(am_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=am_url, timeout=10) as http:
        answer = await http.get("/api/v2/silences")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found


async def test_silences_reach_a_real_alertmanager(tmp_path: Path) -> None:
    slack = SlackDouble(usergroups={"S0ONCALL": [ONCALL]})
    async with running_alertmanager(AM_CONFIG) as am:
        am_url = am.url
        with slack.serve() as slack_url:
            async with stack_for(slack_url, tmp_path, alertmanager_url=am_url) as stack, stack.http() as http:
                chat = SlackClient(stack, slack)
                assert (await http.post("/webhooks/alertmanager", json=alert_payload())).status_code == 200

                refused = await chat.command("silence alertname=CheckoutDown 2h")  # on-call may not silence
                assert "may not" in refused["text"]
                malformed = await chat.command('silence alertname=~"(" 2h', user=SRE)
                assert malformed["text"].startswith(":warning:") and "alertname" in malformed["text"]
                too_long = await chat.command("silence alertname=CheckoutDown 90d", user=SRE)
                assert too_long["text"].startswith(":warning:")
                # Valid for Python's re, refused by Alertmanager's RE2: its message comes back to the person.
                lookahead = await chat.command('silence alertname=~"(?=Checkout).*" 1h', user=SRE)
                assert "Alertmanager" in lookahead["text"], lookahead
                assert await silences(am_url) == [], "nothing malformed reached Alertmanager"

                before = datetime.now(UTC)
                made = await chat.command(
                    'silence incident-checkout alertname=CheckoutDown service="checkout" 2h -- deploying',
                    user=SRE,
                )
                after_command = datetime.now(UTC)
                assert made["text"].startswith(":mute:"), made
                (silence,) = await silences(am_url)
                assert silence["status"]["state"] == "active"
                assert silence["createdBy"] in (SRE, SRE.lower())
                assert silence["comment"] == "deploying"
                matchers = {
                    (m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in silence["matchers"]
                }
                assert matchers == {
                    ("alertname", "CheckoutDown", False, True),
                    ("service", "checkout", False, True),
                }
                ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
                assert before + timedelta(hours=2) <= ends + timedelta(seconds=1)  # Alertmanager keeps ms
                assert ends <= after_command + timedelta(hours=2)

                d = await detail(stack)
                entry = next(e for e in d["timeline"] if e["kind"] == "silence.created")
                assert entry["actor"] == SRE and silence["id"] in entry["data"]["url"]
                assert d["silences"][0]["id"] == silence["id"]
                shown = (await chat.command("show incident-checkout"))["text"]
                assert "active until" in shown and silence["id"] in shown
                # The same command again (run again after "Working on it...", a proxy's resend): the
                # silence made holds, no second one stacks (a field walk-through made two).
                again = await chat.command(
                    'silence incident-checkout alertname=CheckoutDown service="checkout" 2h -- deploying',
                    user=SRE,
                )
                assert "Already silenced by your" in again["text"] and silence["id"] in again["text"]
                assert len(await silences(am_url)) == 1
                longer = await chat.command(  # the same matchers for longer, on purpose: its own silence
                    'silence incident-checkout alertname=CheckoutDown service="checkout" 4h -- deploying',
                    user=SRE,
                )
                assert longer["text"].startswith(":mute: Silenced"), longer
                made_by_hand = {s["id"] for s in await silences(am_url)}
                assert len(made_by_hand) == 2

                pressed = await chat.press("medic_silence", "incident-checkout", user=SRE)
                assert pressed["text"].startswith(":mute:"), pressed
                after = await silences(am_url)
                assert len(after) == 3
                button = next(s for s in after if s["id"] not in made_by_hand)
                labels = {m["name"]: m["value"] for m in button["matchers"]}
                # The labels every firing alert of that rule shares: precise, nothing else hidden.
                assert labels == {
                    "alertname": "CheckoutDown",
                    "service": "checkout",
                    "severity": "critical",
                    "pod": "checkout-1",
                }
                assert kinds(await detail(stack)).count("silence.created") == 3
