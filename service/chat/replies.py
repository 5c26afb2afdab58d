"""What `/medic` answers, as Slack messages: short, readable, with the incident's links."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from medic.blockkit import MESSAGE_TEXT_CHARS, TEXT_CHARS, fit_blocks, fit_markup
from medic.cards import STATUS_EMOJI
from medic.limits import bounded_join
from medic.mrkdwn import Markup, join, link, mrkdwn
from medic.names import SLACK_USER_ID
from service.incidents import IncidentDetail, IncidentSummary

__all__ = ["Reply", "render_list", "render_show"]


class Reply(BaseModel):
    """One answer to a person: ephemeral (only they see it) unless ``public``."""

    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    public: bool = False

    # Every answer within Slack's limits, whoever built it (medic/blockkit.py): a block over one makes
    # Slack refuse the whole answer.
    @field_validator("text")
    @classmethod
    def _fit_text(cls, text: str) -> str:
        return fit_markup(Markup(text), MESSAGE_TEXT_CHARS)

    @field_validator("blocks")
    @classmethod
    def _fit_blocks(cls, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return fit_blocks(blocks)

    def slack(self, *, replace_original: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_type": "in_channel" if self.public else "ephemeral",
            "text": self.text,
        }
        if self.blocks:
            body["blocks"] = self.blocks
        if replace_original is not None:
            body["replace_original"] = replace_original
        return body


def _section(text: Markup) -> dict[str, Any]:
    """Only :class:`Markup`: every value from outside went through ``mrkdwn()`` (medic/mrkdwn.py)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


_SERVICES_CHARS = 1000  # of an incident's services in its answer (the first ones, then how many more)


def _clock(at: datetime, now: datetime) -> str:
    """A time of the timeline: the hour on the day of ``now`` (UTC), with the date on any other day (the
    last entries of an incident of yesterday read as this morning's)."""
    at = at.astimezone(UTC)
    return f"{at:%H:%M:%S}" if at.date() == now.astimezone(UTC).date() else f"{at:%Y-%m-%d %H:%M:%S}"


def _person(actor: str) -> Markup:
    """A Slack user id as a mention (Slack shows the person's name); anything else as text."""
    if SLACK_USER_ID.fullmatch(actor):
        return Markup(f"<@{actor}>")
    return mrkdwn("{who}", who=actor)


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "?"
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m ago"
    hours = minutes // 60
    return f"{hours}h {minutes % 60:02d}m ago" if hours < 48 else f"{hours // 24}d ago"


def render_list(items: list[IncidentSummary], *, heading: str, now: datetime | None = None) -> Reply:
    now = now or datetime.now(UTC)
    if not items:
        return Reply(text=f"{heading}: none. :tada:")
    lines = [
        mrkdwn(
            "{emoji} *{priority}* `{id}` {title} "
            "({status}, impact {impact:.0f}, {alerts} alerts, opened {ago})",
            emoji=STATUS_EMOJI.get(i.status, ""),
            priority=i.priority,
            id=i.id,
            title=i.title,
            status=i.status,
            impact=i.impact,
            alerts=i.alert_count,
            ago=_ago(i.opened_at, now),
        )
        for i in items
    ]
    text = Markup(mrkdwn("*{heading}* ({n})\n", heading=heading, n=len(items)) + "\n".join(lines))
    return Reply(text=text, blocks=[_section(text)])


def render_show(detail: IncidentDetail, *, ui_url: str | None, now: datetime | None = None) -> Reply:
    now = now or datetime.now(UTC)
    d = detail
    merged = mrkdwn(", merged into `{id}`", id=d.merged_into) if d.merged_into else ""
    head = mrkdwn(
        "{emoji} *{priority} · {title}*\n`{id}` · {status}{merged} · impact {impact:.0f}/100 · "
        "services {services} · opened {ago}",
        emoji=STATUS_EMOJI.get(d.status, ""),
        priority=d.priority,
        title=d.title,
        id=d.id,
        status=d.status,
        merged=merged,
        impact=d.impact,
        services=bounded_join(d.services, budget=_SERVICES_CHARS) or "unknown",
        ago=_ago(d.opened_at, now),
    )
    if d.acknowledged_at:
        head = Markup(head + mrkdwn(" · acknowledged {ago}", ago=_ago(d.acknowledged_at, now)))
    if d.resolved_at:  # a resolved incident said when it opened and nothing of its end
        head = Markup(head + mrkdwn(" · resolved {ago}", ago=_ago(d.resolved_at, now)))
    parts = [head]
    if d.partial:
        parts.append(mrkdwn(":warning: *Only its summary:* {why}.", why=d.partial))
    if d.impact_explanation:
        why = d.impact_explanation.explain()
        # the explanation names the priority itself ("Why P1: P1 ..." said it twice)
        said = "*Why:* {why}" if why.startswith(d.priority) else "*Why {priority}:* {why}"
        parts.append(mrkdwn(said, priority=d.priority, why=why))
    if d.root_causes:
        top = d.root_causes[0]
        reasons = "; ".join(top.reasons[:2])
        parts.append(mrkdwn("*Likely root cause:* `{cause}` ({reasons})", cause=top.service, reasons=reasons))
    firing = [a for a in d.alerts if a.status.value == "firing"]
    alerts = [
        mrkdwn(
            "\n• `{name}` on {service} ({severity})",
            name=a.name,
            service=a.service or "unknown",
            severity=a.severity,
        )
        for a in firing[:5]
    ]
    parts.append(
        Markup(
            mrkdwn("*Alerts:* {n} firing of {total}", n=len(firing), total=d.alert_count) + join("", alerts)
        )
    )
    if d.remediations:
        runs = [
            mrkdwn("{runbook} ({outcome}, `{id}`)", runbook=t.runbook, outcome=t.outcome, id=rid)
            for rid, t in d.remediations.items()
        ]
        parts.append(Markup("*Remediations:* " + join("; ", runs)))
    if d.silences:
        lines = []
        for s in d.silences:
            state = f"active until {s.ends_at:%Y-%m-%d %H:%M}Z" if s.active(now) else "expired"
            matchers = " ".join(str(m) for m in s.matchers)
            opened = Markup(" " + link(s.url, "open")) if s.url else ""
            lines.append(
                mrkdwn(
                    "• `{m}` by {who}, {state}{link}", m=matchers, who=s.created_by, state=state, link=opened
                )
            )
        parts.append(Markup("*Silences:*\n" + join("\n", lines)))
    if d.false_positives:
        # a mark that names no rule: all its signals (an incident of anomalies has no alert rule)
        marks = [
            Markup(mrkdwn("{rules} by ", rules=", ".join(f.rules) or "all its signals") + _person(f.actor))
            for f in d.false_positives
        ]
        parts.append(Markup("*Marked false positive:* " + join("; ", marks)))
    if d.timeline:
        recent = [
            mrkdwn("• {at}Z {message}", at=_clock(e.at, now), message=e.message) for e in d.timeline[-5:]
        ]
        parts.append(Markup("*Latest:*\n" + join("\n", recent)))
    if ui_url:
        parts.append(link(ui_url, "Full timeline in Temporal"))
    blocks = [_section(p) for p in parts]
    return Reply(text=fit_markup(join("\n", parts), TEXT_CHARS), blocks=blocks)
