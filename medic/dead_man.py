"""Heartbeats: an alert that always fires (kube-prometheus's ``Watchdog``) is no incident, it is proof
that the alerting pipeline works; Medic is told when it stops coming (a dead man's switch).

kube-prometheus, kube-prometheus-stack and the prometheus-operator mixin ship ``Watchdog`` (``expr:
vector(1)``, ``severity: none``) for exactly this: "There are integrations with various notification
mechanisms that send a notification when this alert is not firing". Without this module it opened an
incident that never closed. Now each alert a rule of ``heartbeats:`` (routing policy) matches is a
*beat* of its heartbeat, one per label set besides the rule's match (one per Prometheus, cluster or
tenant). Beats within 30 s of each other are one (an HA pair's copies, retries). A heartbeat whose
beats came alone (no other alert in their delivery: their group is their own) within ``missing_after``
of each other 3 times in a row, over twice ``missing_after``, is *armed* (its cadence is its route's
and known to fit: a route left at Alertmanager's 12-hour repeat never arms, however often another alert
of its group makes Alertmanager resend it), and an armed heartbeat with no beat for
``missing_after`` raises one finding for the rule's ``service``, through the same path as an anomaly,
repeated while it lasts and ended when the beats come back. A beat Alertmanager sends *resolved* (the
alert stopped being evaluated) is no beat: it is told with the finding. An outage whose incident a
person resolves is *muted* until the next beat (a Prometheus taken away); a heartbeat is *retired*
(``DELETE /heartbeats/{id}``, or its rule gone from the policy at a worker's start) or forgotten
after ``forget_after``.

Pure: the rules, the state kept per heartbeat and the finding's words; the durable timer is
``workflows.dead_man``.
"""

import hashlib
import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from medic.alerts import Alert, AlertStatus
from medic.anomaly import (
    HEARTBEAT_LABEL,
    HEARTBEAT_SOURCE,
    NAME_PATTERN,
    AnomalySignal,
    ExpectedBand,
    TimeWindow,
)
from medic.matchers import format_duration

__all__ = [
    "HEARTBEAT_LABEL",
    "HEARTBEAT_SOURCE",
    "ID_PATTERN",
    "Beat",
    "HeartbeatRule",
    "HeartbeatState",
    "RuleName",
    "default_heartbeats",
    "heartbeat_id",
    "heartbeat_of",
    "match_digest",
    "parse_heartbeat_id",
    "split_beats",
]

_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ID_PATTERN = r"heartbeat-([a-z0-9][a-z0-9-]{0,61}[a-z0-9]|[a-z0-9])-([0-9a-f]{8})-[0-9a-f]{16}"
_ID = re.compile(ID_PATTERN)
_NAME_RULE = "1 to 63 lower-case letters, digits and dashes, beginning and ending with a letter or digit"
# Labels that never tell two heartbeats apart: the same Watchdog says severity "none" or "info" by release.
_NOT_KEY = frozenset({"alertname", "severity"})
# How often a missing heartbeat's finding is said again (a third of missing_after, within these bounds):
# its window ends two repeats ahead, so the incident goes quiet within 10 minutes of the beats' return
# (as a scan's finding, said every run: 5 minutes by default).
_REPEAT_MIN = timedelta(minutes=1)
_REPEAT_MAX = timedelta(minutes=5)
_QUEUE_KEY = "\x00queue"  # (no label name can be it)
_DUPLICATE = timedelta(seconds=30)  # beats this close are one (an HA pair's copies, a retried delivery)
_ARM_GAPS = 3  # gaps within missing_after in a row before a heartbeat is armed


def _rule_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a rule name: {_NAME_RULE}")
    return value


RuleName = Annotated[str, AfterValidator(_rule_name)]
"""A rule's name in the routing policy (heartbeats:, ignore:)."""


