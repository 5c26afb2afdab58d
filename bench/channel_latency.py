"""Per-channel send latency: one adapter call (over the real SDK or HTTP client) to each channel's local
double, sequentially, so the figure is the adapter's own cost plus a loopback round trip.

    python -m bench.channel_latency [--calls 200]

Slack (chat.postMessage), PagerDuty (an acknowledge event, and a change event), Opsgenie (create alert),
Teams (a card through a Workflows webhook), Jira Cloud and Data Center (a comment; the deployment is
detected once before timing). Prints p50/p90/p99/max per channel in milliseconds.
"""

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from activities.adapters.jira import JiraTracker
from activities.adapters.opsgenie import OpsgeniePager
from activities.adapters.pagerduty import PagerDutyEvents
from activities.adapters.slack import SlackChat
from activities.adapters.teams import TeamsChat
from bench.harness import percentile
from medic.cards import IncidentCard
from medic.ports import Change, ChatMessage, IssueRequest, Page
from tests.doubles import (
    JIRA_API_TOKEN,
    JIRA_USER,
    PAGERDUTY_ROUTING_KEY,
    SLACK_TOKEN,
    JiraDouble,
    PagerDutyDouble,
    SlackDouble,
)
from tests.doubles.opsgenie import OPSGENIE_API_KEY, OpsgenieDouble
from tests.doubles.teams import TeamsDouble

CARD = IncidentCard(
    incident_id="incident-bench",
    title="checkout latency",
    status="open",
    priority="P2",
    impact=66,
    services=["checkout"],
    opened_at=datetime(2026, 12, 4, tzinfo=UTC),
    ui_url="https://temporal.example/namespaces/default/workflows/incident-bench",
)
PAGE = Page(action="acknowledge", dedup_key="incident-bench", routing_key_name="checkout")


def _commenter(tracker: JiraTracker, key: str) -> Callable[[], object]:
    return lambda: tracker.comment(key, "bench")


@contextmanager
def channels() -> Iterator[dict[str, Callable[[], object]]]:
    with ExitStack() as stack:
        slack = stack.enter_context(SlackDouble().serve())
        pd = stack.enter_context(PagerDutyDouble().serve())
        og = stack.enter_context(OpsgenieDouble().serve())
        teams_double = TeamsDouble()
        teams = stack.enter_context(teams_double.serve())
        calls: dict[str, Callable[[], object]] = {}
        chat = SlackChat(SLACK_TOKEN, base_url=f"{slack}/api/")
        calls["slack"] = lambda: chat.post("#checkout-oncall", ChatMessage(text="bench"))
        events = PagerDutyEvents(
            {"checkout": PAGERDUTY_ROUTING_KEY}, default_key=None, events_url=f"{pd}/v2/enqueue"
        )
        calls["pagerduty"] = lambda: events.send(PAGE)
        change = Change(routing_key_name="checkout", summary="Medic scaled checkout to 4")
        calls["pagerduty change"] = lambda: events.change(change)
        opsgenie = OpsgeniePager(OPSGENIE_API_KEY, base_url=og)
        calls["opsgenie"] = lambda: opsgenie.send(
            PAGE.model_copy(update={"action": "trigger", "summary": "x"})
        )
        ms_teams = TeamsChat({"checkout": teams_double.webhook_url(teams, "checkout")})
        calls["teams"] = lambda: ms_teams.post_card("checkout", CARD)
        for cloud in (True, False):
            url = stack.enter_context(JiraDouble(deployment_type="Cloud" if cloud else "Server").serve())
            tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
            key = tracker.ensure_issue(
                IssueRequest(
                    project="OPS", summary="bench", description="d", priority="High", dedup_label="b"
                )
            )
            calls["jira cloud" if cloud else "jira data center"] = _commenter(tracker, key)
        yield calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with channels() as calls:
        print(f"{'channel':<18} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   (ms, {args.calls} calls each)")
        for name, call in calls.items():
            call()  # warm up: connections, detection
            took: list[float] = []
            for _ in range(args.calls):
                start = time.perf_counter()
                call()
                took.append((time.perf_counter() - start) * 1000)
            took.sort()
            figures = [percentile(took, q) for q in (50, 90, 99)] + [took[-1]]
            print(f"{name:<18} " + " ".join(f"{f:8.1f}" for f in figures))


if __name__ == "__main__":
    main()
