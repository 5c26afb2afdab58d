"""Postmortem rendering: a scripted checkout incident driven through the real IncidentState, rendered to
Markdown and SVG and compared with golden files (MEDIC_UPDATE_GOLDEN=1 rewrites them)."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import medic.redact
from medic.alerts import Alert, AlertStatus
from medic.chart import render_timeline_svg
from medic.feedback import FalsePositive, Matcher, SilenceRecord
from medic.incident import AlertBatch, IncidentState, RemediationTrack
from medic.postmortem import DEFAULT_TEMPLATE, render_postmortem
from medic.story import incident_metrics
from medic.timeline import TimelineEntry
from medic.vocab import TimelineKind, parse_outcome
from tests.support.png import read_png
from tests.support.shop import ctx

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("MEDIC_UPDATE_GOLDEN") == "1"
SVG = "{http://www.w3.org/2000/svg}"
PGB, ROLLBACK = "rem-pgbouncer-1", "rem-checkout-rollback-1"


def at(h: int, m: int, s: int = 0) -> datetime:
    return datetime(2026, 11, 23, h, m, s, tzinfo=UTC)


def alert(name: str, service: str, starts: datetime, *, severity: str = "critical", **extra: str) -> Alert:
    labels = {"alertname": name, "severity": severity, "service": service, **extra}
    # service as medic.assign sets it on every delivery
    return Alert(
        fingerprint=f"fp-{name}", status=AlertStatus.FIRING, labels=labels, starts_at=starts, service=service
    )


def resolved(a: Alert, ends: datetime) -> Alert:
    return a.model_copy(update={"status": AlertStatus.RESOLVED, "ends_at": ends})


def deliver(state: IncidentState, when: datetime, *alerts: Alert) -> None:
    services = sorted({a.labels["service"] for a in alerts})
    state.apply_alerts(
        AlertBatch(alerts=list(alerts), received_at=when, contexts=[ctx(s) for s in services]), at=when
    )


def remediation(
    state: IncidentState, when: datetime, rid: str, kind: str, message: str, **data: object
) -> None:
    """What the Remediator records for a RemediationEvent (workflows/remediator.py: on_event)."""
    track = state.remediations[rid]
    state.remediation_reported(
        when,
        remediation_id=rid,
        kind=kind,
        message=f"[{track.runbook}] {message}",
        outcome=parse_outcome(data["outcome"]) if "outcome" in data else None,
        actor=str(data.pop("actor", "medic")),
        reconciler=str(data.get("reconciler") or ""),
    )


def action(when: datetime, step: int, name: str, description: str, risk: str) -> dict[str, object]:
    """An ActionRecord as the incident keeps it (model_dump(mode="json"))."""
    return {
        "step": step,
        "action": name,
        "target": "deployment/data/pgbouncer",
        "description": description,
        "risk": risk,
        "status": "executed",
        "at": when.isoformat().replace("+00:00", "Z"),
        "by": "medic",
    }


def checkout_incident(*, resolve: bool = True) -> IncidentState:
    """orders-db runs out of connections, checkout fails with it; a runbook's first step fails its
    verification and is rolled back, the second works; a noisy latency alert flaps and is marked a false
    positive; the incident resolves after the quiet period."""
    db = alert("PostgresConnectionsExhausted", "orders-db", at(13, 58, 30), instance="orders-db-0")
    db = db.model_copy(update={"generator_url": "http://prometheus:9090/graph?g0.expr=pg_up (x)"})
    errors = alert("CheckoutHighErrorRate", "checkout", at(13, 59, 10), burn_rate="14.4")
    p99 = alert("CheckoutLatencyP99", "checkout", at(14, 3), severity="warning")

    s = IncidentState(id="incident-checkout-1", opened_at=at(14, 0))
    s.record(at(14, 0), TimelineKind.INCIDENT_OPENED, "Incident opened.")
    deliver(s, at(14, 0), db)
    s.record(
        at(14, 0, 5), TimelineKind.NOTIFICATION_SENT, "Posted to Slack #data-oncall.", channel="#data-oncall"
    )
    s.record(at(14, 0, 6), TimelineKind.ESCALATION_LEVEL, "Escalation level 1: paging data.", level=1)
    s.record(
        at(14, 0, 6), TimelineKind.NOTIFICATION_SENT, "PagerDuty trigger sent to data.", action="trigger"
    )
    deliver(s, at(14, 0, 40), errors)

    s.remediations[PGB] = RemediationTrack(
        runbook="pgbouncer-pool", fingerprints=["fp-PostgresConnectionsExhausted"]
    )
    s.record(
        at(14, 1),
        TimelineKind.REMEDIATION_STARTED,
        f"Runbook pgbouncer-pool matched PostgresConnectionsExhausted: remediating orders-db ({PGB}).",
        remediation=PGB,
    )
    remediation(
        s, at(14, 1, 5), PGB, "approval.requested", "Approval requested (medium risk): raise the pool."
    )
    s.remediations[ROLLBACK] = RemediationTrack(
        runbook="checkout-rollback", fingerprints=["fp-CheckoutHighErrorRate"]
    )
    s.record(
        at(14, 2),
        TimelineKind.REMEDIATION_STARTED,
        f"Runbook checkout-rollback matched CheckoutHighErrorRate: remediating checkout ({ROLLBACK}).",
        remediation=ROLLBACK,
    )
    remediation(
        s,
        at(14, 2, 1),
        ROLLBACK,
        "guardrail.blocked",
        "Guardrail blocked rollout_undo of runbook checkout-rollback: change freeze until 18:00Z.",
        outcome="blocked",
    )

    deliver(s, at(14, 3), p99)
    deliver(s, at(14, 4), resolved(p99, at(14, 4)))
    s.record(
        at(14, 5),
        TimelineKind.ESCALATION_LEVEL,
        "Escalation level 2: paging data-secondary (no ack after 5 min).",
        level=2,
    )
    deliver(s, at(14, 5), p99.model_copy(update={"starts_at": at(14, 5)}))
    deliver(s, at(14, 6), resolved(p99.model_copy(update={"starts_at": at(14, 5)}), at(14, 6)))
    s.acknowledge(at(14, 6, 30), actor="alice", source="slack")
    remediation(s, at(14, 7), PGB, "approval.granted", "Approved by alice.", actor="alice")
    remediation(s, at(14, 7, 2), PGB, "action.started", "Acting: set DEFAULT_POOL_SIZE=40 (was 20).")
    s.actions.append(action(at(14, 7, 40), 0, "set_env", "set DEFAULT_POOL_SIZE=40 (was 20)", "medium"))
    remediation(s, at(14, 7, 40), PGB, "action.executed", "Done: set DEFAULT_POOL_SIZE=40 (was 20).")
    third = p99.model_copy(update={"starts_at": at(14, 8)})
    deliver(s, at(14, 8), third)
    deliver(s, at(14, 9), resolved(third, at(14, 9)))
    remediation(
        s,
        at(14, 9, 40),
        PGB,
        "verification.failed",
        "Verification failed: the alerts resolving for 60s did not hold within 120s.",
    )
    remediation(s, at(14, 9, 45), PGB, "rollback.done", "Undid set_env on deployment/data/pgbouncer.")
    s.actions[-1]["status"] = "compensated"
    remediation(s, at(14, 9, 50), PGB, "action.started", "Acting: restart deployment/data/pgbouncer.")
    s.actions.append(action(at(14, 10, 5), 1, "restart", "restart deployment/data/pgbouncer", "low"))
    remediation(s, at(14, 10, 5), PGB, "action.executed", "Done: restart deployment/data/pgbouncer.")
    deliver(s, at(14, 12, 30), resolved(db, at(14, 12, 10)))
    remediation(
        s,
        at(14, 12, 35),
        PGB,
        "verification.passed",
        "Verified: the alerts resolving for 60s held; the fix worked.",
        outcome="verified",
    )
    deliver(s, at(14, 13), resolved(errors, at(14, 12, 50)))

    s.relay(at(14, 14), "command.silence", "/medic silence 2h alertname=CheckoutLatencyP99", actor="alice")
    silence = SilenceRecord(
        id="5c1e-77",
        matchers=[Matcher(name="alertname", value="CheckoutLatencyP99")],
        starts_at=at(14, 14),
        ends_at=at(16, 14),
        created_by="alice",
        comment="noisy during the pool change",
        url="http://alertmanager:9093/#/silences/5c1e-77",
    )
    assert s.add_silence(silence, at=at(14, 14, 1))
    note = "p99 | fires on every deploy, <2s is fine"
    mark = FalsePositive(
        at=at(14, 15), actor="bob", rules=["CheckoutLatencyP99"], incident_id=s.id, note=note
    )
    assert s.mark_false_positive(mark)
    s.record(
        at(14, 16),
        TimelineKind.COMMAND_REFUSED,
        "mallory may not resolve incidents of team data.",
        actor="mallory",
    )
    if resolve:
        s.resolve(at(14, 18))
        s.record(
            at(14, 18, 2), TimelineKind.NOTIFICATION_SENT, "PagerDuty resolve sent to data.", action="resolve"
        )
    return s


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed XML


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with MEDIC_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; MEDIC_UPDATE_GOLDEN=1 rewrites it"


LINKS = {"Grafana dashboard": "http://grafana:3000/d/checkout", "Runbook": "http://wiki/runbooks/pgbouncer"}


def test_markdown_matches_the_golden_file() -> None:
    state = checkout_incident()
    golden("postmortem_checkout.md", render_postmortem(state, now=at(15, 0), links=LINKS))


def test_svg_matches_the_golden_file() -> None:
    golden("postmortem_checkout.svg", render_timeline_svg(checkout_incident(), now=at(15, 0)))


def test_metrics_of_the_script() -> None:
    m = incident_metrics(checkout_incident(), now=at(15, 0))
    assert m.first_signal_at == at(13, 58, 30)  # orders-db's alert started before anything arrived
    assert m.detected_at == at(14, 0)
    assert m.time_to_detect == timedelta(minutes=1, seconds=30)
    assert m.time_to_acknowledge == timedelta(minutes=6, seconds=30)  # 14:00:00 -> 14:06:30
    assert (m.mitigated_at, m.mitigation) == (at(14, 12, 35), "verification")
    assert m.time_to_mitigate == timedelta(minutes=14, seconds=5)  # 13:58:30 -> 14:12:35
    assert m.time_to_resolve == timedelta(minutes=19, seconds=30)  # 13:58:30 -> 14:18:00
    assert m.impact_minutes == pytest.approx(845 / 60)
    # checkout 1200/min + orders-db 1200/min; users: checkout 800/min, orders-db none.
    assert m.estimated_revenue == pytest.approx(2400 * 845 / 60)  # 33,800
    assert m.estimated_users == pytest.approx(800 * 845 / 60)


def test_mitigation_falls_back_to_the_alerts_stopping_and_then_to_now() -> None:
    a = alert("HighLatency", "search", at(12, 0))
    state = IncidentState(id="incident-search-1", opened_at=at(12, 1))
    deliver(state, at(12, 1), a)
    firing = incident_metrics(state, now=at(12, 11))
    assert (firing.mitigated_at, firing.time_to_mitigate, firing.resolved_at) == (None, None, None)
    assert firing.impact_minutes == pytest.approx(11.0)  # first signal to now
    assert firing.estimated_revenue == pytest.approx(50 * 11.0)
    deliver(state, at(12, 7), resolved(a, at(12, 6)))
    quiet = incident_metrics(state, now=at(12, 11))
    assert (quiet.mitigated_at, quiet.mitigation) == (at(12, 7), "quiet")
    assert quiet.time_to_mitigate == timedelta(minutes=7)
    assert quiet.time_to_acknowledge is None


def test_draft_while_open_final_when_resolved() -> None:
    draft = render_postmortem(checkout_incident(resolve=False), now=at(14, 17))
    final = render_postmortem(checkout_incident(), now=at(15, 0))
    assert (
        "**Draft: the incident is still open** (status acknowledged, as of 2026-11-23 14:17:00 UTC)" in draft
    )
    assert "Final" not in draft
    assert "**Final**: resolved at 2026-11-23 14:18:00 UTC by Medic." in final
    assert "Draft" not in final
    assert "| Resolved | — | — (MTTR) |" in draft


def test_follow_ups_are_derived_from_the_facts() -> None:
    text = render_postmortem(checkout_incident(), now=at(15, 0))
    follow_ups = text.split("## Follow-up items")[1].split("##")[0]
    assert [line for line in follow_ups.strip().splitlines()] == [
        "- [ ] Confirm the root cause (Medic's top candidate: orders-db)",
        "- [ ] Review the guardrail that blocked checkout-rollback: \\[checkout-rollback\\] Guardrail "
        "blocked rollout_undo of runbook checkout-rollback: change freeze until 18:00Z.",
        "- [ ] Review the runbook pgbouncer-pool: a step failed its verification",
        "- [ ] Review the alert rule CheckoutLatencyP99: it was marked a false positive",
        "- [ ] Tune `for` or hysteresis of the alert rule CheckoutLatencyP99: it flapped",
        "- [ ] Review the on-call set-up: the incident escalated before anyone acknowledged its page",
    ]
    quiet = IncidentState(id="incident-empty", opened_at=at(12, 0))
    assert (
        render_postmortem(quiet, now=at(12, 5))
        .split("## Follow-up items\n\n")[1]
        .startswith("- [ ] Confirm the root cause\n")
    )


def test_people_and_medic_are_told_apart() -> None:
    text = render_postmortem(checkout_incident(), now=at(15, 0))
    people = text.split("## What people did")[1].split("\n## ")[0]
    medic = text.split("## What Medic did")[1].split("\n## ")[0]
    assert "| 2026-11-23 14:06:30 UTC | alice | incident.acknowledged |" in people
    assert "| 2026-11-23 14:07:00 UTC | alice | approval.granted |" in people
    assert "| mallory | command.refused |" in people
    assert "alertmanager" not in people and "| medic |" not in people
    assert "- Runbook **pgbouncer-pool** (rem-pgbouncer-1): worked: verification passed" in medic
    assert "- Runbook **checkout-rollback** (rem-checkout-rollback-1): blocked by a guardrail" in medic
    assert "| 2026-11-23 14:07:40 UTC | set_env | deployment/data/pgbouncer | compensated | medium |" in medic


def test_template_override_uses_placeholders_and_keeps_unknown_ones() -> None:
    template = "Incident report: $title\n\n### Numbers\n\n$metrics\n\n$not_a_section and $$5\n"
    text = render_postmortem(checkout_incident(), now=at(15, 0), template=template)
    assert text.startswith("Incident report: Postmortem: PostgresConnectionsExhausted on orders-db")
    assert "| Acknowledged | 2026-11-23 14:06:30 UTC | 6m 30s (MTTA) |" in text
    assert "$not_a_section and $5" in text
    assert "## Summary" not in text and "## Timeline" not in text
    assert DEFAULT_TEMPLATE.startswith("# $title\n\n$status_line\n")


def test_chart_link_is_optional() -> None:
    state = checkout_incident()
    assert "![Timeline](timeline.svg)" in render_postmortem(state, now=at(15, 0))
    assert "![Timeline](charts/incident-checkout-1.svg)" in render_postmortem(
        state, now=at(15, 0), chart="charts/incident-checkout-1.svg"
    )
    assert "![Timeline]" not in render_postmortem(state, now=at(15, 0), chart=None)


def test_pipes_angle_brackets_and_newlines_are_escaped() -> None:
    state = IncidentState(id="incident-x", opened_at=at(12, 0))
    state.relay(at(12, 1), "command.note", "a | b <script>alert(1)</script>\nsecond & last", actor="eve|<x>")
    text = render_postmortem(state, now=at(12, 2))
    row = (
        "| 2026-11-23 12:01:00 UTC | command.note | eve\\|&lt;x&gt; | "
        "a \\| b &lt;script&gt;alert(1)&lt;/script&gt;<br>second &amp; last |"
    )
    assert row in text
    assert "<script>" not in text and "<x>" not in text
    svg = render_timeline_svg(state, now=at(12, 2))
    root = parse(svg)  # well-formed despite the message
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any("a | b <script>alert(1)</script>" in t for t in titles)
    assert "<script>" not in svg


def test_svg_has_one_marker_per_entry_and_milestone_lines() -> None:
    state = checkout_incident()
    root = parse(render_timeline_svg(state, now=at(15, 0)))
    assert root.tag == f"{SVG}svg" and root.get("width") == "900"

    def with_class(word: str) -> list[ET.Element]:
        return [e for e in root.iter() if word in (e.get("class") or "").split()]

    markers = with_class("marker")
    assert len(markers) == len(state.timeline)
    assert all(m.tag == f"{SVG}circle" and m.find(f"{SVG}title") is not None for m in markers)
    lines = {c for e in with_class("milestone") for c in (e.get("class") or "").split()}
    assert {
        "milestone-detected",
        "milestone-acknowledged",
        "milestone-mitigated",
        "milestone-resolved",
    } <= lines
    assert len(with_class("kind-verification-failed")) == 1
    # Bars: PostgresConnectionsExhausted and CheckoutHighErrorRate once, CheckoutLatencyP99's three episodes.
    assert len(with_class("bar")) == 5
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert (
        "Incident incident-checkout-1 · P1 · PostgresConnectionsExhausted on orders-db (+1 more service)"
        in labels
    )
    assert {"Alerts", "Correlation/scoring", "Notifications", "People", "Remediation"} <= set(labels)

    draft = parse(render_timeline_svg(checkout_incident(resolve=False), now=at(14, 17)))
    classes = {c for e in draft.iter() for c in (e.get("class") or "").split()}
    assert "milestone-acknowledged" in classes and "milestone-resolved" not in classes


def test_long_timelines_are_abbreviated() -> None:
    state = IncidentState(id="incident-long", opened_at=at(12, 0))
    for i in range(100):
        state.record(at(12, 0) + timedelta(seconds=i), TimelineKind.ALERT_FIRING, f"event number {i:03d}")
    text = render_postmortem(state, now=at(13, 0))
    timeline = text.split("## Timeline")[1].split("\n## ")[0]
    rows = [line for line in timeline.splitlines() if line.startswith("| 2026")]
    assert len(rows) == 80
    assert "| … | … | … | … 20 entries omitted |" in timeline
    assert "event number 039" in timeline and "event number 060" in timeline
    assert "event number 040" not in timeline and "event number 059" not in timeline
    circles = parse(render_timeline_svg(state, now=at(13, 0))).findall(f".//{SVG}circle")
    assert len([c for c in circles if "marker" in (c.get("class") or "").split()]) == 100

    storm = IncidentState(id="incident-storm", opened_at=at(12, 0))
    deliver(storm, at(12, 0), *(alert(f"Pod{i:02d}Down", "search", at(12, 0)) for i in range(60)))
    detection = render_postmortem(storm, now=at(13, 0)).split("## Detection")[1].split("\n## ")[0]
    assert "| Pod49Down |" in detection and "| Pod50Down |" not in detection
    assert "| … 10 more signals | … |" in detection


def test_rendering_is_deterministic_and_does_not_change_the_state() -> None:
    state = checkout_incident()
    before = state.model_dump()
    assert render_postmortem(state, now=at(15, 0)) == render_postmortem(
        IncidentState.model_validate_json(state.model_dump_json()), now=at(15, 0)
    )
    assert render_timeline_svg(state, now=at(15, 0)) == render_timeline_svg(state, now=at(15, 0))
    assert state.model_dump() == before


def test_a_secret_with_markup_characters_is_redacted_before_it_is_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Escaped, ``s3cr&t<v>`` reads ``s3cr&amp;t&lt;v&gt;`` and no longer matches itself."""
    monkeypatch.setattr(medic.redact, "_known", set())
    secret = "s3cr&t<value>|x"
    state = checkout_incident()
    # Text that reached the state unredacted (recorded before the secret was configured).
    state.timeline.append(
        TimelineEntry.model_construct(
            at=at(10, 30), kind="command.note", actor="U1", message=f"note: it is {secret}", data={}
        )
    )
    medic.redact.register_secrets([secret])
    markdown = render_postmortem(state, now=at(11, 0))
    svg = render_timeline_svg(state, now=at(11, 0))
    for document in (markdown, svg):
        assert "s3cr" not in document


