"""Alerts about other alerts, which no incident takes (``ignore:`` in the routing policy).

kube-prometheus, kube-prometheus-stack and the Prometheus Operator's mixin ship ``InfoInhibitor``
(``expr: ALERTS{severity="info"} == 1 unless on(namespace) ALERTS{alertname!="InfoInhibitor",
severity=~"warning|critical", alertstate="firing"} == 1``, ``severity: none``): it fires beside every
info alert of a namespace where nothing worse fires, only so that Alertmanager's inhibit rule keeps
those info alerts quiet, and its description says it "should be routed to a null receiver". Sent to
Medic by a catch-all route, each one became an alert of the very incident its info alert opened (a
twin, counted, listed, in the timeline). Now an alert a rule of ``ignore:`` matches is acknowledged
and counted (``medic_alerts_ignored_total``), and no incident takes it. Its *resolution* still goes
to the incident that holds it, and only there (``Alert.closes_only``): an incident opened before this
rule held such alerts, and would otherwise stay open for good.

Pure: the rules and the split; the webhook and ``medic explain`` use it.
"""

from pydantic import BaseModel, ConfigDict, Field

from medic.alerts import Alert, AlertStatus
from medic.dead_man import RuleName

__all__ = ["IgnoreRule", "default_ignored", "split_ignored"]


class IgnoreRule(BaseModel):
    """One kind of alert no incident takes. Without the key, :func:`default_ignored`; ``ignore: []``
    makes InfoInhibitor an alert like any other again."""

    model_config = ConfigDict(extra="forbid")

    name: RuleName = Field(description="1 to 63 lower-case letters, digits and dashes")
    match: dict[str, str] = Field(min_length=1, description="labels an alert must have, with these values")
    why: str = Field(default="", max_length=300, description="said by medic explain and in the logs")

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())


def default_ignored() -> list[IgnoreRule]:
    """kube-prometheus's InfoInhibitor: meant for Alertmanager's inhibit rule, never for a receiver."""
    return [
        IgnoreRule(
            name="info-inhibitor",
            match={"alertname": "InfoInhibitor"},
            why="kube-prometheus's InfoInhibitor only keeps a namespace's info alerts quiet in Alertmanager "
            "(its inhibit rule); it is about other alerts, not an outage",
        )
    ]


def split_ignored(
    rules: list[IgnoreRule], alerts: list[Alert]
) -> tuple[list[Alert], list[tuple[Alert, IgnoreRule]]]:
    """The alerts incidents take, and those set aside with the rule that did it (the webhook counts
    them, ``medic explain`` says them). An ignored alert's resolution is kept too, marked
    ``closes_only``: it resolves the alert where an incident holds it, and nothing else."""
    if not rules:
        return alerts, []
    kept: list[Alert] = []
    ignored: list[tuple[Alert, IgnoreRule]] = []
    for alert in alerts:
        rule = next((r for r in rules if r.matches(alert.labels)), None)
        if rule is None:
            kept.append(alert)
            continue
        ignored.append((alert, rule))
        if alert.status is AlertStatus.RESOLVED:
            kept.append(alert.model_copy(update={"closes_only": True}))
    return kept, ignored
