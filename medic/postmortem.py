"""The postmortem of an incident as Markdown, rendered from its state alone.

Pure: no I/O, no clock (``now`` is passed in), nothing that is not in the state. Each section is
rendered by code; a team may rearrange them with a :class:`string.Template` using ``$placeholders``
(see :data:`DEFAULT_TEMPLATE`). The timeline chart is :func:`medic.chart.render_timeline_svg`;
the times, durations, lanes and MTTA/MTTM/MTTR metrics both use come from :mod:`medic.story`.
"""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from string import Template
from urllib.parse import quote, urlsplit

from medic.anomaly import SCAN_LABEL
from medic.incident import IncidentState, IncidentStatus
from medic.redact import redact
from medic.story import (
    IncidentMetrics,
    first_acknowledgement,
    first_start,
    fmt_duration,
    fmt_time,
    incident_metrics,
    lane_of,
    machine_actors,
    named,
    ordered_timeline,
    utc,
)
from medic.timeline import TimelineEntry
from medic.vocab import OUTCOME_TEXT, TimelineKind

__all__ = ["DEFAULT_TEMPLATE", "render_postmortem"]

KEEP = 40  # timeline rows kept at each end of a long timeline
SIGNALS = 50  # alerts and anomalies listed under Detection
_ACTION_FIELDS = ("action", "target", "status", "risk", "description")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The document's arrangement; a team's own template uses the same $placeholders, in any order.
DEFAULT_TEMPLATE = (
    "# $title\n\n$status_line\n\n## Summary\n\n$summary\n\n## Impact\n\n$impact\n\n"
    "## Detection\n\n$detection\n\n## Timeline\n\n$chart\n\n$timeline\n\n"
    "## Root-cause candidates\n\n$root_causes\n\n## What Medic did\n\n$medic_actions\n\n"
    "## What people did\n\n$human_actions\n\n## Time to acknowledge, mitigate and resolve\n\n$metrics\n\n"
    "## False-positive feedback\n\n$false_positives\n\n## Follow-up items\n\n$follow_ups\n\n"
    "## Links\n\n$links\n"
)


# ---- Markdown escaping ------------------------------------------------------------------------------
# Text from outside (labels, annotations, titles, notes, commands) is shown, never interpreted: HTML is
# escaped (no tags, no entities), and so are the Markdown characters that make links, images, emphasis
# and code (a backslash before ASCII punctuation is a literal character in CommonMark). Untrusted text
# never starts a line here (inline text is one line, cells are inside a row), so the characters that
# only mean something there (#, -, +, >) stay as they are. Links go through _link: http(s) only.

# An underscore between two letters or digits cannot start or end emphasis (CommonMark's flanking rules),
# so snake_case stays readable; one next to anything else is escaped.
_MARKDOWN = re.compile(r"[\\`*\[\]~]|(?<![^\W_])_|_(?![^\W_])")
_URL_SAFE = ":/?#[]@!$&'*+,;=%"  # RFC 3986 reserved characters and existing escapes; the rest is encoded


