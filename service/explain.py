"""``medic explain FILE``: what Medic would do with an Alertmanager or Grafana payload, changing nothing.

For each alert: the incident it would join, its service and the labels that decided (medic.assign),
its subject (medic.subject), the incident's score on its own (medic.impact; correlation may later fold
it into a neighbour's incident), and each runbook that would match with its bindings (remediations.plan)
or why it could not bind. The same code the webhook and the remediator run; no Temporal, no cluster.
"""

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medic.alerts import AlertmanagerWebhook, AlertStatus, normalise_webhook, utc
from medic.assign import assign_alerts
from medic.catalog import Catalog
from medic.clusters import ClusterScope
from medic.dead_man import HeartbeatRule, default_heartbeats, heartbeat_id, split_beats
from medic.grafana_alerts import datasource_floor, is_test_notification
from medic.impact import burn_floor, score_impact
from medic.meta_alerts import IgnoreRule, default_ignored, split_ignored
from medic.pipeline_alerts import pipeline_floor
from medic.runbook import Runbook
from medic.severity import canonical_severity, worst_severity
from medic.slo import slo_burn
from medic.subject import OwnerLookup
from medic.topology import ServiceContext
from remediations.budget import budget_key
from remediations.plan import match_runbooks, plan_for, taken

__all__ = ["ExplainError", "explain_payload", "explain_webhook", "render"]


class ExplainError(ValueError):
    """The file is not an Alertmanager or Grafana webhook body."""


def _load(path: Path) -> AlertmanagerWebhook:
    try:
        return AlertmanagerWebhook.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as err:
        raise ExplainError(f"{path}: not an Alertmanager or Grafana webhook body: {err}") from err


def explain_payload(
    path: Path,
    *,
    catalog: Catalog,
    runbooks: list[Runbook],
    heartbeats: list[HeartbeatRule] | None = None,
    ignored: list[IgnoreRule] | None = None,
    queue: str = "medic",
    scope: ClusterScope | None = None,
    per_cluster: str = "",
) -> list[dict[str, Any]]:
    """One entry per incident the file's alerts would go to (and one per heartbeat beaten, one per
    alert ignored)."""
    return explain_webhook(
        _load(path),
        catalog=catalog,
        runbooks=runbooks,
        heartbeats=heartbeats,
        ignored=ignored,
        queue=queue,
        scope=scope,
        per_cluster=per_cluster,
    )


