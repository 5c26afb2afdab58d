"""Slack as a newcomer meets it (issue 17): a list filter that was not understood is named, not
answered with an empty list; reading an incident leaves no trace in it."""

import logging
from typing import cast

import pytest
from temporalio.client import Client

from medic.access import AccessPolicy
from service.chat.authz import Authorizer
from service.chat.runner import ChatRunner
from service.control import Controls
from service.incidents import IncidentFilter, IncidentSummary, TemporalIncidentReader
from service.settings import Settings
from tests.unit.test_chat_limits import NOW, USER, FakeClient, Reader


class ListingReader(Reader):
    def __init__(self) -> None:
        super().__init__()
        self.filters: list[IncidentFilter] = []

    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        self.filters.append(flt)
        item = IncidentSummary(
            id="incident-orders-db",
            title="OrdersDbDown",
            status="open",
            priority="P1",
            impact=90,
            services=["orders-db"],
            opened_at=NOW,
            alert_count=1,
        )
        return [item] if flt.service in (None, "orders-db") else []


def _runner(reader: Reader, client: FakeClient | None = None) -> ChatRunner:
    return ChatRunner(
        client=cast(Client, client or FakeClient()),
        settings=Settings(_env_file=None),
        reader=cast(TemporalIncidentReader, reader),
        controls=cast(Controls, None),
        authorizer=Authorizer(AccessPolicy()),
        silences=None,
        now=lambda: NOW,
        services=["api-gateway", "checkout", "payments"],
    )


@pytest.mark.parametrize(
    ("text", "word", "hint"),
    [
        ("list api-gatway", "api-gatway", "`api-gateway`"),
        ("list chekout", "chekout", "`checkout`"),
        ("list ackd", "ackd", "`acknowledged`"),
        ("list P9", "P9", "P1..P5"),
    ],
)
async def test_an_unknown_list_filter_is_named_with_suggestions(text: str, word: str, hint: str) -> None:
    reply = await _runner(ListingReader()).command(text, user=USER)
    assert f"`{word}` is not" in reply.text and hint in reply.text, reply.text
    assert "none" not in reply.text.lower()


async def test_known_services_still_list() -> None:
    reader = ListingReader()
    assert "none" in (await _runner(reader).command("list checkout", user=USER)).text.lower()
    # Not in the catalog but named by an incident (an alert from outside the catalog): a service too.
    assert "incident-orders-db" in (await _runner(reader).command("list orders-db", user=USER)).text
    assert reader.filters[-1].service == "orders-db"


async def test_show_changes_nothing() -> None:
    client = FakeClient()
    reply = await _runner(ListingReader(), client).command("show checkout", user=USER)
    assert "incident-checkout" in reply.text or "CheckoutDown" in reply.text, reply.text
    assert client.signals == []


async def test_every_command_is_in_the_audit_log_reads_included(caplog: pytest.LogCaptureFixture) -> None:
    """Reading leaves no trace on the incident, but who looked at it stays answerable."""
    client = FakeClient()
    with caplog.at_level(logging.INFO, logger="medic.audit"):
        await _runner(ListingReader(), client).command("show checkout", user=USER)
        await _runner(ListingReader(), client).command("list", user=USER)
    audited = [r for r in caplog.records if r.name == "medic.audit"]
    assert [(getattr(r, "verb", None), getattr(r, "incident_id", None)) for r in audited] == [
        ("show", "incident-checkout"),
        ("list", None),
    ]
    assert all(getattr(r, "actor", None) == USER.id for r in audited)
    assert client.signals == []
