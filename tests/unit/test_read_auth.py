"""Incident reads need credentials: 401 without, 200 with the webhook, read or operator token; the
postmortem and chart also open with a signed link until it expires, and never once it is altered."""

import base64
import html
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities, SlackNote
from medic.catalog import Catalog
from medic.incident import IncidentState
from medic.links import LinkSigner, derive_link_key
from medic.ports import MessageRef
from medic.routing import RoutingPolicy
from service.api import create_app
from service.incidents import IncidentFilter, IncidentSummary
from service.links import link_signer, signed, warn_if_reads_open
from service.postmortems import Postmortems
from service.settings import Settings
from tests.support.fakes import FakeChat, FakePager, FakeTracker
from tests.unit.test_api import FakeReader, FakeSink

WEBHOOK, READ, OPERATOR = "webhook-token-0123", "read-token-4567", "operator-token-89ab"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
READS = ["/incidents", "/incidents/incident-checkout"]
RUN, OTHER_RUN = "5150c584-8743-4e5e-864a-c30e9264c2c0", "0f3e9a1b-1111-4e5e-864a-c30e9264c2c1"
DOCUMENTS = [
    "/incidents/incident-checkout/postmortem",
    "/incidents/incident-checkout/timeline.svg",
    f"/incidents/incident-checkout/runs/{RUN}/postmortem",
    f"/incidents/incident-checkout/runs/{RUN}/timeline.svg",
]


class Reader(FakeReader):
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        return []

    async def state(self, incident_id: str) -> IncidentState:
        return IncidentState(id=incident_id, title="CheckoutDown", opened_at=NOW)


class Documents(Postmortems):
    async def markdown(self, incident_id: str, run_id: str | None = None) -> str:
        return f"# {incident_id}{' ' + run_id if run_id else ''}\n"

    async def svg(self, incident_id: str, run_id: str | None = None) -> str:
        return "<svg/>"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_token": SecretStr(WEBHOOK),
        "read_token": SecretStr(READ),
        "operator_token": SecretStr(OPERATOR),
        "public_url": "https://medic.example.org",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def _client(settings: Settings) -> httpx.AsyncClient:
    async def ready() -> bool:
        return True

    reader = Reader()
    app = create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=reader,
        ready=ready,
        postmortems=Documents(settings, reader),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_settings()) as client:
        yield client


def _basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"grafana:{password}".encode()).decode()}


async def test_reads_without_credentials_are_401(http: httpx.AsyncClient) -> None:
    for path in READS + DOCUMENTS:
        for headers in ({}, {"Authorization": "Bearer guess"}, _basic("guess")):
            answer = await http.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers, answer.text)
            assert "Bearer" in answer.headers["WWW-Authenticate"]


async def test_the_webhook_read_and_operator_tokens_read(http: httpx.AsyncClient) -> None:
    for token in (WEBHOOK, READ, OPERATOR):
        for headers in ({"Authorization": f"Bearer {token}"}, _basic(token)):
            for path in ["/incidents", *DOCUMENTS]:
                answer = await http.get(path, headers=headers)
                assert answer.status_code == 200, (path, token, answer.text)


async def test_the_read_token_cannot_deliver_alerts(http: httpx.AsyncClient) -> None:
    answer = await http.post("/webhooks/alertmanager", json={}, headers={"Authorization": f"Bearer {READ}"})
    assert answer.status_code == 401


def _path_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_a_signed_link_opens_its_document_and_nothing_else(http: httpx.AsyncClient) -> None:
    sign = signed(_settings())
    url = sign("https://medic.example.org/incidents/incident-checkout/postmortem")
    path, query = _path_and_query(url)
    assert set(query) == {"exp", "sig"}
    answer = await http.get(path, params=query)
    assert answer.status_code == 200 and answer.text.startswith("# incident-checkout")
    # Another document, another incident, or a read that takes no link: refused.
    for other in ("/incidents/incident-checkout/timeline.svg", "/incidents/incident-other/postmortem"):
        assert (await http.get(other, params=query)).status_code == 401
    assert (await http.get("/incidents", params=query)).status_code == 401
    # one incident of a service's (a run of its id) opens its own document, not another one's
    url = sign(f"https://medic.example.org/incidents/incident-checkout/runs/{RUN}/postmortem")
    path, query = _path_and_query(url)
    answer = await http.get(path, params=query)
    assert answer.status_code == 200 and answer.text == f"# incident-checkout {RUN}\n"
    for other in (
        f"/incidents/incident-checkout/runs/{OTHER_RUN}/postmortem",
        "/incidents/incident-checkout/postmortem",
        f"/incidents/incident-checkout/runs/{RUN}/timeline.svg",
    ):
        assert (await http.get(other, params=query)).status_code == 401


