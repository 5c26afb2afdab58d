"""Opsgenie as a pager and Microsoft Teams through Workflows webhooks, against their doubles (issue 15),
and hostile text through every renderer of the issue's targets."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from activities.adapters.fanout import FanOutPager
from activities.adapters.jira import adf_document, wiki_text
from activities.adapters.opsgenie import OpsgeniePager, opsgenie_priority, plain
from activities.adapters.teams import TeamsChat, adaptive_card, literal
from medic.cards import IncidentCard
from medic.ports import Page, PermanentError, TransientError
from service.pagers import build_pager
from service.settings import Settings
from tests.doubles import PAGERDUTY_ROUTING_KEY, PagerDutyDouble
from tests.doubles.opsgenie import OPSGENIE_API_KEY, OpsgenieDouble
from tests.doubles.teams import TeamsDouble

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EVIL = "**bold** [x](javascript:alert(1)) {{DATE(2017-02-14T06:08:39Z, SHORT)}} <at>all</at> _i_ # h\x07"


def page(action: str, priority: str | None = "P1", **extra: object) -> Page:
    fields: dict[str, object] = {
        "action": action,
        "dedup_key": "incident-orders-db",
        "routing_key_name": "data",
        "summary": f"[{priority or 'P2'}] orders-db down",
        "severity": "critical",
        "priority": priority,
        "custom_details": {"impact": 91.5, "services": ["orders-db"]},
    }
    return Page.model_validate({**fields, **extra})


@pytest.fixture
def opsgenie() -> Iterator[tuple[OpsgenieDouble, OpsgeniePager]]:
    double = OpsgenieDouble()
    with double.serve() as url:
        yield double, OpsgeniePager(keys={"data": OPSGENIE_API_KEY}, base_url=url, confirm_waits=(0.0,) * 4)


def test_opsgenie_alert_lifecycle_by_alias(opsgenie: tuple[OpsgenieDouble, OpsgeniePager]) -> None:
    double, pager = opsgenie
    assert pager.send(page("trigger")) == "incident-orders-db"
    pager.send(page("trigger"))  # a retry: de-duplicated by alias
    pager.send(page("acknowledge"))
    pager.note("data", "incident-orders-db", EVIL)
    pager.send(page("resolve"))
    alert = double.alert("incident-orders-db")
    assert (alert.count, alert.priority, alert.acknowledged, alert.status) == (2, "P1", True, "closed")
    assert alert.notes == [EVIL[:-1]]  # as text, control character dropped
    assert alert.details["impact"] == "91.5"
    assert [r.path for r in double.requests()][-1] == "/v2/alerts/incident-orders-db/close"
    assert all(r.headers["authorization"] == f"GenieKey {OPSGENIE_API_KEY}" for r in double.requests())
    actions = [r for r in double.requests() if r.method == "POST" and r.path != "/v2/alerts"]
    assert [r.query for r in actions] == ["identifierType=alias"] * 3
    # each create's request status was asked (it is processed asynchronously): the alert was opened
    assert len(double.requests("GET /v2/alerts/requests/{request_id}")) == 2


def test_opsgenie_a_create_it_fails_later_is_a_failed_page(
    opsgenie: tuple[OpsgenieDouble, OpsgeniePager],
) -> None:
    """Opsgenie answers a create 202 and processes it later: one it then fails opened no alert, and the
    page was recorded sent while nobody was paged (a field walk-through: Teams, Opsgenie EU, Jira DC).
    Its request status says so: a permanent failure naming Opsgenie's status. Not processed yet (404) is
    asked again; never processed within the waits, it is taken as sent."""
    double, pager = opsgenie
    double.unprocessed = 2
    pager.send(page("trigger", dedup_key="incident-slow"))  # 404, 404, then "Created alert"
    assert double.alert("incident-slow").status == "open"
    double.refuse_creates = "Integration does not take this alert"
    with pytest.raises(PermanentError, match="Opsgenie did not open the alert incident-api: Integration"):
        pager.send(page("trigger", dedup_key="incident-api"))
    double.unprocessed = 99
    pager.send(page("trigger", dedup_key="incident-later"))  # never processed in time: as before


def _scripted(
    monkeypatch: pytest.MonkeyPatch,
    status: httpx.Response,
    *,
    request_id: str | None = "r-1",
    confirm_within: float = 8.0,
) -> tuple[OpsgeniePager, list[httpx.Request]]:
    """A pager whose creates are answered 202 (with ``request_id``) and every request status ``status``."""
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"result": "Request will be processed", "requestId": request_id})
        return status

    pager = OpsgeniePager(
        keys={"data": OPSGENIE_API_KEY}, timeout=10.0, confirm_waits=(0.0,) * 5, confirm_within=confirm_within
    )
    client = httpx.Client(base_url="https://api.opsgenie.test", transport=httpx.MockTransport(answer))
    monkeypatch.setattr(pager, "_http", lambda: client)
    return pager, asked


def test_opsgenie_request_status_unreadable_is_taken_as_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A status answered 200 but not as Opsgenie answers it (a proxy's page, another shape) is unreadable,
    taken as sent as the adapter says: it raised a bug's error, the activity was retried (the create sent
    again, up to 8 times) and the page ended failed while the alert was open."""
    for odd in (
        httpx.Response(200, text="<html>proxy</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"data": "Created alert"}),
    ):
        pager, asked = _scripted(monkeypatch, odd)
        assert pager.send(page("trigger")) == "incident-orders-db"
        assert [r.method for r in asked] == ["POST", "GET"]
    # a 202 naming no request: nothing to ask about (it asked a made-up id five times, 4 s)
    pager, asked = _scripted(monkeypatch, httpx.Response(404), request_id=None)
    pager.send(page("trigger"))
    assert [r.method for r in asked] == ["POST"]


def test_opsgenie_request_status_asks_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """However slowly Opsgenie answers, the asks fit in ``confirm_within``: each had the client's whole
    timeout (10 s), five of them after a create outlasting the notification's 30 s start-to-close."""
    pager, asked = _scripted(monkeypatch, httpx.Response(404), confirm_within=3.0)
    pager.send(page("trigger"))
    gets = [r for r in asked if r.method == "GET"]
    assert gets, "the status was asked"
    assert all(r.extensions["timeout"]["read"] <= 3.0 for r in gets), [r.extensions["timeout"] for r in gets]


def test_opsgenie_says_why_it_closes_an_alert_whose_incident_merged(
    opsgenie: tuple[OpsgenieDouble, OpsgeniePager],
) -> None:
    """An incident merged into its cause's closes its pages: the on-call saw their alert closed by Medic
    with no word while the outage went on (a field walk-through, Teams + Opsgenie). The close carries a
    note (the close request's optional ``note``); a plain resolution none."""
    double, pager = opsgenie
    merged = {"impact": 91.5, "services": ["api"], "merged_into": "incident-postgres"}
    pager.send(page("trigger", dedup_key="incident-api", custom_details=merged))
    pager.send(page("resolve", dedup_key="incident-api", custom_details=merged))
    pager.send(page("trigger"))
    pager.send(page("resolve"))
    closed = double.alert("incident-api")
    assert closed.status == "closed"
    assert closed.notes == [
        "Merged into incident-postgres, which shares its cause: the outage goes on there, and its "
        "alerts page and close."
    ]
    assert double.alert("incident-orders-db").notes == []


def test_opsgenie_alias_per_routing_key_and_told_by(opsgenie: tuple[OpsgenieDouble, OpsgeniePager]) -> None:
    """A page's alias is its alert's (each routing key's own, pager-alias-per-key); a page or note whose
    ``told_by`` names keys that took it to the same alert sends nothing (an incident from before)."""
    double, pager = opsgenie
    pager.send(page("trigger"))
    pager.send(page("trigger", alias="incident-orders-db:data-2"))
    assert [(a.alias, a.count) for a in double.alerts()] == [
        ("incident-orders-db", 1),
        ("incident-orders-db:data-2", 1),
    ]
    pager.send(page("acknowledge", alias="incident-orders-db:data-2"))
    assert double.alert("incident-orders-db:data-2").acknowledged
    assert not double.alert("incident-orders-db").acknowledged
    before = double.count()
    pager.send(page("resolve", told_by=["data-0"]))
    pager.note("data", "incident-orders-db", "noted by data-0", told_by=["data-0"])
    assert double.count() == before and double.alert("incident-orders-db").status == "open"


def test_opsgenie_429_waits_its_rate_limit_period(opsgenie: tuple[OpsgenieDouble, OpsgeniePager]) -> None:
    """Opsgenie's 429 says X-RateLimit-Period-In-Sec and no Retry-After: the period is the wait (it was
    None, and Temporal's own back-off of 1, 2, 4 ... s hammered a throttled integration)."""
    double, pager = opsgenie
    double.faults.push("rate_limit", retry_after=None)
    with pytest.raises(TransientError) as raised:
        pager.send(page("trigger"))
    assert raised.value.retry_after == 60
    double.faults.push("rate_limit", retry_after=1, headers={"X-RateLimit-Reason": "ALERT"})
    with pytest.raises(TransientError) as raised:
        pager.note("data", "incident-orders-db", "x")
    assert raised.value.retry_after == 1


def test_the_double_answers_429_as_opsgenie_does() -> None:
    double = OpsgenieDouble()
    double.faults.push("rate_limit", retry_after=None)
    with double.serve() as url:
        r = httpx.post(
            f"{url}/v2/alerts",
            json={"message": "m"},
            headers={"Authorization": f"GenieKey {OPSGENIE_API_KEY}"},
        )
    assert r.status_code == 429 and "retry-after" not in r.headers
    assert (r.headers["x-ratelimit-state"], r.headers["x-ratelimit-period-in-sec"]) == ("THROTTLED", "60")


@pytest.mark.parametrize("priority", ["P1", "P2", "P3", "P4", "P5"])
def test_opsgenie_priority_is_medics_one_to_one(
    opsgenie: tuple[OpsgenieDouble, OpsgeniePager], priority: str
) -> None:
    double, pager = opsgenie
    pager.send(page("trigger", priority))
    assert double.alert("incident-orders-db").priority == priority


def test_opsgenie_priority_without_one_on_the_page() -> None:
    assert opsgenie_priority(page("trigger", None)) == "P2"  # from "[P2] ..." in the summary
    assert opsgenie_priority(page("trigger", None, summary="x", severity="warning")) == "P3"


def test_opsgenie_limits_and_refusals(opsgenie: tuple[OpsgenieDouble, OpsgeniePager]) -> None:
    double, pager = opsgenie
    pager.send(page("trigger", summary="x" * 1000))
    assert len(double.alert("incident-orders-db").message) == 130
    with pytest.raises(PermanentError, match="401"):
        OpsgeniePager("wrong-key", base_url=pager._base).send(page("acknowledge"))
    with pytest.raises(PermanentError, match="no Opsgenie API key"):
        pager.send(page("trigger", routing_key_name="nobody"))


def test_opsgenie_carries_the_whole_self_healing_note(opsgenie: tuple[OpsgenieDouble, OpsgeniePager]) -> None:
    """A detail's value is cut at 500 characters; the description (15,000) keeps the whole note, whose last
    words are what to do (found by review)."""
    double, pager = opsgenie
    note = "[scale-checkout] Not acting: " + "x" * 600 + " flux suspend kustomization apps -n flux-system"
    pager.send(page("trigger", custom_details={"impact": 91.5, "self_healing": note}))
    alert = double.alert("incident-orders-db")
    assert len(alert.details["self_healing"]) == 500
    assert alert.description.endswith("flux suspend kustomization apps -n flux-system")


def test_opsgenie_reads_lists_as_words_and_carries_the_pages_links(
    opsgenie: tuple[OpsgenieDouble, OpsgeniePager],
) -> None:
    """ "services: ['checkout']" was Python's list, and a Grafana alert's dashboard reached no page (an SLO
    team's and a Grafana team's walk-throughs, 2026-12-07)."""
    double, pager = opsgenie
    links = [{"href": "https://grafana.example.com/d/abc", "text": "Grafana dashboard"}]
    pager.send(page("trigger", custom_details={"services": ["checkout", "cart"]}, links=links))
    alert = double.alert("incident-orders-db")
    assert alert.details["services"] == "checkout, cart"
    assert "services: checkout, cart" in alert.description
    assert alert.description.endswith("Grafana dashboard: https://grafana.example.com/d/abc")


def test_a_page_links_the_alerts_source_and_grafanas_dashboard() -> None:
    from medic.alerts import Alert, AlertStatus  # noqa: PLC0415
    from medic.incident import AlertBatch, IncidentState  # noqa: PLC0415
    from workflows.notifier import _page_links  # noqa: PLC0415

    grafana = Alert(
        fingerprint="f",
        status=AlertStatus.FIRING,
        labels={"alertname": "Latency"},
        starts_at=T0,
        generator_url="https://grafana.example.com/alerting/grafana/uid/view",
        source="grafana",
        links={
            "dashboard": "https://grafana.example.com/d/abc",
            "panel": "https://grafana.example.com/d/abc?viewPanel=2",
            "silence": "https://grafana.example.com/alerting/silence/new",
        },
    )
    state = IncidentState(id="incident-x", opened_at=T0)
    state.apply_alerts(AlertBatch(alerts=[grafana], received_at=T0), at=T0)
    assert [link["text"] for link in _page_links(state)] == [
        "Alert source",
        "Grafana dashboard",
        "Grafana panel",
    ]
    assert _page_links(IncidentState(id="incident-y", opened_at=T0)) == []


def card(title: str = "orders-db down", **extra: object) -> IncidentCard:
    fields: dict[str, object] = {
        "incident_id": "incident-orders-db",
        "title": title,
        "status": "open",
        "priority": "P1",
        "impact": 91.5,
        "services": ["orders-db", "checkout"],
        "root_cause": "orders-db",
        "alert_count": 3,
        "firing_count": 2,
        "opened_at": T0,
        "ui_url": "https://temporal.example/namespaces/default/workflows/incident-orders-db",
    }
    return IncidentCard.model_validate({**fields, **extra})


def test_teams_cards_reach_the_channel_as_literal_text() -> None:
    double = TeamsDouble()
    with double.serve() as url:
        chat = TeamsChat({"data": double.webhook_url(url, "checkout")})
        chat.post_card("data", card(EVIL))
        chat.post_card(
            "data", card(EVIL, status="acknowledged", acknowledged_by="alice")
        )  # an update: a new post
        chat.post_note(
            "data", "Resolved by alice.", link_url="https://medic.example/pm", link_text="postmortem"
        )
        posts = double.posts("checkout")
        assert [p.accepted for p in posts] == [True, True, True], [p.reason for p in posts]
        assert literal(EVIL) in posts[0].texts()
        assert not any("{{" in t for p in posts for t in p.texts())
        assert any("ack by alice" in t for t in posts[1].texts())
        assert posts[0].card["actions"][0]["url"].startswith("https://temporal.example/")
        with pytest.raises(PermanentError, match="401"):
            TeamsChat({"data": double.webhook_url(url, "checkout").replace("sig=", "sig=x")}).post_note(
                "data", "x"
            )
        with pytest.raises(PermanentError, match="no Teams Workflows webhook"):
            chat.post_note("elsewhere", "x")


def test_teams_refuses_what_a_workflow_cannot_show() -> None:
    """The double records cards Teams would not show (the real trigger answers 202 regardless)."""
    double = TeamsDouble()
    with double.serve() as url:
        bad = card()
        content = adaptive_card(bad)
        content["actions"] = [{"type": "Action.Submit", "title": "ack", "data": {}}]
        httpx.post(
            double.webhook_url(url, "checkout"),
            json={
                "type": "message",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
                ],
            },
        )
        (post,) = double.posts()
        assert not post.accepted and "Action.OpenUrl" in post.reason