class HeartbeatRule(BaseModel):
    """One kind of heartbeat (``heartbeats:`` in the routing policy). Without the key, the one rule
    :func:`default_heartbeats` gives; ``heartbeats: []`` turns them off (Watchdog is an alert again)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: RuleName = Field(description=f"{_NAME_RULE} (it names the heartbeat's workflow)")
    match: dict[str, str] = Field(
        min_length=1, description="labels an alert must have, with these values, to be a beat"
    )
    service: str = Field(
        default="alerting-pipeline",
        pattern=NAME_PATTERN,
        description="the catalog service whose team is told when the beats stop (its routing decides who;"
        " the incident is at least P2 by a critical severity); the default is in no catalog: the fallback"
        " channel",
    )
    missing_after_minutes: float = Field(
        default=15.0,
        ge=0.1,
        le=7 * 24 * 60,
        description="how long without a beat is an outage; at least 3 times the cadence of the"
        " Alertmanager route that sends the heartbeat to Medic (medic doctor says it: 1m group_interval"
        " and 1m repeat_interval send every 2 minutes)",
    )
    severity: str = Field(default="critical", pattern=r"^(critical|error|warning|info)$")
    forget_after_hours: float = Field(
        default=168.0,
        ge=1,
        le=24 * 366,
        description="a heartbeat silent this long is forgotten (a Prometheus taken away): its finding"
        " ends and Medic stops watching it until it beats again",
    )

    @property
    def missing_after(self) -> timedelta:
        return timedelta(minutes=self.missing_after_minutes)

    @property
    def forget_after(self) -> timedelta:
        return timedelta(hours=self.forget_after_hours)

    @property
    def duplicate_within(self) -> timedelta:
        """Beats this close to the last one are the same beat: HA pairs, retries (30 s, or a tenth of
        missing_after when that is less)."""
        return min(_DUPLICATE, self.missing_after / 10)

    @property
    def repeat(self) -> timedelta:
        """How often a missing heartbeat's finding is said again (each time extending its window)."""
        return min(max(self.missing_after / 3, _REPEAT_MIN), _REPEAT_MAX)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())

    def key_labels(self, labels: dict[str, str]) -> dict[str, str]:
        """What tells one heartbeat of the rule from another: the labels besides its match, alertname
        and severity (``prometheus``, ``cluster``: one heartbeat per Prometheus)."""
        return {k: v for k, v in sorted(labels.items()) if k not in self.match and k not in _NOT_KEY}


def default_heartbeats() -> list[HeartbeatRule]:
    """kube-prometheus's Watchdog, whatever its severity says."""
    return [HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})]


def heartbeat_id(rule: HeartbeatRule, labels: dict[str, str], *, queue: str) -> str:
    """The heartbeat's workflow id: ``heartbeat-<rule>-<8 hex digits of its match>-<16 of its key
    labels and the installation's task queue>``. A rule whose ``match`` changes names other heartbeats:
    a worker's start retires the old ones (:func:`parse_heartbeat_id`), which no beat reaches any more.
    The task queue is in it: two installations in one namespace watch their own heartbeats, and one
    moved to a new queue starts its heartbeats anew there (the old ones run nowhere)."""
    keyed = _digest({**labels, _QUEUE_KEY: queue})[:16]
    return f"heartbeat-{rule.name}-{match_digest(rule)}-{keyed}"


def match_digest(rule: HeartbeatRule) -> str:
    return _digest(rule.match)[:8]


def parse_heartbeat_id(wid: str) -> tuple[str, str] | None:
    """The rule's name and match digest in a heartbeat's workflow id; None for an id of another shape."""
    found = _ID.fullmatch(wid)
    return (found.group(1), found.group(2)) if found else None


def _digest(labels: dict[str, str]) -> str:
    return hashlib.sha256("\x00".join(f"{k}={v}" for k, v in sorted(labels.items())).encode()).hexdigest()


class Beat(BaseModel):
    """One delivery of a heartbeat's alert, as the API received it, with the rule as configured then."""

    model_config = ConfigDict(extra="forbid")

    rule: HeartbeatRule
    labels: dict[str, str]
    at: datetime
    firing: bool = True
    alone: bool = Field(
        default=True,
        description="its delivery held heartbeats only: its group is its own, its cadence its route's",
    )


def heartbeat_of(rules: list[HeartbeatRule], alert: Alert, *, at: datetime) -> Beat | None:
    """The beat ``alert`` is, under the first rule that matches it; None for any other alert."""
    for rule in rules:
        if rule.matches(alert.labels):
            return Beat(
                rule=rule,
                labels=rule.key_labels(alert.labels),
                at=at,
                firing=alert.status is AlertStatus.FIRING,
            )
    return None


def split_beats(
    rules: list[HeartbeatRule], alerts: list[Alert], *, at: datetime
) -> tuple[list[tuple[Alert, Beat]], list[Alert]]:
    """A delivery's beats (each with its alert) and its other alerts, as the webhook hands them over
    and ``medic explain`` says it: a beat is ``alone`` when the delivery held beats only (its group is
    its own: its cadence is its route's, and only such beats arm a heartbeat)."""
    beats: list[tuple[Alert, Beat]] = []
    others: list[Alert] = []
    for alert in alerts:
        beat = heartbeat_of(rules, alert, at=at)
        if beat is None:
            others.append(alert)
        else:
            beats.append((alert, beat))
    return [(alert, beat.model_copy(update={"alone": not others})) for alert, beat in beats], others


