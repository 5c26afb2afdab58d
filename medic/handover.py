"""What an incident carries into its next run when it continues as new.

Everything, as long as it fits comfortably in one Temporal payload (the limit is 2 MB). An incident
that grew past that keeps its alerts and the first and latest timeline entries; the entries in
between stay in the history of the run that wrote them (linked by run id), and a timeline entry says
so. Resolved alerts lose their annotations first, and, if that is not enough, every label but the
identifying ones (alertname, service, namespace, pod, instance...)."""

import base64
import zlib

from medic.alerts import AlertStatus
from medic.incident import IncidentState
from medic.timeline import TimelineEntry
from medic.vocab import TimelineKind

__all__ = ["MAX_CARRIED_BYTES", "compact_for_handover", "pack", "payload_size", "unpack"]

MAX_CARRIED_BYTES = 1_500_000
_KEEP_HEAD = 200
_IDENTIFYING = frozenset({"alertname", "service", "app", "job", "namespace", "pod", "instance", "severity"})


def compact_for_handover(
    state: IncidentState, *, previous_run: str, max_bytes: int = MAX_CARRIED_BYTES
) -> IncidentState:
    if payload_size(state) <= max_bytes:
        return state
    out = state.model_copy(deep=True)
    for fingerprint, record in out.alerts.items():
        if record.status is AlertStatus.RESOLVED and record.annotations:
            out.alerts[fingerprint] = record.model_copy(update={"annotations": {}})
    keep_tail = len(out.timeline)
    while payload_size(out) > max_bytes and keep_tail > 50:
        keep_tail //= 2
        out.timeline = _shortened(state.timeline, keep_tail, previous_run)
    if payload_size(out) > max_bytes:
        # Still too large: resolved alerts keep the labels that identify them, firing ones keep all.
        for fingerprint, record in out.alerts.items():
            if record.status is AlertStatus.RESOLVED:
                kept = {k: v for k, v in record.labels.items() if k in _IDENTIFYING}
                out.alerts[fingerprint] = record.model_copy(update={"labels": kept})
    # The notifier walks the timeline by position: keep its cursors on the same entries.
    n = out.notifications
    full, short = len(state.timeline), len(out.timeline)
    for posted in n.chat.values():
        posted.cursor = _moved(posted.cursor, full, short)
        posted.backlog = _kept(posted.backlog, full, short)
    n.jira_cursor = _moved(n.jira_cursor, full, short)
    n.jira_link_cursor = _moved(n.jira_link_cursor, full, short)
    n.change_cursor = _moved(n.change_cursor, full, short)
    if n.note_cursor is not None:
        n.note_cursor = _moved(n.note_cursor, full, short)
    n.note_backlog = _kept(n.note_backlog, full, short)
    return out


def _moved(cursor: int, total: int, kept: int) -> int:
    """Where a position in the full timeline lands in the shortened one."""
    if cursor <= _KEEP_HEAD or kept >= total:
        return cursor
    tail_start = total - (kept - _KEEP_HEAD - 1)  # where the kept tail began in the full timeline
    return _KEEP_HEAD + 1 + max(0, cursor - tail_start)


def _kept(positions: list[int], total: int, kept: int) -> list[int]:
    """Entries owed all the same (``approvals-asked-before``' backlogs), where they are in the shortened
    timeline: those in the part left to the previous run are dropped (their positions would read another
    entry, or past the end: a workflow task failing on every attempt)."""
    if kept >= total:
        return positions
    tail_start = total - (kept - _KEEP_HEAD - 1)
    return [
        p if p < _KEEP_HEAD else _KEEP_HEAD + 1 + p - tail_start
        for p in positions
        if p < _KEEP_HEAD or p >= tail_start
    ]


def _shortened(timeline: list[TimelineEntry], keep_tail: int, previous_run: str) -> list[TimelineEntry]:
    if len(timeline) <= _KEEP_HEAD + keep_tail:
        return list(timeline)
    head, middle, tail = timeline[:_KEEP_HEAD], timeline[_KEEP_HEAD:-keep_tail], timeline[-keep_tail:]
    note = TimelineEntry(
        at=middle[-1].at,
        kind=TimelineKind.TIMELINE_COMPACTED,
        actor="medic",
        message=f"{len(middle)} timeline entries from {middle[0].at:%Y-%m-%d %H:%M:%S}Z to "
        f"{middle[-1].at:%Y-%m-%d %H:%M:%S}Z are kept in the history of run {previous_run}.",
        data={"previous_run": previous_run, "entries": len(middle)},
    )
    return [*head, note, *tail]


def payload_size(state: IncidentState) -> int:
    return len(state.model_dump_json())


def pack(state: IncidentState) -> str:
    """The state as zlib-compressed, base64-encoded JSON: alert labels compress about tenfold, so an
    incident with thousands of firing alerts still fits in one payload."""
    return base64.b64encode(zlib.compress(state.model_dump_json().encode(), 6)).decode("ascii")


def unpack(packed: str) -> IncidentState:
    return IncidentState.model_validate_json(zlib.decompress(base64.b64decode(packed)))
