"""Guardrails: every reason not to act, decided in one place.

Facts that live outside the workflow (the kill switch, what was done to the target lately) are
gathered by an activity and recorded, then judged here, purely, so the same facts always give
the same verdict and every block says why.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from medic.vocab import Risk

__all__ = ["GuardrailFacts", "GuardrailSettings", "Verdict", "evaluate", "may_approve"]

_RISK_ORDER: dict[str, int] = {risk: rank for rank, risk in enumerate(Risk)}  # low < medium < high


class GuardrailSettings(BaseModel):
    mode: Literal["dry-run", "approve", "auto"] = "dry-run"
    namespaces: list[str] = Field(default_factory=list, description="allowed namespaces; empty = any")
    max_actions_per_service_per_hour: int = Field(default=3, ge=0)
    approval_risk: Risk = Field(
        default=Risk.HIGH, description="steps at or above this risk need a human (in auto mode)"
    )
    approval_impact: float = Field(
        default=80.0, ge=0, le=100, description="incidents at or above need a human"
    )
    approval_timeout_seconds: int = Field(default=900, ge=10)
    approvers: dict[str, list[str]] = Field(
        default_factory=dict, description="risk -> Slack user ids allowed to approve it; none listed = anyone"
    )


class GuardrailFacts(BaseModel):
    kill_switch: bool = False
    kill_switch_by: str | None = None
    last_action_on_target_at: datetime | None = None
    actions_on_service_last_hour: int = 0
    actions_scope: str = Field(
        default="on this service", description="the budget counted: budget_scope() of remediations/budget.py"
    )
    actions_held_by: list[str] = Field(
        default_factory=list, description="the remediations whose actions (or holds) make up the count"
    )


class Verdict(BaseModel):
    outcome: Literal["run", "dry_run", "needs_approval", "blocked"]
    reasons: list[str]

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def at_or_above(risk: str, bar: str) -> bool:
    """Whether a step's risk reaches the operator's bar (MEDIC_REMEDIATION_APPROVAL_RISK)."""
    return _RISK_ORDER[risk] >= _RISK_ORDER[bar]


def evaluate(
    settings: GuardrailSettings,
    facts: GuardrailFacts,
    *,
    risk: str,
    runbook_approval: str,
    impact: float,
    namespace: str,
    cooldown: timedelta,
    now: datetime,
    alerts_firing: bool,
) -> Verdict:
    """Blocks first (any one stops the action), then whether a human must approve."""
    if facts.kill_switch:
        return Verdict(
            outcome="blocked",
            reasons=[f"the kill switch is on (set by {facts.kill_switch_by or 'an operator'})"],
        )
    if not alerts_firing:
        return Verdict(
            outcome="blocked", reasons=["the alerts that called for it have resolved: nothing to fix"]
        )
    if settings.namespaces and namespace not in settings.namespaces:
        return Verdict(
            outcome="blocked", reasons=[f"namespace {namespace!r} is not in MEDIC_REMEDIATION_NAMESPACES"]
        )
    if facts.last_action_on_target_at is not None and now - facts.last_action_on_target_at < cooldown:
        until = facts.last_action_on_target_at + cooldown
        return Verdict(
            outcome="blocked",
            reasons=[
                f"the target is cooling down until {until:%H:%M:%S}Z "
                f"(the last remediation that acted on it ended {facts.last_action_on_target_at:%H:%M:%S}Z)"
            ],
        )
    if facts.actions_on_service_last_hour >= settings.max_actions_per_service_per_hour:
        held = f": {', '.join(facts.actions_held_by)}" if facts.actions_held_by else ""
        return Verdict(
            outcome="blocked",
            reasons=[
                f"{facts.actions_on_service_last_hour} actions {facts.actions_scope} in "
                f"the last hour (limit {settings.max_actions_per_service_per_hour}){held}"
            ],
        )
    if settings.mode == "dry-run":
        return Verdict(outcome="dry_run", reasons=["MEDIC_REMEDIATION_MODE is dry-run"])
    reasons = []
    if settings.mode == "approve":
        reasons.append("MEDIC_REMEDIATION_MODE is approve")
    if runbook_approval == "always":
        reasons.append("the runbook asks for approval of every step")
    if runbook_approval == "high-risk" and at_or_above(risk, settings.approval_risk):
        reasons.append(f"the step is {risk} risk")
    if impact >= settings.approval_impact:
        reasons.append(f"the incident's impact {impact:.0f} is at or above {settings.approval_impact:.0f}")
    if reasons:
        return Verdict(outcome="needs_approval", reasons=reasons)
    return Verdict(outcome="run", reasons=["all guardrails pass"])


def may_approve(settings: GuardrailSettings, *, risk: str, actor: str, groups: Iterable[str] = ()) -> bool:
    """Whether ``actor`` may approve a ``risk`` step: listed for it or a higher risk (as a user id or
    through one of their Slack user ``groups``), or nobody is listed. Named groups of the access policy
    are expanded to user ids before they reach here."""
    allowed = {
        user
        for level, users in settings.approvers.items()
        if _RISK_ORDER.get(level, 0) >= _RISK_ORDER[risk]
        for user in users
    }
    return not settings.approvers or "*" in allowed or actor in allowed or not allowed.isdisjoint(groups)
