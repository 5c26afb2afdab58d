"""Issue 14: a node going NotReady and a crash loop of a service whose pod runs on it, firing together,
end as one incident whose root cause is the node (time-skipping server; assignment as the API does it,
with the fixtures' cluster as the lookup)."""

from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment

from medic.alerts import normalise_webhook
from medic.assign import Assignment, assign_alerts
from medic.incident import IncidentStatus
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_subject import K8S_ALERTS, FakeCluster
from tests.workflow.test_correlation import Handle, env, eventually
from tests.workflow.test_notifications import Harness, harness, pages
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
__all__ = ["env", "harness"]  # the fixture, shared with the notification tests

NODE_ID = "KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal"
CRASH_ID = "KubePodCrashLooping/shop/checkout"


async def deliver(env: WorkflowEnvironment, assignment: Assignment) -> Handle:
    """What the API does: signal-with-start the incident with the assignment's context and batch."""
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=assignment.incident_id, service=assignment.service, notify=False, remediate=False
        ),
        id=assignment.incident_id,
        task_queue="medic",
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[assignment.alert_batch(T0)],
    )


def _assigned(ids: tuple[str, ...]) -> dict[str, Assignment]:
    body = payload([e for e in K8S_ALERTS if e["id"] in ids])
    found = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=T0), FakeCluster())
    return {a.service.name: a for a in found if a.service is not None}


async def test_a_node_failure_absorbs_the_crash_loop_of_a_pod_on_it(env: WorkflowEnvironment) -> None:
    assignments = _assigned((NODE_ID, CRASH_ID))
    node = assignments["node/ip-10-0-1-12.eu-west-1.compute.internal"]
    assert node.service is not None and "checkout" in node.service.hosts
    checkout = await deliver(env, assignments["checkout"])
    root = await deliver(env, node)
    state = await eventually(
        root, lambda s: "incident-checkout" in s.absorbed, "the node's incident absorbing checkout's"
    )
    assert state.alert_count == 2
    assert [c.service for c in state.root_causes] == [node.service.name, "checkout"]
    assert "1 failing service(s) depend on it: checkout" in state.root_causes[0].reasons
    child = await checkout.query(IncidentWorkflow.state)
    assert child.merged_into == node.incident_id and child.status is IncidentStatus.RESOLVED


async def test_a_service_incident_starting_after_its_nodes_joins_it(env: WorkflowEnvironment) -> None:
    """The usual order on a real cluster: the node goes NotReady first, its pods' alerts follow. The
    service's context names the nodes its pods run on (the cluster lookup), it says hello to the node's
    incident, and the node's incident absorbs it."""
    assignments = _assigned((NODE_ID, CRASH_ID))
    node_name = "node/ip-10-0-1-12.eu-west-1.compute.internal"
    node, service = assignments[node_name], assignments["checkout"]
    assert service.service is not None and service.service.nodes == [node_name]
    # The node's own lookup did not list checkout (its pod was scheduled there after the node alert).
    assert node.service is not None
    node = Assignment(node.incident_id, node.service.model_copy(update={"hosts": []}), node.alerts)
    root = await deliver(env, node)
    await eventually(root, lambda s: s.alert_count == 1, "the node's incident open")
    checkout = await deliver(env, service)
    state = await eventually(
        root, lambda s: "incident-checkout" in s.absorbed, "the node's incident absorbing checkout's"
    )
    assert state.root_causes[0].service == node_name
    child = await checkout.query(IncidentWorkflow.state)
    assert child.merged_into == node.incident_id


async def _start(h: Harness, assignment: Assignment, settle: float) -> Handle:
    return await h.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=assignment.incident_id,
            service=assignment.service,
            remediate=False,
            settle_seconds=settle,
        ),
        id=assignment.incident_id,
        task_queue=h.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[assignment.alert_batch(T0)],
    )


SETTLE = 60.0