# -- hostile text through every renderer of this targets ---------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
_WIKI_MARKUP = set("\\[]{}!|*^~+?#")


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_hostile_text_renders_as_text_everywhere(value: str) -> None:
    # JIRA wiki markup (Data Center): every markup character is escaped (a backslash is an entity).
    escaped = wiki_text(value)
    unescaped = re.sub(r"&#92;|\\.", "", escaped, flags=re.DOTALL)
    assert not (set(unescaped) & _WIKI_MARKUP), escaped
    # ADF (Jira Cloud): text nodes carry the lines exactly.
    doc = adf_document(value)
    texts = [n["text"] for block in doc["content"] for n in block.get("content", [])]
    assert texts == [line for line in value.splitlines() if line.strip()]
    assert all(t for t in texts)  # Jira refuses empty text nodes
    # Teams: TextRuns (no Markdown), no template expressions, no control characters.
    shown = adaptive_card(card(value or "x", routing_note=value or None))
    runs = [i["text"] for b in shown["body"] for i in b.get("inlines", [])]
    assert all("{{" not in r and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", r) for r in runs)
    assert all(b["type"] == "RichTextBlock" for b in shown["body"])  # never a Markdown TextBlock
    # Opsgenie: plain text within the field's limit, no control characters.
    note = plain(value, 130)
    assert len(note) <= 130 and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", note)


# -- PagerDuty and Opsgenie together (MEDIC_PAGER) -------------------------------------------------------


def test_both_pagers_are_paged_and_a_failure_of_one_is_retried() -> None:
    pd, og = PagerDutyDouble(), OpsgenieDouble()
    with pd.serve() as pd_url, og.serve() as og_url:
        settings = Settings(
            _env_file=None,
            pager="both",
            pagerduty_routing_keys={"data": SecretStr(PAGERDUTY_ROUTING_KEY)},
            pagerduty_events_url=f"{pd_url}/v2/enqueue",
            opsgenie_api_keys={"data": SecretStr(OPSGENIE_API_KEY)},
            opsgenie_url=og_url,
        )
        pager = build_pager(settings)
        assert isinstance(pager, FanOutPager)
        og.faults.push("server_error", status=503)
        with pytest.raises(TransientError):
            pager.send(page("trigger"))
        assert pd.alert("incident-orders-db").status == "triggered"  # PagerDuty was paged regardless
        pager.send(page("trigger"))  # Temporal's retry: PagerDuty de-duplicates, Opsgenie opens
        assert pd.alert("incident-orders-db").dedup_count == 1
        assert og.alert("incident-orders-db").status == "open"


def test_pager_setting_chooses() -> None:
    keys = {"opsgenie_api_key": SecretStr(OPSGENIE_API_KEY)}
    assert isinstance(build_pager(Settings(_env_file=None, **keys)), OpsgeniePager)  # type: ignore[arg-type]
    assert build_pager(Settings(_env_file=None, pager="pagerduty", **keys)) is None  # type: ignore[arg-type]
    assert build_pager(Settings(_env_file=None)) is None