async def test_a_run_id_that_is_not_one_is_422(http: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {READ}"}
    for run in ("latest", "5150c584", "../../etc", "5150C584-8743-4E5E-864A-C30E9264C2C0x"):
        answer = await http.get(f"/incidents/incident-checkout/runs/{run}/postmortem", headers=headers)
        assert answer.status_code in (404, 422), (run, answer.status_code)
        assert answer.status_code == 422 or "/" in run, (run, answer.text)


async def test_an_expired_or_tampered_link_is_refused(http: httpx.AsyncClient) -> None:
    settings = _settings()
    signer = link_signer(settings)
    assert signer is not None
    path = "/incidents/incident-checkout/postmortem"
    long_ago = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    _, expired = _path_and_query(signer.sign(f"{settings.api_url}{path}", now=long_ago))
    answer = await http.get(path, params=expired)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    _, good = _path_and_query(signed(settings)(f"{settings.api_url}{path}"))
    later = {**good, "exp": str(int(good["exp"]) + 3600)}  # a longer life than was signed
    flipped = {**good, "sig": ("A" if good["sig"][0] != "A" else "B") + good["sig"][1:]}
    for query in (later, flipped, {"exp": good["exp"]}, {"sig": good["sig"]}):
        assert (await http.get(path, params=query)).status_code == 401, query
    # Signed with another secret (rotated, or forged): refused.
    other = signed(_settings(link_secret=SecretStr("another-secret")))
    _, foreign = _path_and_query(other(f"{settings.api_url}{path}"))
    assert (await http.get(path, params=foreign)).status_code == 401


def test_only_links_to_this_api_are_signed() -> None:
    signer = LinkSigner(derive_link_key("k"), base_url="https://medic.example.org/medic", ttl_seconds=60)
    for url in (
        "https://elsewhere.example.org/medic/incidents/x/postmortem",
        "http://medic.example.org/medic/incidents/x/postmortem",
        "https://medic.example.org/other/incidents/x/postmortem",
    ):
        assert signer.sign(url, now=0) == url
    url = signer.sign("https://medic.example.org/medic/incidents/x/postmortem", now=0)
    path, query = _path_and_query(url)
    assert path == "/medic/incidents/x/postmortem" and query["exp"] == "60"
    # The API behind the prefix sees the path without it.
    assert signer.verify("/incidents/x/postmortem", exp=60, sig=query["sig"], now=59)
    assert not signer.verify("/incidents/x/postmortem", exp=60, sig=query["sig"], now=60)


def test_no_secret_no_signature() -> None:
    settings = Settings(_env_file=None)
    assert link_signer(settings) is None
    assert signed(settings)("http://127.0.0.1:8080/incidents/x/postmortem").endswith("/postmortem")


async def test_reads_open_needs_no_credentials_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(reads_open=True)
    with caplog.at_level(logging.WARNING):
        assert warn_if_reads_open(settings)
    assert "MEDIC_READS_OPEN" in caplog.text
    assert not warn_if_reads_open(_settings())
    async with _client(settings) as http:
        for path in ["/incidents", *DOCUMENTS]:
            assert (await http.get(path)).status_code == 200, path
        # Only reads: the webhooks still need their token.
        assert (await http.post("/webhooks/alertmanager", json={})).status_code == 401


async def test_the_postmortem_link_posted_in_slack_opens_for_its_readers(
    http: httpx.AsyncClient,
) -> None:
    """Signed by the activity as it posts (never in the workflow's history), and accepted by the API."""
    settings = _settings()
    chat = FakeChat()
    notify = NotifyActivities(
        chat=chat,
        pager=FakePager(),
        tracker=FakeTracker(),
        policy=RoutingPolicy.default,
        sign_link=signed(settings),
    )
    note = SlackNote(
        ref=MessageRef(kind="slack", channel="#checkout", id="1.0001"),
        text="Postmortem draft",
        link_url=f"{settings.api_url}/incidents/incident-checkout/postmortem",
        link_text="open the postmortem",
    )
    ActivityEnvironment().run(notify.slack_thread, note)
    (text,) = chat.thread()
    found = re.search(r"<([^|>]+)\|open the postmortem>", text)
    assert found is not None, text
    path, query = _path_and_query(html.unescape(found.group(1)))
    assert set(query) == {"exp", "sig"}
    assert (await http.get(path, params=query)).status_code == 200


async def test_the_controls_are_read_like_incidents(http: httpx.AsyncClient) -> None:
    """The kill switch and feedback: the read token reads them too (this app has no controls behind
    them, hence 503 once the credential passed), nothing else does."""
    for path in ("/control/kill-switch", "/feedback"):
        assert (await http.get(path)).status_code == 401
        for token in (WEBHOOK, READ, OPERATOR):
            answer = await http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 503, (path, token, answer.text)
