"""Issue 15, end to end on the time-skipping server with the real adapters against the doubles: one P1
incident reaches Slack, PagerDuty and Opsgenie (MEDIC_PAGER=both) and Jira Cloud as Jira Cloud answers
today, is acknowledged from PagerDuty's app (a signed v3 webhook), stops escalating, and resolves with
its postmortem attached to the Jira issue. Teams gets the card once and a follow-up per status change
(Workflows posts cannot be edited); Opsgenie gets the acknowledgement as a note on its alert, once."""

import json
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.adapters.jira import JiraTracker
from activities.adapters.slack import SlackChat
from activities.adapters.teams import TeamsChat
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import AlertStatus
from medic.incident import IncidentStatus
from service.pagers import build_pager
from service.settings import Settings
from service.worker import WORKFLOWS
from tests.conftest import require_binary
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
from tests.support.fakes import queried_state
from tests.support.timeskip import time_skipping
from tests.workflow.test_notifications import POLICY, open_incident, outage, until
from tests.workflow.test_pagerduty_ack import deliver
from workflows.incident import IncidentWorkflow

SECRET = "whsec-e2e"


@dataclass
class Stack:
    env: WorkflowEnvironment
    slack: SlackDouble
    pagerduty: PagerDutyDouble
    opsgenie: OpsgenieDouble
    jira: JiraDouble
    teams: TeamsDouble
    worker: Worker
    task_queue: str


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    path = require_binary("temporal-test-server")
    slack = SlackDouble(channels={"#data-oncall": "C0DATA", "#war-room": "C0WAR", "#incidents": "C0INC"})
    pd = PagerDutyDouble(routing_keys=(PAGERDUTY_ROUTING_KEY,))
    og, jira = OpsgenieDouble(), JiraDouble(deployment_type="Cloud", projects={"DATA": "Data"})
    teams = TeamsDouble(flows=("data-oncall",))
    policy = POLICY.model_copy(deep=True)
    policy.rules[0].teams_channels = ["data-oncall"]  # P1: Teams too
    with ExitStack() as doubles:
        slack_url, pd_url = doubles.enter_context(slack.serve()), doubles.enter_context(pd.serve())
        og_url, jira_url = doubles.enter_context(og.serve()), doubles.enter_context(jira.serve())
        teams_url = doubles.enter_context(teams.serve())
        names = ("data", "data-2", "boss")
        settings = Settings(
            _env_file=None,
            pager="both",
            pagerduty_routing_keys={n: SecretStr(PAGERDUTY_ROUTING_KEY) for n in names},
            pagerduty_events_url=f"{pd_url}/v2/enqueue",
            opsgenie_api_keys={n: SecretStr(OPSGENIE_API_KEY) for n in names},
            opsgenie_url=og_url,
            teams_webhooks={"data-oncall": SecretStr(teams.webhook_url(teams_url, "data-oncall"))},
        )
        pager = build_pager(settings)
        assert pager is not None
        notify = NotifyActivities(
            chat=SlackChat(SLACK_TOKEN, base_url=f"{slack_url}/api/"),
            pager=pager,
            tracker=JiraTracker(jira_url, user=JIRA_USER, token=JIRA_API_TOKEN),
            chats={"teams": TeamsChat({n: u.get_secret_value() for n, u in settings.teams_webhooks.items()})},
            policy=lambda: policy,
            workflow_url=lambda wid: f"https://temporal.example/namespaces/default/workflows/{wid}",
        )
        async with time_skipping(path) as env:
            client = env.client

            postmortem = PostmortemActivities(PostmortemWriter(tmp_path / "pm"), queried_state(client))
            queue = f"tq-{uuid.uuid4().hex[:6]}"
            worker = Worker(
                client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=[*notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(4),
            )
            yield Stack(env, slack, pd, og, jira, teams, worker, queue)


async def acknowledge_in_pagerduty(s: Stack, incident_id: str) -> httpx.Response:
    payload = json.loads(
        (Path(__file__).parents[1] / "fixtures/pagerduty/go_pagerduty_webhookv3_vector.json").read_text()
    )
    event = json.loads(payload["body"])
    event["event"]["event_type"] = "incident.acknowledged"
    event["event"]["data"]["incident_key"] = incident_id
    return await deliver(s.env.client, json.dumps(event).encode())


async def test_one_incident_everywhere_acknowledged_from_pagerduty(stack: Stack) -> None:
    s = stack
    async with s.worker:
        handle = await open_incident(s)
        incident_id = handle.id
        # The first level's page goes out beside the Slack post and the Jira issue: wait for both.
        state = await until(
            handle,
            lambda st: (
                st.notifications.jira_key is not None and st.notifications.pages.get("data") == "trigger"
            ),
            "the Jira issue and the page",
        )
        # Jira Cloud: found and opened through /rest/api/3 (search/jql), never the removed search.
        assert s.jira.count("GET /rest/api/3/search/jql") >= 1
        assert s.jira.count("GET /rest/api/2/search") == 0 and s.jira.count("GET /rest/api/3/search") == 0
        (issue,) = s.jira.issues("DATA")
        assert issue.description_doc is not None and "Incident in Medic" in json.dumps(issue.description_doc)
        assert s.pagerduty.alert(incident_id).status == "triggered"
        assert (s.opsgenie.alert(incident_id).priority, s.opsgenie.alert(incident_id).status) == (
            "P1",
            "open",
        )
        assert s.slack.messages("#data-oncall")
        # Acknowledged in PagerDuty's app.
        answer = await acknowledge_in_pagerduty(s, incident_id)
        assert answer.status_code == 202 and answer.json()["handled"] is True
        await until(handle, lambda st: st.notifications.pages.get("data") == "acknowledge", "the ack")
        await s.env.sleep(timedelta(hours=1))  # level 2 was due after 5 minutes
        state = await handle.query(IncidentWorkflow.state)
        assert state.notifications.escalation_done <= 1 and "data-2" not in state.notifications.pages
        assert "Acknowledged by Tenex Engineer (pagerduty)." in [e.message for e in state.timeline]
        assert s.opsgenie.alert(incident_id).acknowledged
        # Resolved: pages closed, the Jira issue done with the postmortem attached as a file.
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        result = await handle.result()
    assert result.status is IncidentStatus.RESOLVED
    assert s.pagerduty.alert(incident_id).status == "resolved"
    assert s.opsgenie.alert(incident_id).status == "closed"
    done = s.jira.issue(issue.key)
    assert done.status == "Done"
    assert [a.filename for a in done.attachments] == [f"{incident_id}-postmortem.md"]
    # Teams: one card, then one follow-up per status change, every post a valid Adaptive Card.
    posts = s.teams.posts("data-oncall")
    assert all(p.accepted for p in posts), [p.reason for p in posts]
    assert sum("Status: " in p.texts() for p in posts) == 1  # the card, once
    follow_ups = [" ".join(p.texts()) for p in posts[1:]]
    assert len(follow_ups) == len(set(follow_ups))
    assert "Acknowledged by Tenex Engineer (pagerduty)." in follow_ups
    assert sum(text.startswith("Resolved") for text in follow_ups) == 1
    assert follow_ups[-1].startswith("Postmortem: ")  # its link only when Medic has a public URL
    # Opsgenie: the acknowledgement (and nothing twice) as notes on the incident's alert.
    notes = s.opsgenie.alert(incident_id).notes
    assert notes.count("Acknowledged by Tenex Engineer (pagerduty).") == 1
    assert len(notes) == len(set(notes))