class HeartbeatState(BaseModel):
    """What the heartbeat's workflow keeps (and shows: ``GET /heartbeats``)."""

    model_config = ConfigDict(extra="forbid")

    rule: HeartbeatRule
    labels: dict[str, str]
    beats: int = 0
    first_beat_at: datetime | None = None
    last_beat_at: datetime | None = None
    longest_gap_seconds: float | None = Field(
        default=None, description="the longest time between two beats while armed"
    )
    armed: bool = Field(
        default=False,
        description=f"{_ARM_GAPS} gaps in a row within missing_after, over twice missing_after at least",
    )
    steady_since: datetime | None = Field(
        default=None, description="the first beat of the run of beats within missing_after of each other"
    )
    steady_gaps: int = 0
    steady_last: datetime | None = Field(default=None, description="the last beat that came alone")
    shared: int = Field(default=0, description="beats that came with other alerts of their group")
    last_gap_seconds: float | None = Field(
        default=None, description="between the last two beats that came alone"
    )
    muted_at: datetime | None = Field(
        default=None, description="when a person resolved the outage's incident: told no more until a beat"
    )
    resolved_at: datetime | None = Field(
        default=None, description="when Alertmanager last sent it resolved (since the last beat)"
    )
    missing_since: datetime | None = Field(default=None, description="the last beat before an outage")
    told_until: datetime | None = Field(default=None, description="the end of the finding's window")
    outages: int = 0
    first_told_at: datetime | None = Field(default=None, description="when this outage was first told")
    told: list[str] = Field(default_factory=list, description="the incidents this outage was told in")
    incidents: list[str] = Field(default_factory=list, description="every outage's incidents, latest last")
    continue_after: int = Field(
        default=1000, ge=1, description="beats a run takes before it continues as new"
    )

    @property
    def status(self) -> str:
        if self.missing_since is not None:
            return "muted" if self.muted_at is not None else "missing"
        return "ok" if self.armed else "unarmed"

    def take(self, beat: Beat) -> bool:
        """Apply a beat; True when it ends an outage that was told (the finding's last word is due,
        told by :meth:`finding` with ``back``; ``missing_since`` is kept until then). A beat within
        :meth:`HeartbeatRule.duplicate_within` of the last one is the same one (the other
        Alertmanager of an HA pair, a retried delivery): it changes nothing."""
        self.rule = beat.rule  # the rule as configured now
        if not beat.firing:
            self.resolved_at = beat.at
            return False
        last = self.last_beat_at
        if last is not None and beat.at < last + self.rule.duplicate_within:
            return False
        if last is not None and self.armed and self.missing_since is None:
            self.longest_gap_seconds = max(self.longest_gap_seconds or 0.0, (beat.at - last).total_seconds())
        if beat.alone:
            self._steady(beat.at)
        else:
            self.shared += 1
        self.beats += 1
        self.first_beat_at = self.first_beat_at or beat.at
        self.last_beat_at = beat.at
        self.resolved_at = None
        if self.missing_since is not None and self.muted_at is not None:  # its incident resolved by hand
            self.end_outage()
            return False
        return self.missing_since is not None  # (kept for the last word: the workflow then clears it)

    def end_outage(self) -> None:
        """The outage is over (its last word told, or muted): the next is a new one."""
        self.missing_since = self.told_until = self.first_told_at = self.muted_at = None
        self.told = []

    def _steady(self, at: datetime) -> None:
        """Arming, on the beats whose delivery held heartbeats only: within missing_after of each
        other, :data:`_ARM_GAPS` gaps in a row over twice missing_after at least. A beat that came with
        other alerts of its group was sent for them (one changed: Alertmanager resends the whole
        group), not by its route's repeat: a Watchdog grouped with its namespace's alerts and repeated
        every 12 hours arms by no number of those, and never pages when they stop."""
        last, self.steady_last = self.steady_last, at
        if last is not None:
            self.last_gap_seconds = (at - last).total_seconds()
        if last is None or at - last > self.rule.missing_after:
            self.steady_since, self.steady_gaps = at, 0
            return
        self.steady_gaps += 1
        since = self.steady_since or at
        if self.steady_gaps >= _ARM_GAPS and at - since >= 2 * self.rule.missing_after:
            self.armed = True

    def arming(self) -> str | None:
        """Why it is not armed yet, in words (None once armed)."""
        if self.armed:
            return None
        after = format_duration(self.rule.missing_after)
        gap = self.last_gap_seconds
        if gap is not None and gap > self.rule.missing_after.total_seconds():
            return (
                f"its last beats that came alone were {format_duration(timedelta(seconds=round(gap)))}"
                f" apart, more than missing_after ({after}): at that cadence it never arms; repeat its"
                " route every few minutes"
            )
        if self.steady_last is None:
            return "no beat came alone yet (each came with other alerts of its group): give it its own route"
        span = self.steady_last - (self.steady_since or self.steady_last)
        over, needed = (
            format_duration(span - span % timedelta(minutes=1)),
            format_duration(2 * self.rule.missing_after),
        )
        return f"{self.steady_gaps} of {_ARM_GAPS} gaps within {after} in a row, over {over} of {needed}"

    def due(self) -> datetime | None:
        """When the heartbeat's next step is: its outage (armed, no beat for missing_after), the
        finding said again while it lasts, or the heartbeat forgotten."""
        if self.last_beat_at is None:
            return None
        forget = self.last_beat_at + self.rule.forget_after
        if self.muted_at is not None:
            return forget
        if self.missing_since is not None and self.told_until is not None:
            return min(self.told_until - self.rule.repeat, forget)
        if self.armed:
            return min(self.last_beat_at + self.rule.missing_after, forget)
        return forget

    def forgotten(self, now: datetime) -> bool:
        return self.last_beat_at is not None and now >= self.last_beat_at + self.rule.forget_after

    def _described(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        match = ", ".join(f"{k}={v}" for k, v in self.rule.match.items())
        return f"{match}" + (f" from {labels}" if labels else "")

    def finding(
        self, now: datetime, *, back: bool = False, forgotten: bool = False, retired: str | None = None
    ) -> AnomalySignal:
        """The finding of an outage: said when it begins, again every ``rule.repeat`` (its window ends
        two repeats ahead, so the incident stays active while it lasts and goes quiet soon after), and
        a last time when the beats come back or the heartbeat is forgotten or ``retired`` (saying by
        whom and why; its window then ends a second after the one before: a finding's window never
        shrinks)."""
        forgotten = forgotten or retired is not None
        last = self.last_beat_at or now
        since = self.missing_since or last
        rule = self.rule
        silent = (last if back else now) - since
        # (a last word's window ends a second after the one before: a finding's window never shrinks)
        end = (self.told_until or now) + timedelta(seconds=1) if back or forgotten else now + 2 * rule.repeat
        ago = format_duration(silent - silent % timedelta(minutes=1) or timedelta(minutes=1))
        if back:
            summary = (
                f"Heartbeat {rule.name} ({self._described()}) is back at {last:%H:%M} UTC after"
                f" {ago} without a beat."
            )
        elif retired is not None:
            summary = (
                f"Heartbeat {rule.name} ({self._described()}) retired after {ago} without a beat: {retired};"
                " Medic watches it again at its next beat."
            )
        elif forgotten:
            summary = (
                f"Heartbeat {rule.name} ({self._described()}) has not beaten for {ago}: forgotten"
                " (its Prometheus taken away?); Medic watches it again at its next beat."
            )
        else:
            resolved = (
                f" Alertmanager sent it resolved at {self.resolved_at:%H:%M} UTC: the Prometheus that"
                " evaluates it stopped sending it."
                if self.resolved_at is not None
                else " Prometheus, Alertmanager or their route to Medic is down: alerts may not be"
                " reaching anyone."
            )
            summary = (
                f"No heartbeat {rule.name} ({self._described()}) since {since:%Y-%m-%d %H:%M} UTC"
                f" ({ago}; expected within {format_duration(rule.missing_after)}).{resolved}"
            )
        return AnomalySignal(
            source=HEARTBEAT_SOURCE,
            service=rule.service,
            series={**rule.match, **self.labels, HEARTBEAT_LABEL: rule.name},
            value=round(silent.total_seconds(), 3),
            expected=ExpectedBand(lower=0.0, upper=rule.missing_after.total_seconds()),
            score=1.0,
            window=TimeWindow(start=since, end=max(end, since)),
            severity=rule.severity,
            summary=summary,
        )