def _html(text: str) -> str:
    # Redacted before escaping: once escaped, a secret with & < > in it no longer matches itself.
    return _CONTROL.sub("", redact(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md(text: str) -> str:
    """HTML- and Markdown-escaped: shown as the characters it is."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(), _html(text))


def _text(text: str) -> str:
    """Inline text: escaped, on one line."""
    return " ".join(_md(text).split())


def _cell(text: str) -> str:
    """A table cell: escaped, pipes escaped, line breaks as <br>."""
    lines = _md(text).replace("|", "\\|").splitlines()
    return "<br>".join(line.strip() for line in lines if line.strip())


def _url(url: str) -> str:
    """A link destination: percent-encoded where Markdown would end or split it (spaces, parentheses,
    angle brackets, backslashes, line breaks)."""
    return quote(_CONTROL.sub("", redact(url)).strip(), safe=_URL_SAFE)


def _link(label: str, url: str) -> str:
    """``[label](url)`` for an http(s) URL; any other scheme (``javascript:``, ``data:``) or a relative
    URL from outside is shown as escaped text, not a link."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"{_text(label)}: {_text(url)}"
    return f"[{_text(label)}]({_url(url)})"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bullets(items: Iterable[str], empty: str) -> str:
    lines = [f"- {item}" for item in items]
    return "\n".join(lines) if lines else empty


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _detectors(state: IncidentState) -> list[str]:
    """The anomaly detectors behind the incident's signals, as people name them: a Medic scan by its
    name, another source by itself, each with its service."""
    named = set()
    for r in state.anomalies.values():
        scan = r.signal.series.get(SCAN_LABEL)
        what = f"the anomaly scan {scan}" if scan else f"the anomaly detector {r.signal.source}"
        named.add(f"{what} on {r.signal.service}")
    return sorted(named)


def _marked_whole(state: IncidentState) -> bool:
    """Every signal of the incident was marked a false positive: every alert rule, or (an incident of
    anomalies alone, whose marks name no rule) a mark at all."""
    if not state.false_positives:
        return False
    marked = {r for fp in state.false_positives for r in fp.rules}
    rules = set(state.rules())
    return marked >= rules if rules else True


# ---- sections -------------------------------------------------------------------------------------------


def _status_line(state: IncidentState, now: datetime) -> str:
    if state.status is IncidentStatus.RESOLVED and state.resolved_at is not None:
        if state.merged_into:
            # Not resolved: its alerts went on in the incident it merged into, whose postmortem is the
            # whole incident's (this one only says what happened here until then).
            into = _text(state.merged_into)
            return (
                f"**Merged** into {into} at {fmt_time(state.resolved_at)}, which shares its cause: "
                f"its alerts and history went on there, and {into}'s postmortem is the whole incident's."
            )
        by = f"by {_text(state.resolved_by)}{_reason(state)}" if state.resolved_by else "by Medic"
        return f"**Final**: resolved at {fmt_time(state.resolved_at)} {by}."
    return f"**Draft: the incident is still open** (status {state.status.value}, as of {fmt_time(now)})."


def _reason(state: IncidentState) -> str:
    """The reason given by the person who resolved it (``Resolved by X (slack): <why>.``), as ``: <why>``."""
    for e in reversed(state.timeline):
        if e.kind == TimelineKind.INCIDENT_RESOLVED and e.actor == state.resolved_by:
            said = f"Resolved by {e.actor} ({e.data.get('source', '')})"
            rest = e.message[len(said) :] if e.message.startswith(said) else ""
            return _text(rest.rstrip(".")) if rest.startswith(": ") else ""
    return ""


def _summary(state: IncidentState, m: IncidentMetrics, now: datetime) -> str:
    services = ", ".join(state.services) or "no known service"
    # (the read that wrote it may have left some out to fit one answer: they count)
    alerts = state.alert_count + state.left_out.get("alerts", 0)
    anomalies = len(state.anomalies) + state.left_out.get("anomalies", 0)
    peak = _peak(state)
    at_peak = f", {peak} at its peak" if peak is not None and peak < state.priority else ""
    lines = [
        f"{state.priority} incident (impact {state.impact:.0f}/100{at_peak}, severity {state.severity}) "
        f"on {_text(services)}.",
        f"{_count(alerts, 'alert')} ({state.firing_count} still firing) and "
        f"{_count(anomalies, 'anomaly signal')}"
        + (f"; Alertmanager left {state.truncated_alerts} alerts out." if state.truncated_alerts else "."),
    ]
    if state.root_causes:
        lines.append(f"Most likely root cause: **{_text(state.root_causes[0].service)}**.")
    runs = [f"{_text(t.runbook)} ({t.outcome})" for t in state.remediations.values()]
    lines.append(
        f"Medic ran {_count(len(runs), 'remediation')}: {', '.join(runs)}."
        if runs
        else "Medic ran no remediation."
    )
    ack = first_acknowledgement(state)
    if ack is not None:
        lines.append(
            f"Acknowledged by {_text(ack.by)} {fmt_duration(m.time_to_acknowledge)} after detection."
        )
    else:
        lines.append("Nobody acknowledged it.")
    if state.false_positives:
        who = ", ".join(dict.fromkeys(fp.actor for fp in sorted(state.false_positives, key=lambda f: f.at)))
        if _marked_whole(state):
            lines.append(f"Marked a false positive by {_text(who)}.")
        else:
            rules = ", ".join(sorted({r for fp in state.false_positives for r in fp.rules}))
            lines.append(f"{_text(rules)} marked a false positive by {_text(who)}.")
    if m.time_to_resolve is not None:
        done = f"Merged into {_text(state.merged_into)}" if state.merged_into else "Resolved"
        lines.append(f"{done} {fmt_duration(m.time_to_resolve)} after the first signal.")
    else:
        lines.append(f"Open for {fmt_duration(utc(now) - m.first_signal_at)} since the first signal.")
    if state.absorbed:
        lines.append(f"Absorbed incidents: {_text(', '.join(sorted(state.absorbed)))}.")
    return " ".join(lines)


_SCORED = re.compile(r"Scored (P[1-5]) ")


def _peak(state: IncidentState) -> str | None:
    """The highest priority the incident was scored (its timeline's ``incident.scored`` entries): it is
    rescored as its alerts resolve, so a P1 outage's postmortem said P2 (an SLO team's walk-through)."""
    found = [
        m.group(1)
        for e in state.timeline
        if e.kind == TimelineKind.INCIDENT_SCORED
        if (m := _SCORED.match(e.message))
    ]
    return min(found) if found else None


def _impact(state: IncidentState, m: IncidentMetrics) -> str:
    until = {"verification": "verified mitigation", "quiet": _stopped(state)}.get(
        m.mitigation or "", ("the merge" if state.merged_into else "resolution") if m.resolved_at else "now"
    )
    lines = []
    if state.impact_detail is not None:
        lines.append(f"- Score: **{state.impact:.1f}/100**, priority **{state.priority}**")
    else:
        lines.append("- Score: not scored")
    lines.append(f"- Duration: {fmt_duration(timedelta(minutes=m.impact_minutes))} (first signal to {until})")
    lines.append(
        f"- Estimated cost: {m.estimated_revenue:,.0f} revenue at risk and {m.estimated_users:,.0f} users "
        "affected (business weights per minute times duration, summed over the services: an upper bound)"
        + ("; every signal was marked a false positive, so likely none" if _marked_whole(state) else "")
    )
    rows = []
    for name in state.services:
        c = state.contexts.get(name)
        if c is None or not c.in_catalog:
            rows.append([name, "—", "—", "not in catalog", "—", "—"])
            continue
        b = c.business
        tier = str(c.tier) if c.tier is not None else "—"
        revenue, users = f"{b.revenue_per_minute:,g}", f"{b.users_per_minute:,g}"
        rows.append([name, c.team or "—", tier, b.criticality.value, revenue, users])
    out = "\n".join(lines)
    if rows:
        header = ["Service", "Team", "Tier", "Criticality", "Revenue/min", "Users/min"]
        out += "\n\n" + _table(header, rows)
    if state.impact_detail is not None:
        factors = [[f.name, f"{f.points:.1f}", f.detail] for f in state.impact_detail.factors]
        out += "\n\n" + _table(["Factor", "Points", "Why"], factors)
    return out


def _detection(state: IncidentState, m: IncidentMetrics) -> str:
    firsts: list[tuple[datetime, str]] = [(m.detected_at, "the incident opening")]
    for a in state.alerts.values():
        where = f" on {_text(a.service)}" if a.service else ""
        firsts.append((first_start(a), f"alert **{_text(a.name)}**{where} from {_text(a.source)}"))
    for r in state.anomalies.values():
        s = r.signal
        firsts.append((utc(r.first_start), f"anomaly on {_text(s.service)} from {_text(s.source)}"))
    when, what = min(firsts)
    lines = [
        f"- First signal: {fmt_time(when)}, {what}",
        f"- Detected (incident opened): {fmt_time(m.detected_at)}, {fmt_duration(m.time_to_detect)} "
        "after the first signal",
    ]
    ack = first_acknowledgement(state)
    if ack is not None:
        via = f" via {_text(ack.source)}" if ack.source else ""
        lines.append(
            f"- Acknowledged: {fmt_time(ack.at)} by {_text(ack.by)}{via}, "
            f"{fmt_duration(m.time_to_acknowledge)} after detection (MTTA)"
        )
    else:
        lines.append("- Acknowledged: not acknowledged")
    rows = []
    for a in sorted(state.alerts.values(), key=lambda r: (first_start(r), r.name, r.fingerprint)):
        status = a.status.value + (", flapping" if a.flapping else "")
        first = fmt_time(first_start(a))
        episodes = str(len(a.episode_starts))
        rows.append([a.name, a.service or "—", a.severity, a.source, first, status, episodes])
    for r in sorted(state.anomalies.values(), key=lambda r: (r.first_start, r.key)):
        s = r.signal
        what = f"anomaly: {s.described()}"
        rows.append([what, s.service, s.severity, s.source, fmt_time(r.first_start), "anomaly", "—"])
    out = "\n".join(lines)
    if len(rows) > SIGNALS:
        rows = [*rows[:SIGNALS], [f"… {len(rows) - SIGNALS} more signals", "…", "…", "…", "…", "…", "…"]]
    if rows:
        header = ["Signal", "Service", "Severity", "Source", "First started", "Status", "Episodes"]
        out += "\n\n" + _table(header, rows)
    return out


def _said(e: TimelineEntry, state: IncidentState) -> str:
    """An entry's message, naming the incident it happened in when that is one that merged into this
    one: a cascade's postmortem read "Incident opened." twice, and "Escalation level 1" for two teams,
    with nothing to tell the symptom's history from the cause's."""
    source = e.data.get("from_incident")
    return f"In {source}: {e.message}" if isinstance(source, str) and source != state.id else e.message


_LATE = timedelta(seconds=60)  # an alert that reached Medic this long after it began says when it began


def _since(e: TimelineEntry, state: IncidentState) -> str:
    """`` Firing since <its start>.`` for an alert entry Medic recorded well after the alert began (its
    ``for:``, Alertmanager's group wait, a cause delivered after its symptoms): the table is in the order
    Medic recorded things, and a cascade's cause, firing 7 minutes before its symptom, read as if it came
    after it."""
    record = state.alerts.get(str(e.data.get("fingerprint", "")))
    if e.kind != TimelineKind.ALERT_FIRING or record is None:
        return ""
    began = [utc(t) for t in {record.starts_at, *record.episode_starts} if utc(t) <= utc(e.at)]
    if not began or utc(e.at) - max(began) < _LATE:
        return ""
    return f" Firing since {fmt_time(max(began))}."


def _timeline(state: IncidentState) -> str:
    entries = _folded(ordered_timeline(state))
    rows = [[fmt_time(e.at), e.kind, e.actor, _said(e, state) + _since(e, state)] for e in entries]
    if len(rows) > 2 * KEEP:
        omitted = ["…", "…", "…", f"… {len(rows) - 2 * KEEP} entries omitted"]
        rows = [*rows[:KEEP], omitted, *rows[-KEEP:]]
    if not rows:
        return "No entries."
    note = "In the order Medic recorded them; an alert that reached it later than it began says since when."
    return _table(["Time (UTC)", "Kind", "Actor", "Message"], rows) + "\n\n" + note


def _folded(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """The timeline with each anomaly's run of ``anomaly.extended`` entries as its last one, saying how
    many it stands for: a shift held for hours (or a forecast told again) is one at every scan's run,
    72 in six hours, and crowded the rest out of the rows kept."""
    runs: dict[object, list[TimelineEntry]] = {}
    for e in entries:
        if e.kind == TimelineKind.ANOMALY_EXTENDED:
            runs.setdefault(e.data.get("key"), []).append(e)
    out = []
    for e in entries:
        if e.kind != TimelineKind.ANOMALY_EXTENDED:
            out.append(e)
            continue
        run = runs[e.data.get("key")]
        if e is not run[-1]:
            continue
        said = f"{e.message} (the last of {len(run)} such entries since {fmt_time(run[0].at)})"
        out.append(e.model_copy(update={"message": said}) if len(run) > 1 else e)
    return out


def _root_causes(state: IncidentState) -> str:
    lines = []
    for c in state.root_causes[:10]:
        lines.append(f"{c.rank}. **{_text(c.service)}**")
        lines += [f"   - {_text(reason)}" for reason in c.reasons]
    if len(state.root_causes) > 10:
        lines.append(f"\n… and {len(state.root_causes) - 10} more candidates.")
    return "\n".join(lines) or "No candidates: no service was identified."


def _entry(e: TimelineEntry, state: IncidentState) -> str:
    return f"{fmt_time(e.at)} `{e.kind}`: {_text(_said(e, state))}"


def _medic_actions(state: IncidentState, machines: frozenset[str]) -> str:
    entries = ordered_timeline(state)
    lines = []
    for rid, track in state.remediations.items():
        verdict = OUTCOME_TEXT.get(track.outcome, track.outcome)
        lines.append(f"- Runbook **{_text(track.runbook)}** ({_text(rid)}): {_text(verdict)}")
        lines += [f"  - {_entry(e, state)}" for e in entries if e.data.get("remediation") == rid]
    for e in entries:
        if lane_of(e, machines) == "Remediation" and e.data.get("remediation") not in state.remediations:
            lines.append(f"- {_entry(e, state)}")
    out = "\n".join(lines) or "Medic took no remediation step."
    if state.actions:
        rows = [
            [_action_time(a.get("at")), *(str(a.get(k, "")) for k in _ACTION_FIELDS)] for a in state.actions
        ]
        header = ["Time (UTC)", "Action", "Target", "Status", "Risk", "Description"]
        out += "\n\nActions on the cluster:\n\n" + _table(header, rows)
    return out + "\n\n" + _notifications(entries, state)


def _notification_kind(e: TimelineEntry) -> str:
    if "jira" in e.data:
        return "ticket"
    if "channel" in e.data:  # a card posted to a chat (entries from before name no chat: Slack's)
        return f"{str(e.data.get('chat') or 'slack').capitalize()} post"
    if "routing_key_name" in e.data or "action" in e.data:
        return "page" if e.data.get("action", "trigger") == "trigger" else "PagerDuty update"
    return "other notification"


def _notifications(entries: list[TimelineEntry], state: IncidentState) -> str:
    """Every notification the incident sent (posts, pages, tickets), not only the escalations, so the
    count above the list is the list's own length; escalations and failures are listed in between."""
    sent = [e for e in entries if e.kind == TimelineKind.NOTIFICATION_SENT]
    kinds: dict[str, int] = {}
    for e in sent:
        kinds[_notification_kind(e)] = kinds.get(_notification_kind(e), 0) + 1
    parts = ", ".join(_count(n, kind) for kind, n in sorted(kinds.items()))
    out = f"Notifications: {_count(len(sent), 'notification')} sent" + (f" ({parts})." if parts else ".")
    notes = [
        _entry(e, state)
        for e in entries
        if e.kind
        in (TimelineKind.NOTIFICATION_SENT, TimelineKind.ESCALATION_LEVEL, TimelineKind.NOTIFICATION_FAILED)
    ]
    if len(notes) > 2 * KEEP:
        notes = [*notes[:KEEP], f"… {len(notes) - 2 * KEEP} more", *notes[-KEEP:]]
    return out + ("\n\n" + _bullets(notes, "") if notes else "")


def _action_time(value: object) -> str:
    if isinstance(value, datetime):
        return fmt_time(value)
    try:
        return fmt_time(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value or "—")


def _human_actions(state: IncidentState, machines: frozenset[str]) -> str:
    rows = [
        [fmt_time(e.at), e.actor, e.kind, _said(e, state)]
        for e in ordered_timeline(state)
        if lane_of(e, machines) == "People"
    ]
    out = _table(["Time (UTC)", "Who", "Kind", "Message"], rows) if rows else "Nobody acted on it."
    silences = []
    for s in sorted(state.silences, key=lambda s: (s.starts_at, s.id)):
        matchers = " ".join(", ".join(str(m) for m in s.matchers).replace("`", "'").split())
        comment = f": {s.comment}" if s.comment else ""
        silences.append(
            f"Silence {_text(s.id)} by {_text(s.created_by)}, `{matchers}`, "
            f"{fmt_time(s.starts_at)} to {fmt_time(s.ends_at)}{_text(comment)}"
        )
    if silences:
        out += "\n\nSilences:\n\n" + _bullets(silences, "")
    return out


def _stopped(state: IncidentState) -> str:
    """What stopped when an incident went quiet: its alerts, or (anomalies alone) its anomalies."""
    return "all alerts stopped firing" if state.alerts else "its anomalies stopped"


def _metrics(state: IncidentState, m: IncidentMetrics) -> str:
    def when(value: datetime | None) -> str:
        return fmt_time(value) if value else "—"

    how = {"verification": " (verification passed)", "quiet": f" ({_stopped(state).removeprefix('all ')})"}
    rows = [
        ["First signal", when(m.first_signal_at), "—"],
        ["Detected", when(m.detected_at), f"{fmt_duration(m.time_to_detect)} (time to detect)"],
        ["Acknowledged", when(m.acknowledged_at), f"{fmt_duration(m.time_to_acknowledge)} (MTTA)"],
        [
            "Mitigated" + how.get(m.mitigation or "", ""),
            when(m.mitigated_at),
            f"{fmt_duration(m.time_to_mitigate)} (MTTM)",
        ],
        ["Resolved", when(m.resolved_at), f"{fmt_duration(m.time_to_resolve)} (MTTR)"],
    ]
    if state.merged_into:  # not resolved: merged, and went on in the other incident
        rows[-1] = [
            f"Merged into {_text(state.merged_into)}",
            when(m.resolved_at),
            f"{fmt_duration(m.time_to_resolve)} (not resolved here)",
        ]
    note = "MTTA counts from detection; MTTM and MTTR from the first signal."
    return _table(["Milestone", "Time (UTC)", "Duration"], rows) + "\n\n" + note


def _false_positives(state: IncidentState) -> str:
    items = []
    for fp in sorted(state.false_positives, key=lambda f: (f.at, f.actor)):
        note = f": {fp.note}" if fp.note else ""
        where = f" (in {fp.incident_id})" if fp.incident_id != state.id else ""
        rules = ", ".join(sorted(fp.rules)) or (
            "all its alerts" if state.alerts else "its signals (" + "; ".join(_detectors(state)) + ")"
        )
        what = f"{fp.actor} marked {rules} as a false positive{where}{note}"
        items.append(f"{fmt_time(fp.at)} {_text(what)}")
    return _bullets(items, "Nobody marked it a false positive.")


# What to follow up when the timeline has one of these ({name}: the runbook, {message}: the entry's).
_FOLLOW_UPS: dict[str, str] = {
    TimelineKind.VERIFICATION_FAILED: "Review the runbook {name}: a step failed its verification",
    TimelineKind.REMEDIATION_FAILED: "Review the runbook {name}: the remediation failed ({message})",
    TimelineKind.ACTION_FAILED: "Review the runbook {name}: a step could not act ({message})",
    TimelineKind.ROLLBACK_FAILED: "Check what {name} changed: a rollback failed ({message})",
    TimelineKind.GUARDRAIL_BLOCKED: "Review the guardrail that blocked {name}: {message}",
    TimelineKind.APPROVAL_TIMED_OUT: "Review who approves {name}: the approval timed out",
    TimelineKind.REMEDIATION_LOST: "Check the remediation of {name}: it never reported its outcome",
    TimelineKind.NOTIFICATION_FAILED: "Fix notification delivery: {message}",
}


def _refused(who: str, name: str, *, may: bool) -> list[str]:
    """The follow-ups of a step refused because ``who`` (a GitOps reconciler, an HPA, an operator) would
    (or ``may``) have undone it."""
    undone = f"a step of {name} did not act, since {who} {'may' if may else 'would'} have undone it"
    if who.startswith(("Argo CD", "Flux")):
        return [
            f"Make the fix durable where {who} takes it from (Git): {undone}",
            f"If {who} was suspended (or its self-heal turned off) to act by hand, resume it once Git holds "
            "the fix",
        ]
    if who.startswith("HorizontalPodAutoscaler"):
        return [f"Scale through {who}: make the runbook's step an hpa: step (its minReplicas); {undone}"]
    return [f"Change what {who} controls through it (an operator's resource, KEDA's ScaledObject): {undone}"]


def _follow_ups(state: IncidentState) -> str:
    entries = ordered_timeline(state)
    items: list[str] = []
    root = state.root_causes[0].service if state.root_causes else None
    items.append(
        f"Confirm the root cause (Medic's top candidate: {_text(root)})" if root else "Confirm the root cause"
    )
    # A remediation that failed because its verification did not hold says so once ("a step failed its
    # verification"), not again as "the remediation failed (... did not fix it ...)".
    unverified = {e.data.get("remediation") for e in entries if e.kind == TimelineKind.VERIFICATION_FAILED}
    for e in entries:
        follow_up = _FOLLOW_UPS.get(e.kind)
        if e.kind == TimelineKind.REMEDIATION_FAILED and e.data.get("remediation") in unverified:
            continue
        if follow_up is not None:
            track = state.remediations.get(str(e.data.get("remediation", "")))
            name = _text(track.runbook) if track else "the runbook"
            reconciler = e.data.get("reconciler") if e.kind == TimelineKind.GUARDRAIL_BLOCKED else None
            if reconciler:  # refused: another controller would have undone the fix
                items += _refused(_text(str(reconciler)), name, may="may put back" in e.message)
                continue
            items.append(follow_up.format(name=name, message=_text(e.message)))
    for rule in sorted({r for fp in state.false_positives for r in fp.rules}):
        items.append(f"Review the alert rule {_text(rule)}: it was marked a false positive")
    if any(not fp.rules for fp in state.false_positives) and not state.alerts:
        # an incident of anomalies alone: the mark names no alert rule, the detector is what to review
        items += [f"Review {_text(d)}: it was marked a false positive" for d in _detectors(state)]
    flapped = {e.data.get("fingerprint") for e in entries if e.kind == TimelineKind.ALERT_FLAPPING}
    for a in sorted(state.alerts.values(), key=lambda r: (r.name, r.fingerprint)):
        if a.flapping or a.fingerprint in flapped:
            items.append(f"Tune `for` or hysteresis of the alert rule {_text(a.name)}: it flapped")
    items += _unanswered(state, entries)
    unique = list(dict.fromkeys(items))
    return "\n".join(f"- [ ] {i}" for i in unique)


def _unanswered(state: IncidentState, entries: list[TimelineEntry]) -> list[str]:
    """An escalation beyond the first page before that incident's page was acknowledged: each chain (the
    incident's own, and those of incidents that merged into it) against its own acknowledgement. Level 1
    is the first page (often at minute 0): only a level beyond it means nobody answered in time."""

    def part(e: TimelineEntry) -> str | None:
        source = e.data.get("from_incident")
        return source if isinstance(source, str) and source != state.id else None

    acked: dict[str | None, datetime] = {}
    if state.acknowledged_at is not None:
        acked[None] = utc(state.acknowledged_at)
    for e in entries:  # in time order: the first of each part's
        if e.kind == TimelineKind.INCIDENT_ACKNOWLEDGED:
            acked[part(e)] = min(acked.get(part(e), utc(e.at)), utc(e.at))
    late = {
        part(e)
        for e in entries
        if e.kind == TimelineKind.ESCALATION_LEVEL
        and _level(e) > 1
        and (part(e) not in acked or utc(e.at) < acked[part(e)])
    }
    return [
        f"Review the on-call set-up: {_text(who) if who else 'the incident'} escalated before anyone "
        "acknowledged its page"
        for who in sorted(late, key=lambda w: (w is not None, w or ""))
    ]


def _level(e: TimelineEntry) -> int:
    try:
        return int(str(e.data.get("level", 1)))
    except ValueError:
        return 1


def _links(state: IncidentState, links: dict[str, str] | None) -> str:
    items = [_link(name, url) for name, url in sorted((links or {}).items())]
    sources = {(a.name, a.generator_url) for a in state.alerts.values() if a.generator_url}
    items += [_link(f"Alert rule {name}", url) for name, url in sorted(sources)]
    silences = sorted((s.id, s.url) for s in state.silences if s.url)
    items += [_link(f"Silence {sid}", url) for sid, url in silences if url]
    return _bullets(items, "No links.")


def render_postmortem(
    state: IncidentState,
    *,
    now: datetime,
    template: str | None = None,
    chart: str | None = "timeline.svg",
    links: dict[str, str] | None = None,
) -> str:
    """The postmortem as Markdown: a draft while the incident is open, final once it resolved. People who
    acted through Slack are named as their requests named them (:func:`medic.story.named`)."""
    state = named(state)
    m = incident_metrics(state, now=now)
    machines = machine_actors(state)
    sections = {
        "title": f"Postmortem: {_text(state.title)} ({_text(state.id)})",
        "status_line": _status_line(state, now),
        "summary": _summary(state, m, now),
        "impact": _impact(state, m),
        "detection": _detection(state, m),
        "timeline": _timeline(state),
        "root_causes": _root_causes(state),
        "medic_actions": _medic_actions(state, machines),
        "human_actions": _human_actions(state, machines),
        "metrics": _metrics(state, m),
        "false_positives": _false_positives(state),
        "follow_ups": _follow_ups(state),
        "chart": f"![Timeline]({_url(chart)})" if chart else "",
        "links": _links(state, links),
    }
    text = Template(DEFAULT_TEMPLATE if template is None else template).safe_substitute(sections)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