def test_detected_is_the_first_part_of_a_merged_incident_to_open() -> None:
    """A symptom opened first and merged into its cause later: detection counts from the symptom's
    opening, and MTTA from there."""
    symptom = IncidentState(id="incident-checkout", opened_at=at(10, 0))
    symptom.record(at(10, 0), TimelineKind.INCIDENT_OPENED, "Incident opened.")
    deliver(symptom, at(10, 0), alert("CheckoutErrors", "checkout", at(9, 59)))
    cause = IncidentState(id="incident-orders-db", opened_at=at(10, 3))
    cause.record(at(10, 3), TimelineKind.INCIDENT_OPENED, "Incident opened.")
    deliver(cause, at(10, 3), alert("PostgresDown", "orders-db", at(10, 2)))
    cause.absorb(symptom, at=at(10, 3, 5))
    cause.acknowledge(at(10, 8), actor="U1", source="slack")
    m = incident_metrics(cause, now=at(10, 30))
    assert m.detected_at == at(10, 0)
    assert m.first_signal_at == at(9, 59)
    assert m.time_to_acknowledge == timedelta(minutes=8)


def test_links_images_and_other_schemes_from_outside_stay_text() -> None:
    """Issue 13: Markdown links, images and ``javascript:`` URLs from labels and ``generatorURL`` must not
    reach the page as links; Medic's own http(s) links stay links."""
    state = IncidentState(id="incident-x", opened_at=at(12, 0))
    evil = alert("Evil[click](javascript:alert(1))", "checkout", at(12, 0)).model_copy(
        update={"generator_url": "javascript:alert(document.cookie)"}
    )
    fine = alert("Fine", "checkout", at(12, 0)).model_copy(
        update={"generator_url": "https://prom.example/graph?g0.expr=up (x)", "fingerprint": "fp-fine"}
    )
    deliver(state, at(12, 0), evil, fine)
    note = "see [here](javascript:alert(1)), ![x](https://evil.example/t.png), *bold*, `code`, a_b"
    state.relay(at(12, 1), "command.note", note, actor="eve_")
    text = render_postmortem(state, now=at(12, 2), links={"Medic API": "http://medic.example/i (1)"})
    # Every link left (an unescaped "](") is one of Medic's own http(s) links.
    assert [m.group(1) for m in re.finditer(r"(?<!\\)\]\((\w+):", text)] == ["http", "https"]
    assert "see \\[here\\](javascript:alert(1)), !\\[x\\](https://evil.example/t.png), " in text
    assert "\\*bold\\*, \\`code\\`, a_b" in text
    assert "| eve\\_ |" in text  # an underscore next to punctuation could end emphasis: escaped
    assert "- Alert rule Evil\\[click\\](javascript:alert(1)): javascript:alert(document.cookie)" in text
    assert "- [Alert rule Fine](https://prom.example/graph?g0.expr=up%20%28x%29)" in text
    assert "- [Medic API](http://medic.example/i%20%281%29)" in text


