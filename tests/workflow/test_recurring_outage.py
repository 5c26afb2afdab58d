"""A service's second outage, after its first incident resolved and closed: what the JIRA project sees.
A service's incidents share one id, and its issue was found by that id alone, so the second outage took
the first one's issue, already Done: no ticket of its own, its resolution not said, its postmortem not
attached (same name, same size). Each occurrence now has its own issue (found by the id and when it
opened), through the real JIRA client against the Jira Cloud double."""

import json
from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus

from medic.alerts import AlertStatus
from tests.workflow.test_channels_e2e import Stack, stack
from tests.workflow.test_notifications import T0, Handle, open_incident, outage, until

__all__ = ["stack"]  # the fixture, shared


async def _closed(s: Stack, handle: Handle) -> None:
    for _ in range(40):
        described = await s.env.client.get_workflow_handle(handle.id).describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return
        await s.env.sleep(timedelta(seconds=30))
    raise AssertionError(f"{handle.id} never closed")


async def test_each_outage_of_a_service_has_its_own_jira_issue(stack: Stack) -> None:
    s = stack
    keys: list[str] = []
    async with s.worker:
        for episode in range(2):
            start = T0 + timedelta(minutes=30 * episode)
            batch = outage()
            batch.alerts[0] = batch.alerts[0].model_copy(update={"starts_at": start})
            handle = await open_incident(s, batch)
            state = await until(handle, lambda st: st.notifications.jira_key is not None, "the issue")
            assert state.notifications.jira_key is not None
            keys.append(state.notifications.jira_key)
            resolved = outage(AlertStatus.RESOLVED)
            resolved.alerts[0] = resolved.alerts[0].model_copy(update={"starts_at": start})
            await handle.signal("alerts", resolved)
            await _closed(s, handle)
    issues = {i.key: i for i in s.jira.issues("DATA")}
    assert len(set(keys)) == 2 and set(keys) == set(issues), keys
    for key in keys:
        issue = issues[key]
        assert issue.status == "Done", (key, issue.status)
        assert [a.filename for a in issue.attachments] == ["incident-orders-db-postmortem.md"], key
        (occurrence,) = [label for label in issue.labels if label.startswith("incident-orders-db-")]
        assert '/workflows/incident-orders-db"' in json.dumps(issue.description_doc)  # the link back
        assert occurrence.endswith("Z") and " " not in occurrence
    assert len({label for i in issues.values() for label in i.labels if label.startswith("incident-")}) == 2