async def test_a_service_on_a_healthy_node_is_told_at_once(harness: Harness) -> None:
    """No incident is open on its nodes: the hello fails at once and the settle period ends there, so
    the service's team hears of it without waiting (time-skipping would jump the whole period)."""
    h = harness
    (service,) = _assigned((CRASH_ID,)).values()
    assert service.service is not None and service.service.nodes
    # As a service nothing of its own may absorb (a database: it depends on nothing); checkout's own
    # dependencies would hold it for the settle period anyway.
    leaf = service.service.model_copy(update={"upstream": {}, "downstream": {}})
    service = Assignment(service.incident_id, leaf, service.alerts)
    async with h.worker():
        handle = await _start(h, service, SETTLE)
        state = await eventually(
            handle, lambda s: bool(s.notifications.messages("slack")), "checkout's Slack post"
        )
    sent = next(e for e in state.timeline if e.kind == "notification.sent")
    assert (sent.at - state.opened_at).total_seconds() < SETTLE / 2, sent


async def test_a_service_whose_node_is_down_tells_nobody_itself(harness: Harness) -> None:
    """The node's incident is open: the service waits for its join decision, joins, and only the
    node's incident ever posts (one message, no page or post for checkout's team)."""
    h = harness
    found = _assigned((NODE_ID, CRASH_ID))
    node_name = "node/ip-10-0-1-12.eu-west-1.compute.internal"
    node = found[node_name]
    assert node.service is not None
    node = Assignment(node.incident_id, node.service.model_copy(update={"hosts": []}), node.alerts)
    async with h.worker():
        root = await _start(h, node, SETTLE)
        await eventually(root, lambda s: bool(s.notifications.messages("slack")), "the node's Slack post")
        await _start(h, found["checkout"], SETTLE)
        state = await eventually(root, lambda s: "incident-checkout" in s.absorbed, "checkout absorbed")
        await h.env.sleep(SETTLE * 2)
    assert state.root_causes[0].service == node_name
    assert len(h.chat.top_level()) == 1, h.chat.posts
    assert not any("checkout" in key for _, key in pages(h)), pages(h)


async def test_a_node_opening_after_its_services_is_told_once_to_the_team_of_the_first_of_them(
    harness: Harness,
) -> None:
    """A walk-through of a NotReady node (kube-prometheus-stack: the node's alerts fire 15 minutes after its
    services' own): orders-db's incident had paged its team when the node's incident opened and absorbed it.
    The node is in no catalog, so its incident told at once, to the default key and the fallback channel,
    and orders-db's page was resolved: its team held no page for an outage still going on (none at all
    without a default key). The node's incident now waits for its services' incidents to join it and is
    told to the team of the first of them: the data team is paged again, for the node's incident."""
    h = harness
    crash = "KubePersistentVolumeFillingUp/shop/data-orders-db-0"  # critical: orders-db pages on its own
    found = _assigned((NODE_ID, crash))
    node_name = "node/ip-10-0-1-12.eu-west-1.compute.internal"
    node, db = found[node_name], found["orders-db"]
    assert node.service is not None and "orders-db" in node.service.hosts
    async with h.worker():
        service = await _start(h, db, SETTLE)
        await eventually(service, lambda s: bool(s.notifications.pages), "orders-db's page")
        assert [k for _, k in pages(h)] == ["data-platform"]
        root = await _start(h, node, SETTLE)
        await eventually(root, lambda s: "incident-orders-db" in s.absorbed, "orders-db joining the node")
        await h.env.sleep(SETTLE * 2)
        state = await root.query(IncidentWorkflow.state)
    assert state.root_causes[0].service == node_name and state.owner is not None
    assert state.owner.name == "orders-db"
    assert ("trigger", "data-platform", node.incident_id) in h.pager.events, h.pager.events
    assert not any(key == "default" for _, key, _ in h.pager.events), h.pager.events
    assert ("resolve", "data-platform", db.incident_id) in h.pager.events  # the joined one closed out
    posts = [channel for channel, text in h.chat.top_level() if node_name in text]
    assert posts == ["#data-platform-oncall"], h.chat.posts
