"""A large incident, built once for the tests of what chat shows of it: a node outage that absorbed
the incidents of the 80 services whose pods ran on it, and text made to break mrkdwn."""

from datetime import UTC, datetime, timedelta

from medic.cards import IncidentCard
from medic.correlation import ServiceObservation, rank_root_causes
from medic.topology import ServiceContext

__all__ = ["HOSTILE", "LONG_URL", "NODE", "SERVICES", "T0", "card", "node_outage_root_cause"]

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NODE = "node/ip-10-0-12-34.eu-central-1.compute.internal"
SERVICES = [f"team{i % 9}-payments-service-{i:02d}" for i in range(80)]
HOSTILE = "<!channel> <@U123> &amp; *bold* `x` <https://evil.example|click> & < > " * 3
LONG_URL = "https://grafana.example/d/abc?" + "&var-pod=" + "x" * 5000


def card(**update: object) -> IncidentCard:
    """The node outage's card: the node and its 80 services (``update`` changes any field)."""
    base = IncidentCard(
        incident_id="incident-node-x",
        title=f"KubeNodeNotReady on {NODE} (+80 more services)",
        status="open",
        priority="P2",
        impact=70.0,
        services=[NODE, *SERVICES],
        opened_at=T0,
        alert_count=81,
        firing_count=81,
    )
    return base.model_copy(update=update)


def node_outage_root_cause() -> list[str]:
    """The reasons correlation gives for the node as the root cause (80 failing dependents)."""
    observed = {
        NODE: ServiceObservation(
            context=ServiceContext(name=NODE, hosts=SERVICES), first_seen=T0, severity="critical"
        )
    }
    for i, name in enumerate(SERVICES):
        ctx = ServiceContext(name=name, in_catalog=True, nodes=[NODE])
        observed[name] = ServiceObservation(
            context=ctx, first_seen=T0 + timedelta(seconds=i), severity="warning"
        )
    top = rank_root_causes(observed)[0]
    assert top.service == NODE
    return top.reasons
