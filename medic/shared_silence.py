"""When most of a scan's series fall silent at once: one finding of what they share, not one a service.

A log shipper that stops (Promtail, Alloy, an OpenTelemetry collector), Loki's ingestion that stalls,
a gateway that answers for another tenant: every series of a volume scan falls to 0 within minutes of
the others, and each busy one's silence is improbable on its own. Each service's team was paged for an
outage of its own service, one after the other as each silence became improbable
(``bench.loki_sparse --scenario shipper``: checkout at 15 minutes, orders at 25, search at 40).

A scan that names the catalog service of what its series come through (``pipeline_service``; a scan
whose missing steps are 0, ``absent: zero``, Loki's default) looks at every series' last points after
each run: a series is *newly quiet* when its last points are a run of 0 longer than every run of 0
before it in the run's points (3 points at least, after 10 points with lines) and its detector finds
that silence unusual (``silence()``: not excused by the day before). Newly quiet series whose runs
began within ``span`` of each other (15 minutes, or 3 steps if longer), of 3 services or more and at
least half of the series that had any line in the run's points, are one **shared silence**. Each
member's own finding of a fall towards 0 is held in one finding for ``pipeline_service``, which names
the members; other findings of theirs (a burst before the stop) go as they would. A fall found before
the others are quiet waits (``Waiting``) where most able series are falling at once. The silence stays
open while half of its members have had no line since their runs began (a series that joins later,
its run begun within ``span`` of the first, is a member too); once the lines come back to most, a
member still silent ``span`` later is its own outage: its held finding is told as its own.

The detectors still decide: the shared finding is sent only in a run where a member's own detector
found its silence, so nothing is raised that was not raised before. A single service that stops is
found as before (its own finding): other series at 0 at that moment are at a run no longer than their
usual ones, or their detectors find it ordinary.
"""

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from medic.anomaly import PREDICTION_SOURCE, AnomalySignal

__all__ = [
    "MIN_MEMBERS",
    "SharedSilence",
    "Waiting",
    "advance",
    "cluster",
    "falling",
    "merge_shared",
    "quiet_since",
    "span_for",
    "towards_silence",
    "wait_for",
]

MIN_MEMBERS = 3  # two services that stop together are two findings: a stop of both is as likely
_MIN_RUN = 3  # points of 0 at least (one or two are any sparse count's)
_MIN_LINES = 10  # points with lines before the run: a series with less has no usual runs to go by
_ABLE = 3.0  # a count's usual from which a fall to under half is no chance (P(0) of a Poisson 3: 5%)
_KEEP = 3600.0  # seconds a shared silence is kept after the last of its members' lines came back
_SPAN = 900.0  # seconds: a count over [5m] falls to 0 up to its range after the stop, a sparse one sooner


class SharedSilence(BaseModel):
    """A shared silence, kept with the scan's state between runs while it lasts and an hour after."""

    began: float = Field(description="the earliest first 0 of its members (epoch seconds)")
    members: dict[str, float] = Field(description="series key -> when its run of 0 began (epoch seconds)")
    services: dict[str, str] = Field(default_factory=dict, description="series key -> its service")
    active: int = Field(default=0, description="the series with lines when it was found (most of them)")
    ended: dict[str, float] = Field(
        default_factory=dict, description="member -> the end of the run that saw its lines again"
    )
    held: dict[str, AnomalySignal] = Field(
        default_factory=dict,
        description="member -> its latest finding held in this one (sent if it stays silent)",
    )
    released: float | None = Field(
        default=None,
        description="when the lines came back to most members (epoch seconds): from then on a member "
        "still silent is its own finding again",
    )
    sent: float | None = Field(default=None, description="when its finding was first sent (epoch seconds)")

    told: list[str] = Field(
        default_factory=list, description="members still silent after it was released: told as their own"
    )

    def holds(self, key: str, at: float, *, span: float, now: float) -> bool:
        """Whether a finding of series ``key`` that began at ``at`` is of this silence, in a run
        ending at ``now``: a member's, from its run of 0 while most members are silent (a detector can
        report it a run after the lines came back); once the lines came back to most, a member still
        silent ``span`` later (a sparse one's first line can come minutes after the others') is its
        own outage again."""
        began = self.members.get(key)
        if began is None or at < began - span:
            return False
        if key in self.ended:
            return at < self.ended[key]
        return self.released is None or now < self.released + span

    def silent_held(self, last_lines: dict[str, float | None]) -> list[str]:
        """The members whose findings it held, not told, with no line since their runs began
        (``last_lines``: each series at 0 now, its last line in the run): told as their own when the
        silence is dropped (the scan no longer shares one, or another takes its place)."""
        return [
            k
            for k in sorted(self.held)
            if k not in self.told
            and k in last_lines
            and ((seen := last_lines[k]) is None or seen < self.members.get(k, seen))
        ]

    def still_silent(self, *, span: float, now: float) -> list[str]:
        """The members whose held findings are now to be told as their own: still silent ``span``
        after the lines came back to most, and not told yet."""
        if self.released is None or now < self.released + span:
            return []
        return [k for k in sorted(self.held) if k not in self.ended and k not in self.told]


