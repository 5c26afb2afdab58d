"""What `/medic` answers, as Slack messages: short, readable, with the incident's links."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from medic.cards import STATUS_EMOJI
from service.incidents import IncidentDetail, IncidentSummary

__all__ = ["Reply", "render_list", "render_show"]


class Reply(BaseModel):
    """One answer to a person: ephemeral (only they see it) unless ``public``."""

    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    public: bool = False

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


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


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
        f"{STATUS_EMOJI.get(i.status, '')} *{i.priority}* `{i.id}` {i.title} "
        f"({i.status}, impact {i.impact:.0f}, {i.alert_count} alerts, opened {_ago(i.opened_at, now)})"
        for i in items
    ]
    text = f"*{heading}* ({len(items)})\n" + "\n".join(lines)
    return Reply(text=text, blocks=[_section(text)])


def render_show(detail: IncidentDetail, *, ui_url: str | None, now: datetime | None = None) -> Reply:
    now = now or datetime.now(UTC)
    d = detail
    status = d.status + (f", merged into `{d.merged_into}`" if d.merged_into else "")
    head = (
        f"{STATUS_EMOJI.get(d.status, '')} *{d.priority} · {d.title}*\n"
        f"`{d.id}` · {status} · impact {d.impact:.0f}/100 · services {', '.join(d.services) or 'unknown'} · "
        f"opened {_ago(d.opened_at, now)}"
    )
    if d.acknowledged_at:
        head += f" · acknowledged {_ago(d.acknowledged_at, now)}"
    parts = [head]
    if d.impact_explanation:
        parts.append(f"*Why {d.priority}:* {d.impact_explanation.explain()}")
    if d.root_causes:
        top = d.root_causes[0]
        parts.append(f"*Likely root cause:* `{top.service}` ({'; '.join(top.reasons[:2])})")
    firing = [a for a in d.alerts if a.status.value == "firing"]
    parts.append(
        f"*Alerts:* {len(firing)} firing of {d.alert_count}"
        + "".join(f"\n• `{a.name}` on {a.service or 'unknown'} ({a.severity})" for a in firing[:5])
    )
    if d.remediations:
        parts.append(
            "*Remediations:* "
            + "; ".join(f"{t.runbook} ({t.outcome}, `{rid}`)" for rid, t in d.remediations.items())
        )
    if d.silences:
        lines = []
        for s in d.silences:
            state = f"active until {s.ends_at:%Y-%m-%d %H:%M}Z" if s.active(now) else "expired"
            matchers = " ".join(str(m) for m in s.matchers)
            link = f" <{s.url}|open>" if s.url else ""
            lines.append(f"• `{matchers}` by {s.created_by}, {state}{link}")
        parts.append("*Silences:*\n" + "\n".join(lines))
    if d.false_positives:
        parts.append(
            "*Marked false positive:* "
            + "; ".join(f"{', '.join(f.rules)} by {f.actor}" for f in d.false_positives)
        )
    if d.timeline:
        recent = d.timeline[-5:]
        parts.append("*Latest:*\n" + "\n".join(f"• {e.at:%H:%M:%S}Z {e.message}" for e in recent))
    if ui_url:
        parts.append(f"<{ui_url}|Full timeline in Temporal>")
    blocks = [_section(p) for p in parts]
    return Reply(text="\n".join(parts)[:3000], blocks=blocks)
