"""Each incident of a service is one of its own, against the real dev server, worker and API.

A service's incidents share its id (``incident-<service>``): each is a run of that id's workflow. Before
(2026-12-06), two things read the id as if it were one incident:

- learning listed incidents by id and queried each id, which answers for its latest run only: a service
  paged three times was one incident to ``GET /insights``, and the worker's demotions, on a week's
  evidence, never came. Each resolved run now publishes its outcome in its memo, so one visibility
  listing reads them all; a run resolved before that is queried by its run id.
- each postmortem was written to ``<dir>/<id>/postmortem.md``, over the one before, and the link posted
  to Slack and JIRA (``/incidents/<id>/postmortem``) showed the service's latest incident, not the one
  it was posted for. Each now has its own folder and link (``/incidents/<id>/runs/<run>/postmortem``)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus

from service.incidents import TemporalIncidentReader
from tests.doubles import PagerDutyDouble
from tests.support.stack import MedicStack, medic_stack, wait_until
from tests.support.storm import StormAlert, notification

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true}
  - {name: rest}
"""
KEY = "C" * 32


def delivery(status: str, started: datetime) -> dict[str, Any]:
    """checkout's HighErrorRate burning its budget (a page), as Alertmanager delivers it."""
    labels = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical", "burn_rate": "20"}
    alert = StormAlert(fingerprint="checkout-errors", labels=labels, group="checkout", starts_at=started)
    return notification("HighErrorRate", "checkout", [alert], status)


def final(markdown: str) -> str:
    """The document's line saying when its incident resolved."""
    [line] = [x for x in markdown.splitlines() if x.startswith("**Final**: resolved at")]
    return line


async def one_incident(stack: MedicStack, pager: PagerDutyDouble, previous_run: str | None) -> str:
    """Fire, wait for the page, resolve, and wait until the incident's run has ended; its run id."""
    pages = len(pager.alerts(include_superseded=True))
    started = datetime.now(UTC).replace(microsecond=0)
    handle = stack.client.get_workflow_handle("incident-checkout")
    async with stack.http() as http:
        answer = await http.post("/webhooks/alertmanager", json=delivery("firing", started))
        assert answer.status_code == 200, answer.text

        async def new_run() -> bool:
            return (await handle.describe()).run_id != previous_run

        await wait_until(new_run, timeout=30, what="a new run of incident-checkout")
        run_id = (await handle.describe()).run_id

        async def paged() -> bool:
            return len(pager.alerts(include_superseded=True)) > pages

        await wait_until(paged, timeout=60, what="the page")
        answer = await http.post("/webhooks/alertmanager", json=delivery("resolved", started))
        assert answer.status_code == 200, answer.text

    async def ended() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

    await wait_until(ended, timeout=60, what="the incident resolved and its run ended")
    return run_id


async def test_every_incident_of_a_service_counts_and_keeps_its_own_postmortem() -> None:
    pager = PagerDutyDouble([KEY])
    with pager.serve() as pager_url:
        async with medic_stack(
            quiet_seconds=1.0,
            routing_yaml=ROUTING,
            pagerduty_routing_keys={"checkout": SecretStr(KEY)},
            pagerduty_events_url=f"{pager_url}/v2/enqueue",
        ) as stack:
            runs: list[str] = []
            for _ in range(3):
                runs.append(await one_incident(stack, pager, runs[-1] if runs else None))
            assert len(set(runs)) == 3

            reader = TemporalIncidentReader(stack.client, stack.settings)
            listed = await reader.resolved_runs(limit=100)
            assert sorted(r.run_id for r in listed) == sorted(runs)
            # each run published its outcome as it resolved: no history is replayed to learn
            assert all(r.outcome is not None and r.outcome.rules == ["HighErrorRate"] for r in listed)
            # a run read by its run id is that run, not the id's latest
            first = await reader.run_state("incident-checkout", runs[0])
            by_run = {r.run_id: r for r in listed}
            assert first.opened_at == by_run[runs[0]].opened_at != by_run[runs[-1]].opened_at

            async with stack.http() as http:
                found = (await http.get("/insights")).json()
                listing = (await http.get("/incidents", params={"status": "resolved"})).json()
                # each incident's postmortem: its own file, and the link posted for it serves it
                folder = stack.settings.effective_postmortem_dir / "incident-checkout"
                written, served = [], []
                for run in runs:
                    state = await reader.run_state("incident-checkout", run)
                    [entry] = [e for e in state.timeline if e.kind == "postmortem.written"]
                    path, url = entry.data["path"], entry.data["url"]
                    assert url.endswith(f"/incidents/incident-checkout/runs/{run}/postmortem"), url
                    written.append(Path(path).read_text())
                    answer = await http.get(url.removeprefix(stack.settings.api_url))
                    assert answer.status_code == 200, answer.text
                    served.append(answer.text)
                latest = await http.get("/incidents/incident-checkout/postmortem")
            folders = [p for p in folder.iterdir() if p.is_dir()]
            latest_file = (folder / "postmortem.md").read_text()
    # (the served one also lists the entry that the postmortem was written)
    assert [final(t) for t in served] == [final(t) for t in written] and len({final(t) for t in written}) == 3
    assert len(folders) == 3
    assert latest_file == written[-1] and final(latest.text) == final(written[-1])
    assert found["incidents"] == 3, found
    [record] = [r for r in found["rules"] if r["rule"] == "HighErrorRate"]
    assert (record["team"], record["incidents"], record["pages"]) == ("checkout", 3, 3)
    # what PagerDuty received: three incidents triggered (and resolved)
    triggered = [e for e in pager.events() if e.event_action == "trigger" and e.outcome == "created"]
    assert len(triggered) == 3
    # the incident list still shows the service's id once, its latest incident
    assert [i["id"] for i in listing] == ["incident-checkout"]