class Waiting(BaseModel):
    """A series' finding of a fall towards 0, kept a while before it is sent: if most series are
    falling silent with it, it is held in their shared finding instead."""

    key: str = Field(description="the series' key in the scan's state")
    signal: AnomalySignal
    due: float = Field(description="sent at the first run from then on (epoch seconds) unless held")


def towards_silence(signal: AnomalySignal) -> bool:
    """Whether a finding is of a fall towards 0 (a count whose lines stopped falls over its range)."""
    return signal.source != PREDICTION_SOURCE and (signal.value == 0 or signal.value < signal.expected.lower)


def wait_for(step: float, window: float | None) -> float:
    """How long a finding of a fall waits for others: until the count's range has emptied (the lines
    before the stop all out of it) and two more steps, when every busy series is at 0."""
    return (window or 0.0) + 2.0 * step


def span_for(step: float) -> float:
    """How close together the members' runs of 0 begin."""
    return max(_SPAN, 3.0 * step)


def quiet_since(times: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> float | None:
    """When the series' newly quiet run began (its first 0), if its last points are a run of 0 longer
    than every earlier run of 0 in them (3 points at least, after 10 points above 0); else None."""
    x = np.asarray(values, dtype=np.float64)
    if x.shape[0] == 0 or x[-1] != 0:
        return None
    lines = np.flatnonzero(x > 0)
    if lines.shape[0] < _MIN_LINES:
        return None
    last = int(lines[-1])
    run = x.shape[0] - 1 - last
    zero = x[: last + 1] == 0
    if run < _MIN_RUN or not bool((x[last + 1 :] == 0).all()):  # (a NaN within the run breaks it)
        return None
    if zero.any():
        # the longest earlier run of 0: the widest gap between the points that are not 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.astype(np.int8), [0]])))
        if int((edges[1::2] - edges[::2]).max()) >= run:
            return None
    return float(np.asarray(times, dtype=np.float64)[last + 1])


def falling(times: np.ndarray[Any, Any], values: np.ndarray[Any, Any], window: float) -> tuple[bool, bool]:
    """Whether a count is *able* to fall (its usual, the median of its points before its last
    ``window``, the count's range, is 3 or more: a 0 there is improbable) and whether it is *down*
    (able, and its last value under half its usual). A stop brings every busy count down within its
    range; a sparse count at 0 is neither (it is so at every 0)."""
    x = np.asarray(values, dtype=np.float64)
    if x.shape[0] == 0 or not np.isfinite(x[-1]):
        return False, False
    t = np.asarray(times, dtype=np.float64)
    before = x[(t < t[-1] - window) & np.isfinite(x)]
    if before.shape[0] < _MIN_LINES:
        return False, False
    usual = float(np.median(before))
    able = usual >= _ABLE
    return able, able and float(x[-1]) < 0.5 * usual


def cluster(quiet: dict[str, float], span: float) -> dict[str, float]:
    """The most newly quiet series whose runs began within ``span`` of each other (the earliest such
    group when two are as large)."""
    ordered = sorted(quiet.items(), key=lambda kv: (kv[1], kv[0]))
    best: list[tuple[str, float]] = []
    lo = 0
    for hi in range(len(ordered)):
        while ordered[hi][1] - ordered[lo][1] > span:
            lo += 1
        if hi - lo + 1 > len(best):
            best = ordered[lo : hi + 1]
    return dict(best)


def advance(
    shared: SharedSilence | None,
    *,
    quiet: dict[str, float],
    last_lines: dict[str, float | None],
    active: int,
    services: dict[str, str],
    span: float,
    end: float,
) -> SharedSilence | None:
    """The shared silence after a run ending at ``end``. ``quiet``: the newly quiet series whose
    silence their detectors find unusual (``quiet_since``, not excused by the day before);
    ``last_lines``: for each series whose last point is 0, its last point above 0 in the run (None:
    none; a series whose last point is above 0, or that is not there, is not silent now); ``active``:
    how many series had a line in the run's points; ``services``: each series' service (members
    of 3 services at least: one service's series are its own outage)."""
    ending = None
    if shared is not None:
        ended = dict(shared.ended)
        for key, began in shared.members.items():
            seen = last_lines.get(key, end)
            if key not in ended and seen is not None and seen >= began:
                ended[key] = end
        shared = shared.model_copy(update={"ended": ended})
        if shared.released is None and 2 * (len(shared.members) - len(ended)) >= len(shared.members):
            joining = {
                key: began
                for key, began in quiet.items()
                if key not in shared.members and abs(began - shared.began) <= span
            }
            members = {**shared.members, **joining}
            return shared.model_copy(
                update={
                    "members": members,
                    "began": min(members.values()),
                    "services": {**shared.services, **{k: services.get(k, k) for k in joining}},
                    "active": max(shared.active, active),
                }
            )
        # lines came back to most: no series joins it now, a member still silent is its own again
        # (released: its held finding is sent as its own), and a stop after this is another one; it is
        # kept an hour after the last member's lines came back, for the findings its members'
        # detectors report late (a sparse one's run is judged a run or two after the lines return)
        if shared.released is None:
            shared = shared.model_copy(update={"released": end})
        untold = [k for k in shared.members if k not in ended and k not in shared.told]
        if untold or (ended and end - max(ended.values()) < _KEEP):
            ending = shared
    group = cluster(quiet, span)
    if len(group) < MIN_MEMBERS or 2 * len(group) < active:
        return ending
    if len({services.get(k, k) for k in group}) < MIN_MEMBERS:
        return ending  # the series of one or two services: theirs, as any outage
    return SharedSilence(
        began=min(group.values()),
        members=group,
        services={k: services.get(k, k) for k in group},
        active=active,
    )


def merge_shared(newer: SharedSilence | None, older: SharedSilence | None) -> SharedSilence | None:
    """Two saves' shared silences as one (a merge of a scan's state): the newer one, with the older's
    members, findings held and lines back taken in where it is the same silence (a member in common);
    else the one whose finding was sent (a member's late finding then pages no team of its own)."""
    if newer is None or older is None:
        return newer or older
    if not set(newer.members) & set(older.members):
        return newer if newer.sent is not None or older.sent is None else older
    members = {**older.members, **newer.members}
    sent = [t for t in (newer.sent, older.sent) if t is not None]
    released = [t for t in (newer.released, older.released) if t is not None]
    return newer.model_copy(
        update={
            "members": members,
            "began": min(members.values()),
            "services": {**older.services, **newer.services},
            "active": max(newer.active, older.active),
            "ended": {**older.ended, **newer.ended},
            "held": {**older.held, **newer.held},
            "told": [*newer.told, *(k for k in older.told if k not in newer.told)],
            "released": min(released) if released else None,
            "sent": min(sent) if sent else None,
        }
    )