def explain_webhook(
    payload: AlertmanagerWebhook,
    *,
    catalog: Catalog,
    runbooks: list[Runbook],
    lookup: OwnerLookup | None = None,
    heartbeats: list[HeartbeatRule] | None = None,
    ignored: list[IgnoreRule] | None = None,
    queue: str = "medic",
    scope: ClusterScope | None = None,
    per_cluster: str = "",
) -> list[dict[str, Any]]:
    """One entry per incident the payload's alerts would go to (``lookup``: the cluster, as the webhook
    asks it; the API's ``POST /explain`` passes it), and one per heartbeat the others beat (the routing
    policy's ``heartbeats``; None: the built-in Watchdog rule), which no incident takes (``queue``: the
    installation's task queue, in the heartbeat's id)."""
    received = max((utc(a.startsAt) for a in payload.alerts), default=None)
    assert received is not None  # the model requires at least one alert
    rules = default_heartbeats() if heartbeats is None else heartbeats
    received_alerts = normalise_webhook(payload, received_at=received)
    tests = [a for a in received_alerts if is_test_notification(a.labels, grafana=payload.is_grafana)]
    incoming = [a for a in received_alerts if a not in tests]
    beats, others = split_beats(rules, incoming, at=received)
    kept, set_aside = split_ignored(default_ignored() if ignored is None else ignored, others)
    alerts = [a for a in kept if not a.closes_only]  # (an ignored resolution only closes: said below)
    out: list[dict[str, Any]] = [
        {
            "heartbeat": beat.rule.name,
            "id": heartbeat_id(beat.rule, beat.labels, queue=queue),
            "alertname": alert.name,
            "status": alert.status.value,
            "labels": beat.labels,
            "service": beat.rule.service,
            "missing_after_minutes": beat.rule.missing_after_minutes,
            "arms": beat.firing and beat.alone,  # as the webhook hands them over
        }
        for alert, beat in beats
    ]
    out += [
        {"ignored": rule.name, "alertname": alert.name, "status": alert.status.value, "why": rule.why}
        for alert, rule in set_aside
    ]
    out += [
        {
            "ignored": "grafana-test-notification",
            "alertname": alert.name,
            "status": alert.status.value,
            "why": "a test notification from Grafana (a contact point's Test button): received, no incident",
        }
        for alert in tests
    ]
    if not alerts:
        return out
    for assignment in assign_alerts(catalog, payload, alerts, lookup, per_cluster=per_cluster):
        ctx = assignment.service
        services: list[ServiceContext] = [ctx] if ctx else []
        burn: dict[str, float] = {}
        detail: dict[str, str] = {}
        for alert in assignment.alerts:
            found = slo_burn(alert.labels, alert.annotations)
            if ctx and found and alert.status is AlertStatus.FIRING and found.rate > burn.get(ctx.name, -1.0):
                burn[ctx.name], detail[ctx.name] = found.rate, found.describe()
        severity = worst_severity({canonical_severity(a.labels.get("severity")) for a in assignment.alerts})
        impact = score_impact(
            severity=severity, services=services, root=ctx, alert_count=len(assignment.alerts), slo_burn=burn
        )
        named = [
            (a.name, canonical_severity(a.labels.get("severity")))
            for a in assignment.alerts
            if a.status is AlertStatus.FIRING
        ]
        impact = pipeline_floor(impact, named)  # as the incident scores it
        failing = [
            (a.labels, a.annotations, canonical_severity(a.labels.get("severity")))
            for a in assignment.alerts
            if a.status is AlertStatus.FIRING
        ]
        impact = datasource_floor(impact, failing)
        impact = burn_floor(impact, burn, detail)
        entries = []
        targets: dict[str, str] = {}  # a target's remediation id -> the runbook acting on it (the worker's)
        for alert in assignment.alerts:
            plans: list[dict[str, Any]] = []
            elsewhere = (scope or ClusterScope()).elsewhere(alert.labels)  # as the worker matches them
            for runbook in match_runbooks(runbooks, alert, alert.service):
                if elsewhere:
                    plans.append({"runbook": runbook.name, "problem": elsewhere})
                    continue
                try:
                    plan = plan_for(runbook, alert, incident_id=assignment.incident_id, service=alert.service)
                    if scope is not None and scope.name and scope.own_locks:  # as the worker plans it
                        plan = plan.model_copy(update={"cluster": scope.name})
                except ValueError as err:
                    plans.append({"runbook": runbook.name, "problem": str(err)})
                    continue
                condition = runbook.match.rollout_condition()
                # (one whose rollout condition decides takes the target only when it holds: the
                # worker's call, at match time; shown with its only_if)
                first = targets.get(plan.workflow_id)
                if first is not None and first != runbook.name:
                    plans.append({"runbook": runbook.name, "problem": taken(plan, first)})
                    continue
                if condition is None:
                    targets[plan.workflow_id] = runbook.name
                plans.append(
                    {
                        "runbook": runbook.name,
                        "only_if": _rollout_words(condition) if condition else None,
                        "target": str(plan.target),
                        "steps": [s.model_dump(mode="json", exclude_defaults=True) for s in plan.steps],
                        "verify": plan.runbook.verify.promql,
                        "budget": budget_key(plan.service, plan.target.namespace, plan.cluster),
                    }
                )
            subject = alert.subject
            own_burn = slo_burn(alert.labels, alert.annotations)
            entries.append(
                {
                    "alertname": alert.name,
                    "status": alert.status.value,
                    "service": alert.service,
                    "subject": str(subject.object) if subject and subject.object else None,
                    "target": str(subject.target) if subject and subject.target else None,
                    "decided_by": assignment.decided_by.get(alert.fingerprint, []),
                    "why": alert.why,
                    "slo_burn": own_burn.describe() if own_burn else None,
                    "runbooks": plans,
                }
            )
        out.append(
            {
                "incident": assignment.incident_id,
                "service": ctx.name if ctx else None,
                "in_catalog": bool(ctx and ctx.in_catalog),
                # From the cluster (MEDIC_SUBJECT_LOOKUP): what correlation would relate this incident to.
                "runs_on_nodes": list(ctx.nodes) if ctx else [],
                "hosts_services": list(ctx.hosts) if ctx else [],
                "score": impact.score,
                "priority": impact.priority,
                "score_explained": impact.explain(),
                "alerts": entries,
            }
        )
    return out


