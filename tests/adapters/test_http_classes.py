"""Every adapter classifies HTTP failures the same way (issue 15), against its double:

    429 + Retry-After: <seconds>      -> TransientError, retry_after == seconds
    429 + Retry-After: <HTTP-date>    -> TransientError, retry_after == seconds until then
    500, 502, 503, 504                -> TransientError
    no answer in time                 -> TransientError
    400, 403, 404                     -> PermanentError

One row per adapter: how to build it against its double, and one call that goes over HTTP."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from activities.adapters.http import classify, retry_after
from activities.adapters.jira import JiraTracker
from activities.adapters.loki import LokiMetrics
from activities.adapters.opsgenie import OpsgeniePager
from activities.adapters.pagerduty import PagerDutyEvents
from activities.adapters.slack import SlackChat
from activities.adapters.teams import TeamsChat
from medic.cards import IncidentCard
from medic.ports import ChatMessage, IssueRequest, Page, PermanentError, TransientError
from tests.doubles import (
    JIRA_API_TOKEN,
    JIRA_USER,
    PAGERDUTY_ROUTING_KEY,
    SLACK_TOKEN,
    JiraDouble,
    PagerDutyDouble,
    SlackDouble,
)
from tests.doubles._base import HttpDouble
from tests.doubles.loki import LokiDouble
from tests.doubles.opsgenie import OPSGENIE_API_KEY, OpsgenieDouble
from tests.doubles.teams import TeamsDouble

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TIMEOUT = 1.0  # every adapter is built with this client timeout; a delay fault exceeds it


@dataclass(frozen=True)
class Row:
    name: str
    double: Callable[[], HttpDouble]
    call: Callable[[str], Callable[[], object]]  # base URL -> the call to make


def _slack(url: str) -> Callable[[], object]:
    chat = SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", timeout=int(TIMEOUT), rate_limit_retries=0)
    return lambda: chat.post("#checkout-oncall", ChatMessage(text="x"))


def _pagerduty(url: str) -> Callable[[], object]:
    events = PagerDutyEvents(
        {"checkout": PAGERDUTY_ROUTING_KEY}, default_key=None, events_url=f"{url}/v2/enqueue", timeout=TIMEOUT
    )
    return lambda: events.send(
        Page(action="acknowledge", dedup_key="incident-x", routing_key_name="checkout")
    )


def _issue() -> IssueRequest:
    return IssueRequest(
        project="OPS", summary="s", description="d", priority="High", dedup_label="incident-x"
    )


def _jira(deployment: str) -> Callable[[str], Callable[[], object]]:
    def build(url: str) -> Callable[[], object]:
        tracker = JiraTracker(
            url,
            user=JIRA_USER,
            token=JIRA_API_TOKEN,
            timeout=TIMEOUT,
            deployment="cloud" if deployment == "Cloud" else "datacenter",
        )
        return lambda: tracker.ensure_issue(_issue())

    return build


def _opsgenie(url: str) -> Callable[[], object]:
    pager = OpsgeniePager(OPSGENIE_API_KEY, base_url=url, timeout=TIMEOUT)
    return lambda: pager.send(Page(action="acknowledge", dedup_key="incident-x", routing_key_name="checkout"))


def _teams(url: str) -> Callable[[], object]:
    chat = TeamsChat({"checkout": TeamsDouble().webhook_url(url, "checkout")}, timeout=TIMEOUT)
    card = IncidentCard(
        incident_id="incident-x", title="t", status="open", priority="P2", impact=50, opened_at=T0
    )
    return lambda: chat.post_card("checkout", card)


def _loki(url: str) -> Callable[[], object]:
    loki = LokiMetrics(url, timeout=TIMEOUT)
    return lambda: loki.query_range('count_over_time({app="shop"} [5m])', start=0.0, end=600.0, step=60.0)


ROWS = [
    Row("slack", SlackDouble, _slack),
    Row("pagerduty", PagerDutyDouble, _pagerduty),
    Row("jira-cloud", lambda: JiraDouble(deployment_type="Cloud"), _jira("Cloud")),
    Row("jira-datacenter", lambda: JiraDouble(deployment_type="Server"), _jira("Server")),
    Row("opsgenie", OpsgenieDouble, _opsgenie),
    Row("teams", TeamsDouble, _teams),
    Row("loki", LokiDouble, _loki),
]


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


# (fault to push, expected error type, expected retry_after: None (absent), or a (low, high) range)
FAULTS: dict[str, tuple[dict[str, Any], type[Exception], tuple[float, float] | None]] = {
    "429-seconds": ({"kind": "rate_limit", "retry_after": 7}, TransientError, (7, 7)),
    "429-http-date": (
        {"kind": "rate_limit", "retry_after": None, "headers": {"Retry-After": "DATE+30"}},
        TransientError,
        (25, 30),
    ),
    "500": ({"kind": "server_error", "status": 500}, TransientError, None),
    "502": ({"kind": "server_error", "status": 502}, TransientError, None),
    "503": ({"kind": "server_error", "status": 503}, TransientError, None),
    "504": ({"kind": "server_error", "status": 504}, TransientError, None),
    "timeout": ({"kind": "delay", "seconds": TIMEOUT * 2.5}, TransientError, None),
    "400": ({"kind": "http_error", "status": 400}, PermanentError, None),
    "403": ({"kind": "http_error", "status": 403}, PermanentError, None),
    "404": ({"kind": "http_error", "status": 404}, PermanentError, None),
}


@pytest.fixture(params=ROWS, ids=[r.name for r in ROWS])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[HttpDouble, Callable[[], object]]]:
    row: Row = request.param
    double = row.double()
    with double.serve() as url:
        yield double, row.call(url)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_adapter_classifies_http_failures_alike(
    served: tuple[HttpDouble, Callable[[], object]], fault: str
) -> None:
    double, call = served
    spec, expected, wait = FAULTS[fault]
    push = dict(spec)
    kind = push.pop("kind")
    if "headers" in push:
        push["headers"] = {"Retry-After": _http_date(30)}
    # Enough copies for any SDK's one in-place retry; what is left is cleared below.
    double.faults.push(kind, times=3, **push)
    with pytest.raises(expected) as raised:
        call()
    double.faults.clear()
    if wait is None:
        if expected is TransientError and fault != "timeout":
            assert raised.value.retry_after is None  # type: ignore[attr-defined]
    else:
        low, high = wait
        got = raised.value.retry_after  # type: ignore[attr-defined]
        assert got is not None and low <= got <= high, got


def test_a_services_own_wait_header_counts_where_there_is_no_retry_after() -> None:
    period = {"X-RateLimit-Period-In-Sec": "60"}
    hinted = classify(429, service="Opsgenie", what="x", headers=period, hint="X-RateLimit-Period-In-Sec")
    assert isinstance(hinted, TransientError) and hinted.retry_after == 60
    both = {**period, "Retry-After": "5"}
    first = classify(429, service="Opsgenie", what="x", headers=both, hint="X-RateLimit-Period-In-Sec")
    assert isinstance(first, TransientError) and first.retry_after == 5  # Retry-After first
    plain = classify(429, service="Slack", what="x", headers=period)
    assert isinstance(plain, TransientError) and plain.retry_after is None


def test_retry_after_parser() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert retry_after("120", now=now) == 120
    assert retry_after("Fri, 04 Dec 2026 12:00:30 GMT", now=now) == 30
    assert retry_after("Fri, 04 Dec 2026 11:59:00 GMT", now=now) == 0  # in the past: now
    assert retry_after("soon", now=now) is None and retry_after(None) is None and retry_after("") is None
    assert retry_after("99999999", now=now) == 3600  # bounded
    assert isinstance(classify(408, service="x", what="y"), TransientError)
    assert isinstance(classify(401, service="x", what="y"), PermanentError)
