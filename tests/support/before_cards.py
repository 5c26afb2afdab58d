"""What an incident's notifications looked like in states and plans written before Slack was a chat like
the others (release r5, before the ``slack-as-card-chat`` patch): Slack's messages apart (``slack``,
``rendered_revision``, ``thread_cursor``), Slack's channels apart in plans (``slack_channels``,
``fallback_slack_channel``), ``chat`` holding Teams only. Field for field as r5's models dumped them."""

from typing import Any

__all__ = ["R5_NOTIFICATION_FIELDS", "R5_PLAN_FIELDS", "notifications_as_r5"]

R5_NOTIFICATION_FIELDS = frozenset(
    {
        "plan",
        "planned_priority",
        "slack",
        "rendered_revision",
        "thread_cursor",
        "jira_cursor",
        "pages",
        "change_cursor",
        "jira_key",
        "jira_closed",
        "postmortem",
        "escalation_done",
        "dead_channels",
        "escalated_channels",
        "finished",
        "escalate_now",
        "chat",
        "note_cursor",
        "jira_link_cursor",
        "jira_linked",
    }
)
R5_PLAN_FIELDS = frozenset(
    {
        "rule",
        "slack_channels",
        "pagerduty",
        "jira_project",
        "jira_issue_type",
        "escalation",
        "hold_until",
        "fallback_slack_channel",
        "chat",
        "pager_notes",
        "demoted",
    }
)


def _slack(targets: list[dict[str, Any]]) -> list[str]:
    return [t["channel"] for t in targets if t["kind"] == "slack"]


def _others(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in targets if t["kind"] != "slack"]


def _plan_as_r5(plan: dict[str, Any]) -> dict[str, Any]:
    fallback = plan["fallback"]
    out = {k: v for k, v in plan.items() if k in R5_PLAN_FIELDS}
    out |= {
        "slack_channels": _slack(plan["chat"]),
        "fallback_slack_channel": fallback["channel"] if fallback else "#incidents",
        "chat": _others(plan["chat"]),
        "escalation": [
            {
                "after_seconds": level["after_seconds"],
                "routing_key_names": level["routing_key_names"],
                "slack_channels": _slack(level["chat"]),
                "note": level["note"],
            }
            for level in plan["escalation"]
        ],
    }
    return out


def notifications_as_r5(n: dict[str, Any]) -> dict[str, Any]:
    """Today's ``NotificationState`` (dumped as JSON) written the way r5 wrote it."""
    slack = [p for p in n["chat"].values() if p["target"]["kind"] == "slack"]
    out = {k: v for k, v in n.items() if k in R5_NOTIFICATION_FIELDS}
    out |= {
        "plan": _plan_as_r5(n["plan"]) if n["plan"] else None,
        "slack": {
            p["target"]["channel"]: {"channel": p["ref"]["channel"], "ts": p["ref"]["id"]} for p in slack
        },
        "rendered_revision": {p["target"]["channel"]: p["shown"] for p in slack},
        "thread_cursor": slack[0]["cursor"] if slack else 0,
        "dead_channels": [c.removeprefix("slack:") for c in n["dead_channels"]],
        "escalated_channels": _slack(n["escalated"]),
        "chat": {
            key: {"target": p["target"], "cursor": p["cursor"]}
            for key, p in n["chat"].items()
            if p["target"]["kind"] != "slack"
        },
    }
    assert set(out) == R5_NOTIFICATION_FIELDS
    return out
