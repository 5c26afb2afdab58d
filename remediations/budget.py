"""The hourly action budget: "at most N actions per service per hour", kept as a ledger of holds.

A remediation step that is about to act (or about to ask a human to let it act) first *reserves* a hold
in its service's ledger; the hold is granted only while fewer than N other holds are younger than an
hour. The hold then is the action: it stays for an hour after it was last renewed (the step renews it
again just before acting, so it counts from the action), and it is *released* when the step ends without
acting (denied, blocked, approval timed out, cancelled, the target changed meanwhile). A remediation that
vanishes holding one (terminated) leaves it to expire with the hour: the budget fails closed.

The ledger is pure; one ``ActionBudgetWorkflow`` per budget key keeps it (workflows/budget.py), and its
updates, run one at a time, are what make reserving atomic across incidents and workers.
"""

import hashlib
import re
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

__all__ = [
    "WINDOW",
    "BudgetLedger",
    "BudgetReply",
    "BudgetRequest",
    "Hold",
    "budget_key",
    "budget_scope",
    "budget_workflow_id",
]

WINDOW = timedelta(hours=1)
_NAMED = 5  # holders named in a refusal; the rest are counted


def budget_key(service: str | None, namespace: str, cluster: str = "") -> str:
    """The budget a target's actions count against: its service's, or, for a target no catalog service
    owns (a node incident's pod, an unowned workload), its namespace's; in ``cluster`` (the plan's
    MEDIC_CLUSTER, where set): each cluster's Medic has its own, in a Temporal namespace they share."""
    key = f"service:{service}" if service else f"namespace:{namespace}"
    return f"{key}@{cluster}" if cluster else key


def budget_scope(key: str) -> str:
    """How a refusal names the budget: "on this service" or "in namespace shop (no service)"."""
    kind, _, name = key.partition("@")[0].partition(":")
    return "on this service" if kind == "service" else f"in namespace {name} (no service)"


def budget_workflow_id(key: str) -> str:
    """The ledger's workflow id: readable, bounded, and distinct per key (a digest of the whole key)."""
    readable = re.sub(r"[^a-z0-9-]+", "-", key.lower())[:80]
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"medic-budget-{readable}-{digest}"


class BudgetRequest(BaseModel):
    key: str = Field(description="budget_key(): service:<name> or namespace:<name>")
    holder: str = Field(description="one step of one remediation run: <workflow id>/<run id>/<step>")
    label: str = Field(default="", description="how a refusal names this holder")
    limit: int = Field(default=0, ge=0, description="MEDIC_REMEDIATION_MAX_PER_HOUR")


class BudgetReply(BaseModel):
    granted: bool
    count: int = Field(description="holds of others within the last hour")
    holders: list[str] = Field(default_factory=list, description="the others' labels, newest first")

    def named(self) -> list[str]:
        more = len(self.holders) - _NAMED
        return self.holders[:_NAMED] + ([f"{more} more"] if more > 0 else [])


class Hold(BaseModel):
    holder: str
    label: str
    at: datetime = Field(description="when it was taken or last renewed: it counts for an hour from then")


class BudgetLedger(BaseModel):
    holds: list[Hold] = Field(default_factory=list)

    def pruned(self, now: datetime) -> "BudgetLedger":
        return BudgetLedger(holds=[h for h in self.holds if now - h.at < WINDOW])

    def expires_in(self, now: datetime) -> timedelta:
        """Until the last hold is an hour old (zero when there is none)."""
        return max((h.at + WINDOW - now for h in self.holds), default=timedelta(0))

    def reserve(self, request: BudgetRequest, now: datetime) -> BudgetReply:
        """Grant (or renew) ``request.holder``'s hold while fewer than ``limit`` others are held; a
        holder asking again (a retried activity, the check just before acting) is renewed, never
        counted twice."""
        self.holds = self.pruned(now).holds
        others = [h for h in self.holds if h.holder != request.holder]
        labels = [h.label or h.holder for h in sorted(others, key=lambda h: h.at, reverse=True)]
        granted = len(others) < request.limit
        if granted:
            self.holds = [*others, Hold(holder=request.holder, label=request.label, at=now)]
        else:
            self.holds = others  # a holder refused holds nothing (its expired hold, if any, is gone)
        return BudgetReply(granted=granted, count=len(others), holders=labels)

    def release(self, holder: str) -> bool:
        """Let go of a hold whose step did not act; False when it was not held (released already)."""
        kept = [h for h in self.holds if h.holder != holder]
        released = len(kept) < len(self.holds)
        self.holds = kept
        return released