def _budget_words(key: str) -> str:
    """Which hourly budget (MEDIC_REMEDIATION_MAX_PER_HOUR) its actions count against, and how."""
    owned, _, cluster = key.partition("@")  # (a cluster's own budget: remediations.budget.budget_key)
    kind, _, name = owned.partition(":")
    whose = f"service {name}" if kind == "service" else f"namespace {name} (it names no service)"
    whose += f" in cluster {cluster}" if cluster else ""
    return (
        f"each step that acts counts against the hourly action budget of {whose}: held from before it "
        "acts (or asks for approval), given back if it does not act"
    )


def _rollout_words(condition: tuple[bool, int]) -> str:
    recent, minutes = condition
    when = f"rolled out in the last {minutes} min"
    return (
        f"only if it {when}, read from the cluster when matched"
        if recent
        else f"unless it {when} (or no cluster can tell)"
    )


def render(incidents: list[dict[str, Any]]) -> str:
    """The human-readable form."""
    lines: list[str] = []
    for inc in incidents:
        if "ignored" in inc:
            why = f": {inc['why']}" if inc["why"] else ""
            lines.append(
                f"{inc['alertname']} ({inc['status']}): no incident, ignored by {inc['ignored']}{why}"
            )
            continue
        if "heartbeat" in inc:
            labels = ", ".join(f"{k}={v}" for k, v in inc["labels"].items()) or "no other labels"
            after = f"{inc['missing_after_minutes']:g} min"
            lines.append(
                f"{inc['id']}: heartbeat {inc['heartbeat']} ({inc['alertname']}, {labels}; {inc['status']}):"
                f" no incident; {inc['service']} is told when no beat comes for {after} (once its beats"
                f" came alone within {after} of each other for twice that)"
            )
            if inc["status"] != "firing":
                lines.append("  resolved: no beat (the outage, if one follows, says when it was resolved)")
            elif not inc["arms"]:
                lines.append("  came with other alerts of its group: keeps it alive, does not arm it")
            continue
        where = f"service {inc['service']}" if inc["service"] else "no service (its Alertmanager group)"
        known = "" if inc["in_catalog"] or not inc["service"] else " (not in the catalog)"
        lines.append(f"{inc['incident']}: {where}{known}; {inc['score_explained']}")
        if inc.get("runs_on_nodes"):
            lines.append(f"  runs on:     {', '.join(inc['runs_on_nodes'])} (a node's incident absorbs it)")
        if inc.get("hosts_services"):
            lines.append(f"  hosts:       {', '.join(inc['hosts_services'])} (it absorbs their incidents)")
        for a in inc["alerts"]:
            lines.append(f"  {a['alertname']} ({a['status']})")
            if a["subject"]:
                lines.append(f"    subject:   {a['subject']}  -> acts on {a['target']}")
            lines.append(f"    decided:   {', '.join(a['decided_by']) or '-'}: {a['why']}")
            if a["slo_burn"]:
                lines.append(f"    SLO burn:  {a['slo_burn']}")
            for p in a["runbooks"]:
                if "problem" in p:
                    lines.append(f"    runbook:   {p['runbook']} matches but would not run: {p['problem']}")
                    continue
                only_if = f" ({p['only_if']})" if p.get("only_if") else ""
                lines.append(f"    runbook:   {p['runbook']} on {p['target']}{only_if}")
                for i, step in enumerate(p["steps"], 1):
                    lines.append(f"      step {i}: {json.dumps(step, sort_keys=True)}")
                if p["verify"]:
                    lines.append(f"      verify: {p['verify']}")
                lines.append(f"      budget: {_budget_words(p['budget'])}")
            if not a["runbooks"]:
                lines.append("    runbook:   none matches")
    lines.append(
        "(nothing was changed; correlation may still fold these incidents into their causes' incidents)"
    )
    return "\n".join(lines)
