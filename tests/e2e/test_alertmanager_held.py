"""``AlertmanagerAlerts.held`` against a real Alertmanager (Debian's package): the alerts it holds that it
would notify Medic's receiver of, while its group waits (``group_wait`` of 10 minutes here: nothing is
delivered during the test). Silenced, inhibited, resolved alerts and those routed to another receiver are
left out by Alertmanager itself; the fingerprints are those the webhook carries (Medic's own
``label_fingerprint``), so a later delivery of the same alert is the same alert to its incident. The
Alertmanager double (tests/doubles) filters what the real one holds as the real one does."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.adapters.alertmanager import AlertmanagerAlerts, AlertmanagerSilences
from medic.feedback import Matcher
from medic.fingerprint import label_fingerprint
from medic.ports import PermanentError
from tests.doubles.alertmanager import AlertmanagerDouble
from tests.support.promstack import running_alertmanager

pytestmark = pytest.mark.e2e

CONFIG: dict[str, Any] = {
    "route": {
        "receiver": "medic",
        "group_by": ["alertname", "service"],
        "group_wait": "10m",
        "group_interval": "10m",
        "routes": [{"matchers": ['team="billing"'], "receiver": "billing-email"}],
    },
    "receivers": [{"name": "medic"}, {"name": "billing-email"}],
    "inhibit_rules": [
        {
            "source_matchers": ['alertname="NodeDown"'],
            "target_matchers": ['service="users-db"'],
            "equal": ["namespace"],
        }
    ],
}


def _alert(name: str, service: str, *, ends: datetime | None = None, **extra: str) -> dict[str, Any]:
    labels = {"alertname": name, "service": service, "namespace": "shop", "severity": "critical", **extra}
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.example:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


async def test_held_is_what_alertmanager_would_notify_medic_of() -> None:
    held_db = _alert("PostgresDown", "orders-db")
    node = _alert("NodeDown", "node-a")
    inhibited = _alert("PostgresDown", "users-db")
    elsewhere = _alert("HighErrorRate", "billing", team="billing")
    silenced = _alert("RedisDown", "cache")
    resolved = _alert("HighLatency", "checkout", ends=datetime.now(UTC) - timedelta(seconds=30))
    async with running_alertmanager(CONFIG) as am, httpx.AsyncClient(base_url=am.url, timeout=10) as http:
        silences = AlertmanagerSilences(am.url)
        await silences.create(
            [Matcher(name="service", value="cache")],
            starts_at=datetime.now(UTC),
            ends_at=datetime.now(UTC) + timedelta(hours=1),
            created_by="test",
            comment="maintenance",
        )
        await silences.aclose()
        posted = await http.post(
            "/api/v2/alerts", json=[held_db, node, inhibited, elsewhere, silenced, resolved]
        )
        assert posted.status_code == 200, posted.text

        source = AlertmanagerAlerts(am.url, receiver="medic")
        found = await source.held()
        assert {item["labels"]["alertname"] + "/" + item["labels"]["service"] for item in found} == {
            "PostgresDown/orders-db",
            "NodeDown/node-a",
        }
        for item in found:
            assert item["fingerprint"] == label_fingerprint(item["labels"])
            assert [r["name"] for r in item["receivers"]] == ["medic"]
        # Still firing, muted or not (what an incident asks of an alert it took): silenced and inhibited
        # ones are "suppressed", still active; resolved ones and other receivers' are not listed.
        muted = await source.held(muted=True)
        assert {item["labels"]["service"]: item["status"]["state"] for item in muted} == {
            "orders-db": "active",
            "node-a": "active",
            "users-db": "suppressed",
            "cache": "suppressed",
        }
        everything = (await http.get("/api/v2/alerts")).json()
        assert len(everything) == 5, "Alertmanager holds them all; only the filters leave them out"

        # The double the cascade bench uses, given everything the real one holds (with the status and
        # receivers it worked out), filters the same way for each receiver regex.
        double = AlertmanagerDouble()
        double.hold("all", everything)
        with double.serve() as double_url:
            for receiver in ("medic", "med", "med.*", "billing-email"):
                for muting in (False, True):
                    real = await AlertmanagerAlerts(am.url, receiver=receiver).held(muted=muting)
                    doubled = await AlertmanagerAlerts(double_url, receiver=receiver).held(muted=muting)
                    assert sorted(a["fingerprint"] for a in doubled) == sorted(a["fingerprint"] for a in real)

        # The receiver regex is anchored by Alertmanager: a prefix is not a match.
        assert await AlertmanagerAlerts(am.url, receiver="med").held() == []
        assert len(await AlertmanagerAlerts(am.url, receiver="med.*").held()) == 2
        # One Alertmanager refuses (RE2 has no lookahead): a clear, permanent error.
        with pytest.raises(PermanentError, match="Alertmanager refused"):
            await AlertmanagerAlerts(am.url, receiver="(?=medic)").held()
        await source.aclose()


async def test_routes_muted_by_time_make_alertmanager_hold_nothing_medic_takes() -> None:
    """Alertmanager's alerts API applies silences and inhibitions, not the routes' time intervals: an
    alert muted out of hours is listed as active there (checked here), though its webhook is never sent.
    So with time intervals in the routes, Medic takes nothing; asking whether an alert is still firing
    (``muted=True``) is unaffected."""
    config: dict[str, Any] = {
        "route": {
            "receiver": "medic",
            "group_by": ["alertname", "service"],
            "group_wait": "10m",
            "routes": [
                {"matchers": ['service="orders-db"'], "receiver": "medic", "mute_time_intervals": ["always"]}
            ],
        },
        "receivers": [{"name": "medic"}],
        "time_intervals": [{"name": "always", "time_intervals": [{"weekdays": ["sunday:saturday"]}]}],
    }
    async with running_alertmanager(config) as am, httpx.AsyncClient(base_url=am.url, timeout=10) as http:
        posted = await http.post("/api/v2/alerts", json=[_alert("PostgresDown", "orders-db")])
        assert posted.status_code == 200, posted.text
        listed = (await http.get("/api/v2/alerts", params={"silenced": "false", "inhibited": "false"})).json()
        assert [a["status"]["state"] for a in listed] == ["active"], "muted by time, yet listed as active"
        source = AlertmanagerAlerts(am.url, receiver="medic")
        with pytest.raises(PermanentError, match="mute by time"):
            await source.held()
        assert [a["labels"]["service"] for a in await source.held(muted=True)] == ["orders-db"]
        await source.aclose()
    # Muting by time on a route to another receiver only (time intervals are not inherited): Medic's
    # alerts are not muted by it, and it takes them.
    config["route"]["routes"][0]["receiver"] = "billing-email"
    config["receivers"].append({"name": "billing-email"})
    async with running_alertmanager(config) as am, httpx.AsyncClient(base_url=am.url, timeout=10) as http:
        posted = await http.post("/api/v2/alerts", json=[_alert("PostgresDown", "users-db")])
        assert posted.status_code == 200, posted.text
        source = AlertmanagerAlerts(am.url, receiver="medic")
        assert [a["labels"]["service"] for a in await source.held()] == ["users-db"]
        await source.aclose()