def long_lead_in_incident() -> IncidentState:
    """The checkout incident, and a disk alert on orders-db that had been firing for two days before it."""
    s = checkout_incident()
    disk = alert("PostgresDiskFilling", "orders-db", at(14, 0) - timedelta(days=2), severity="warning")
    deliver(s, at(14, 0, 20), disk)
    return s


def test_a_long_lead_in_is_elided_and_the_incident_keeps_the_width() -> None:
    svg = render_timeline_svg(long_lead_in_incident(), now=at(15, 0))
    golden("timeline_long_lead_in.svg", svg)
    root = parse(svg)
    assert [e for e in root.iter() if "lead-in" in (e.get("class") or "").split()]
    detected = next(e for e in root.iter() if "milestone-detected" in (e.get("class") or "").split())
    resolved = next(e for e in root.iter() if "milestone-resolved" in (e.get("class") or "").split())
    # Without the lead-in, the 18 minutes of the incident would be 1/160th of the chart (4 pixels).
    assert float(resolved.get("x1") or 0) - float(detected.get("x1") or 0) > 500
    assert "The 1d 23h 58m 00s before 2026-11-23 13:58:00 UTC are compressed at the left." in svg


def test_the_chart_has_a_legend_and_no_overlapping_milestone_labels() -> None:
    root = parse(render_timeline_svg(checkout_incident(), now=at(15, 0)))
    legend = next(e for e in root.iter() if e.get("class") == "legend")
    words = {t.text for t in legend.iter(f"{SVG}text")}
    assert {"critical alert", "anomaly", "still firing", "failure or escalation", "resolved"} <= words
    lines = [e for e in root.iter(f"{SVG}line") if "milestone" in (e.get("class") or "").split()]
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "milestone-label"]
    assert len(lines) == len(labels) == 4
    for label in labels:
        x, y, n = float(label.get("x") or 0), float(label.get("y") or 0), len(label.text or "")
        lo, hi = (x, x + 6.4 * n) if label.get("text-anchor") is None else (x - 6.4 * n, x)
        for line in lines:
            top, lx = float(line.get("y1") or 0), float(line.get("x1") or 0)
            crosses = top < y - 8 and lo - 2 <= lx <= hi + 2  # a line that runs down through the label
            assert not crosses, (label.text, line.get("class"))


