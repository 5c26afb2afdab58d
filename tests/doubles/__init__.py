"""Local HTTP doubles of the external APIs Medic notifies (Slack Web API, PagerDuty Events API v2,
JIRA REST v2), each a FastAPI app served from a background thread, for driving the real SDKs.

    with SlackDouble().serve() as url:
        client = WebClient(token=slack.DEFAULT_TOKEN, base_url=f"{url}/api/")

Every double records its requests (``count(route)``, ``requests()``), keeps inspectable in-memory
state and takes injected faults (``double.faults.push("rate_limit", retry_after=0)``); see
:mod:`tests.doubles._base` and each module's docstring for what is and is not covered.
"""

from tests.doubles._base import Fault, FaultKind, FaultQueue, HttpDouble, RecordedRequest, serve_in_thread
from tests.doubles.jira import DEFAULT_API_TOKEN as JIRA_API_TOKEN
from tests.doubles.jira import DEFAULT_USER as JIRA_USER
from tests.doubles.jira import JiraComment, JiraDouble, JiraIssue, JiraTransition, JqlError
from tests.doubles.pagerduty import DEFAULT_ROUTING_KEY as PAGERDUTY_ROUTING_KEY
from tests.doubles.pagerduty import PagerDutyAlert, PagerDutyDouble, PagerDutyEvent
from tests.doubles.slack import DEFAULT_CHANNELS as SLACK_CHANNELS
from tests.doubles.slack import DEFAULT_TOKEN as SLACK_TOKEN
from tests.doubles.slack import SlackDouble, SlackEdit, SlackEphemeral, SlackMember, SlackMessage

__all__ = [
    "JIRA_API_TOKEN",
    "JIRA_USER",
    "PAGERDUTY_ROUTING_KEY",
    "SLACK_CHANNELS",
    "SLACK_TOKEN",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "HttpDouble",
    "JiraComment",
    "JiraDouble",
    "JiraIssue",
    "JiraTransition",
    "JqlError",
    "PagerDutyAlert",
    "PagerDutyDouble",
    "PagerDutyEvent",
    "RecordedRequest",
    "SlackDouble",
    "SlackEdit",
    "SlackEphemeral",
    "SlackMember",
    "SlackMessage",
    "serve_in_thread",
]