def test_the_chart_paints_with_attributes_for_renderers_without_css() -> None:
    svg = render_timeline_svg(long_lead_in_incident(), now=at(15, 0))
    assert "<style" not in svg
    for e in parse(svg).iter():
        if e.tag in (f"{SVG}rect", f"{SVG}circle"):
            assert e.get("fill"), ET.tostring(e)[:120]
        if e.tag == f"{SVG}line":
            assert e.get("stroke"), ET.tostring(e)[:120]


def test_the_chart_renders_without_black_lanes(tmp_path: Path) -> None:
    """Rendered by librsvg (as ImageMagick, e-mail and Markdown previewers would), lanes stay light."""
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        pytest.fail("rsvg-convert is missing: `make system-deps` installs librsvg2-bin")
    source = tmp_path / "chart.svg"
    source.write_text(render_timeline_svg(long_lead_in_incident(), now=at(15, 0)), encoding="utf-8")
    png = subprocess.run([rsvg, str(source)], check=True, capture_output=True, timeout=60).stdout
    width, _, rows, step = read_png(png)
    assert width == 900

    def pixel(x: int, y: int) -> tuple[int, ...]:
        return tuple(rows[y][x * step : x * step + 3])

    for lane_top in range(
        90, 90 + 6 * 26, 26
    ):  # Alerts (three rows: markers and two services), then one each
        assert min(pixel(885, lane_top + 3)) > 200, (lane_top, pixel(885, lane_top + 3))  # right of the lanes
    assert min(pixel(170 + 64 // 2, 95)) > 180  # the elided lead-in band: light grey
    assert pixel(885, 5) == (255, 255, 255)


def test_the_on_call_follow_up_needs_an_escalation_beyond_the_first_page() -> None:
    def follow_ups(*levels: tuple[datetime, int]) -> str:
        s = IncidentState(id="incident-x", opened_at=at(12, 0))
        for when, level in levels:
            s.record(when, TimelineKind.ESCALATION_LEVEL, f"Escalation level {level}.", level=level)
        s.acknowledge(at(12, 10), actor="alice", source="slack")
        return render_postmortem(s, now=at(12, 30)).split("## Follow-up items")[1]

    review = "Review the on-call set-up"
    assert review not in follow_ups((at(12, 0), 1))  # the minute-0 page only
    assert review not in follow_ups((at(12, 0), 1), (at(12, 15), 2))  # level 2 was due after the ack
    assert review in follow_ups((at(12, 0), 1), (at(12, 5), 2))


def test_every_notification_is_counted_and_listed() -> None:
    s = IncidentState(id="incident-x", opened_at=at(12, 0))
    s.record(at(12, 0, 1), TimelineKind.NOTIFICATION_SENT, "Posted to Slack #shop.", channel="#shop")
    s.record(
        at(12, 0, 1), TimelineKind.NOTIFICATION_SENT, "Posted to Teams ops.", channel="ops", chat="teams"
    )
    s.record(
        at(12, 0, 2),
        TimelineKind.NOTIFICATION_SENT,
        "PagerDuty trigger sent to shop.",
        routing_key_name="shop",
    )
    s.record(at(12, 0, 3), TimelineKind.NOTIFICATION_SENT, "JIRA issue SHOP-1 opened.", jira="SHOP-1")
    medic = render_postmortem(s, now=at(12, 5)).split("## What Medic did")[1].split("\n## ")[0]
    assert "Notifications: 4 notifications sent (1 Slack post, 1 Teams post, 1 page, 1 ticket)." in medic
    for text in ("Posted to Slack #shop.", "PagerDuty trigger sent to shop.", "JIRA issue SHOP-1 opened."):
        assert f"`notification.sent`: {text}" in medic


def test_each_incident_of_an_id_has_its_folder_and_the_oldest_are_let_go(tmp_path: Path) -> None:
    """One folder per incident of an id (a service's incidents share it), named for when it opened,
    the latest again beside them; beyond the latest KEEP_PER_ID the oldest go (nothing pruned them,
    and a busy service filled the chart's 1 GiB volume in about 94 days)."""
    from activities.postmortem import PostmortemWriter  # noqa: PLC0415

    writer = PostmortemWriter(tmp_path)
    t0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    for k in range(5):
        s = IncidentState(id="incident-checkout", title=f"Incident {k}", opened_at=t0 + timedelta(hours=k))
        s.resolve(t0 + timedelta(hours=k, minutes=30))
        path, markdown = writer.write(s, now=t0 + timedelta(hours=k, minutes=30))
        assert path.parent.name == f"2026-12-06T{9 + k:02d}0000Z" and path.read_text() == markdown
    assert (tmp_path / "incident-checkout" / "postmortem.md").read_text() == markdown  # the latest
    import activities.postmortem as module  # noqa: PLC0415

    keep, module.KEEP_PER_ID = module.KEEP_PER_ID, 3
    try:
        s = IncidentState(id="incident-checkout", title="Incident 5", opened_at=t0 + timedelta(hours=5))
        writer.write(s, now=t0 + timedelta(hours=6))
    finally:
        module.KEEP_PER_ID = keep
    kept = sorted(p.name for p in (tmp_path / "incident-checkout").iterdir() if p.is_dir())
    assert kept == ["2026-12-06T120000Z", "2026-12-06T130000Z", "2026-12-06T140000Z"]


def refused_follow_ups(reconciler: str, message: str) -> str:
    """The follow-ups of the script's incident, its rollback refused because ``reconciler`` would undo it."""
    s = checkout_incident()
    remediation(
        s,
        at(14, 0),
        ROLLBACK,
        TimelineKind.GUARDRAIL_BLOCKED,
        message,
        outcome="blocked",
        reconciler=reconciler,
    )
    return render_postmortem(s, now=at(15, 0)).split("## Follow-up items")[1].split("##")[0]


def test_a_fix_another_controller_would_undo_is_followed_up_where_it_belongs() -> None:
    """A step refused because Argo CD or Flux would undo it: the follow-ups say to make the fix durable
    where the reconciler takes it from, and to resume it if someone suspended it to act by hand (the step
    people forget)."""
    follow_ups = refused_follow_ups(
        "Argo CD Application argocd/checkout",
        "Not acting: roll back Deployment shop/checkout from revision 3 to revision 2, but Argo CD "
        "Application argocd/checkout would put back spec.template (automated sync with self-heal).",
    )
    assert (
        "- [ ] Make the fix durable where Argo CD Application argocd/checkout takes it from (Git): a step of "
        "checkout-rollback did not act, since Argo CD Application argocd/checkout would have undone it"
    ) in follow_ups
    assert (
        "- [ ] If Argo CD Application argocd/checkout was suspended (or its self-heal turned off) to act by "
        "hand, resume it once Git holds the fix"
    ) in follow_ups
    # an HPA: no Git wording (found by review)
    follow_ups = refused_follow_ups(
        "HorizontalPodAutoscaler shop/checkout",
        "Not acting: scale Deployment replicas of shop/checkout from 2 to 4, but HorizontalPodAutoscaler "
        "shop/checkout would put back spec.replicas (it sets the replicas from its metrics).",
    )
    assert "Git" not in follow_ups and "self-heal" not in follow_ups
    assert (
        "- [ ] Scale through HorizontalPodAutoscaler shop/checkout: make the runbook's step an hpa: step "
        "(its minReplicas); a step of checkout-rollback did not act"
    ) in follow_ups


def test_the_summary_says_the_priority_at_its_peak() -> None:
    """An incident is rescored as its alerts resolve: a P1 outage's postmortem (and the Teams post that
    links it) said P2 (an SLO team's walk-through, 2026-12-07)."""
    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def firing(name: str, severity: str, status: AlertStatus = AlertStatus.FIRING) -> Alert:
        labels = {"alertname": name, "severity": severity, "service": "checkout"}
        return Alert(fingerprint=name, status=status, labels=labels, starts_at=t0, service="checkout")

    state = IncidentState(id="incident-checkout", opened_at=t0)
    at = t0
    for batch in (
        [firing("Low", "warning")],
        [firing("Outage", "critical"), firing("Down", "critical")],
        [
            firing("Outage", "critical", AlertStatus.RESOLVED),
            firing("Down", "critical", AlertStatus.RESOLVED),
        ],
    ):
        at += timedelta(minutes=5)
        state.apply_alerts(AlertBatch(alerts=batch, received_at=at, contexts=[ctx("checkout")]), at=at)
    scored = [e.message[7:9] for e in state.timeline if e.kind == TimelineKind.INCIDENT_SCORED]
    assert min(scored) < state.priority, scored  # it was higher than it ends
    text = render_postmortem(state, now=at)
    assert f"{state.priority} incident (impact {state.impact:.0f}/100, {min(scored)} at its peak," in text
