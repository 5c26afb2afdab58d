"""The incident's timeline as an SVG chart, for the postmortem.

Pure and deterministic: the SVG text is built by hand (no plotting library), every text escaped.
Time runs left to right from the first signal to the resolution (or ``now``); each category of
event has a lane, alert episodes are bars per service, every timeline entry is a marker
(``class="marker …"``) with a ``<title>`` tooltip, and the milestones are vertical lines.
"""

import re
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from medic.alerts import AlertStatus
from medic.incident import AlertRecord, IncidentState
from medic.redact import redact
from medic.story import LANES, fmt_time, incident_metrics, lane_of, machine_actors, ordered_timeline, utc

__all__ = ["render_timeline_svg"]

WIDTH = 900
LEFT = 170  # the lane labels' column
RIGHT = 30
TOP = 90  # title and milestone labels above the lanes
ROW = 26
_TICKS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
_MAX_TICKS = 8
_INVALID_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BAD = ("failed", "denied", "blocked", "timed_out", "refused", "flapping", "escalated")
_GOOD = ("passed", "granted", "done", "executed", "resolved", "acknowledged", "settled")
_STYLE = """
text { font-family: sans-serif; font-size: 11px; fill: #222; }
.title { font-size: 14px; font-weight: bold; }
.lane-band { fill: #f4f5f7; }
.lane-band.odd { fill: #ffffff; }
.lane-label { font-weight: bold; }
.row-label { fill: #555; }
.axis line, .tick { stroke: #888; }
.bar { fill: #e8a33d; fill-opacity: 0.7; }
.bar.sev-critical { fill: #d9622b; }
.bar.sev-warning { fill: #f2c94c; }
.bar.sev-info { fill: #9fb7d9; }
.bar.firing { stroke: #7a1f1f; stroke-width: 1.5; }
.bar.anomaly { fill: #8e6bbf; }
.marker { stroke: #fff; stroke-width: 1; fill: #4a78c2; }
.marker.bad { fill: #d64541; }
.marker.good { fill: #2e9e5b; }
.milestone { stroke-width: 1.5; stroke-dasharray: 4 3; stroke: #555; }
.milestone-acknowledged { stroke: #4a78c2; }
.milestone-mitigated { stroke: #2e9e5b; }
.milestone-resolved { stroke: #222; }
"""


def _esc(text: str) -> str:
    # Redacted before escaping: once escaped, a secret with & < > " in it no longer matches itself.
    return escape(_INVALID_XML.sub("\ufffd", redact(text)), {'"': "&quot;"})


def _class(kind: str) -> str:
    return "kind-" + re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def _tone(kind: str) -> str:
    if kind.endswith(_BAD):
        return " bad"
    return " good" if kind.endswith(_GOOD) else ""


def _episodes(
    record: AlertRecord, resolutions: list[datetime], end: datetime
) -> list[tuple[datetime, datetime]]:
    """The alert's episodes it still remembers: from each start to its resolution, the next start, or
    (for the one still firing) the end of the chart."""
    starts = sorted({utc(t) for t in [*record.episode_starts, record.starts_at]})
    out = []
    for i, start in enumerate(starts):
        if i + 1 < len(starts):
            nxt = starts[i + 1]
            stop = next((r for r in resolutions if start <= r < nxt), nxt)
        elif record.status is AlertStatus.FIRING:
            stop = end
        else:
            stop = utc(record.ends_at or record.last_seen_at)
        out.append((start, max(start, stop)))
    return out


def _ticks(start: datetime, end: datetime) -> tuple[list[datetime], str]:
    span = (end - start).total_seconds()
    step = next((s for s in _TICKS if span / s <= _MAX_TICKS), max(_TICKS[-1], int(span / _MAX_TICKS) + 1))
    first = -(-int(start.timestamp()) // step) * step
    ticks = []
    at = first
    while at <= end.timestamp():
        ticks.append(datetime.fromtimestamp(at, UTC))
        at += step
    return ticks, ("%m-%d %H:%M" if span > 86400 else "%H:%M")


def render_timeline_svg(state: IncidentState, *, now: datetime) -> str:
    """The incident's timeline chart as an SVG document (UTF-8 text)."""
    m = incident_metrics(state, now=now)
    entries = ordered_timeline(state)
    # From the first signal to the resolution (or now), stretched to every entry (a merged incident's
    # timeline may start earlier; notifications may follow the resolution).
    start = min([m.first_signal_at, *(utc(e.at) for e in entries)])
    end = max([m.resolved_at or utc(now), start + timedelta(minutes=1), *(utc(e.at) for e in entries)])
    span = (end - start).total_seconds()
    inner = WIDTH - LEFT - RIGHT

    def x(t: datetime) -> float:
        return LEFT + inner * min(1.0, max(0.0, (utc(t) - start).total_seconds() / span))

    # Rows: the Alerts lane has a marker row and one row of bars per service; other lanes one row each.
    resolutions: dict[str, list[datetime]] = {}
    for e in entries:
        if e.kind == "alert.resolved":
            resolutions.setdefault(str(e.data.get("fingerprint")), []).append(utc(e.at))
    by_service: dict[str, list[tuple[str, datetime, datetime, str]]] = {}
    for a in sorted(state.alerts.values(), key=lambda r: (r.name, r.fingerprint)):
        firing = " firing" if a.status is AlertStatus.FIRING else ""
        episodes = _episodes(a, resolutions.get(a.fingerprint, []), end)
        for i, (began, ended) in enumerate(episodes):
            last = i == len(episodes) - 1
            label = f"{a.name} ({a.severity}{', flapping' if a.flapping else ''})"
            by_service.setdefault(a.service or "(no service)", []).append(
                (label, began, ended, f"bar alert sev-{a.severity}" + (firing if last else ""))
            )
    for r in sorted(state.anomalies.values(), key=lambda r: r.key):
        sig = r.signal
        band = f"[{sig.expected.lower:g}, {sig.expected.upper:g}]"
        label = f"anomaly from {sig.source}: {sig.value:g} outside {band}"
        by_service.setdefault(sig.service, []).append(
            (label, utc(sig.window.start), utc(sig.window.end), "bar anomaly")
        )

    parts: list[str] = []
    lane_y: dict[str, float] = {}
    y = float(TOP)
    for index, lane in enumerate(LANES):
        rows = 1 + (len(by_service) if lane == "Alerts" else 0)
        odd = " odd" if index % 2 else ""
        parts.append(
            f'<rect class="lane-band{odd}" x="0" y="{y:.1f}" width="{WIDTH}" height="{rows * ROW}"/>'
            f'<text class="lane-label" x="8" y="{y + ROW / 2 + 4:.1f}">{_esc(lane)}</text>'
        )
        lane_y[lane] = y + ROW / 2
        if lane == "Alerts":
            for row, service in enumerate(sorted(by_service), start=1):
                cy = y + row * ROW + ROW / 2
                parts.append(f'<text class="row-label" x="20" y="{cy + 4:.1f}">{_esc(service[:24])}</text>')
                for label, began, ended, cls in by_service[service]:
                    bx, width = x(began), max(2.0, x(ended) - x(began))
                    tip = f"{service}: {label}, {fmt_time(began)} to {fmt_time(ended)}"
                    parts.append(
                        f'<rect class="{cls}" x="{bx:.1f}" y="{cy - 5:.1f}" width="{width:.1f}" height="10">'
                        f"<title>{_esc(tip)}</title></rect>"
                    )
        y += rows * ROW
    bottom = y

    # Markers, one per timeline entry; markers on the same spot of a lane are nudged apart.
    machines = machine_actors(state)
    crowd: dict[tuple[str, int], int] = {}
    for e in entries:
        lane = lane_of(e, machines)
        cx = x(e.at)
        spot = (lane, int(cx // 6))
        n = crowd.get(spot, 0)
        crowd[spot] = n + 1
        cy = lane_y[lane] + (0, -7, 7)[n % 3]
        tip = f"{fmt_time(e.at)} {e.kind} ({e.actor}): {e.message}"
        parts.append(
            f'<circle class="marker {_class(e.kind)}{_tone(e.kind)}" cx="{cx:.1f}" cy="{cy:.1f}" r="4">'
            f"<title>{_esc(tip)}</title></circle>"
        )

    # Milestones: vertical lines with labels, staggered so close ones stay readable.
    milestones = [
        ("detected", "Detected", m.detected_at),
        ("acknowledged", "Acknowledged", m.acknowledged_at),
        ("mitigated", "Mitigated", m.mitigated_at),
        ("resolved", "Resolved", m.resolved_at),
    ]
    for i, (name, label, at) in enumerate(milestones):
        if at is None:
            continue
        mx = x(at)
        ly = 40 + 12 * i
        anchor, tx = ("end", mx - 3) if mx > WIDTH - 160 else ("start", mx + 3)
        parts.append(
            f'<line class="milestone milestone-{name}" x1="{mx:.1f}" y1="{ly + 3}" '
            f'x2="{mx:.1f}" y2="{bottom:.1f}">'
            f"<title>{_esc(f'{label} at {fmt_time(at)}')}</title></line>"
            f'<text class="milestone-label" x="{tx:.1f}" y="{ly}" text-anchor="{anchor}">'
            f"{_esc(f'{label} {utc(at):%H:%M:%S}')}</text>"
        )

    # The time axis.
    ticks, fmt = _ticks(start, end)
    axis = [f'<g class="axis"><line x1="{LEFT}" y1="{bottom:.1f}" x2="{WIDTH - RIGHT}" y2="{bottom:.1f}"/>']
    for t in ticks:
        tx = x(t)
        axis.append(
            f'<line class="tick" x1="{tx:.1f}" y1="{bottom:.1f}" x2="{tx:.1f}" y2="{bottom + 5:.1f}"/>'
            f'<text x="{tx:.1f}" y="{bottom + 17:.1f}" text-anchor="middle">{t.strftime(fmt)}</text>'
        )
    axis.append("</g>")
    height = int(bottom + 44)
    footer = f"Times in UTC, {fmt_time(start)} to {fmt_time(end)}."
    heading = f"Incident {state.id} · {state.priority} · {state.title}"
    if len(heading) > 120:
        heading = heading[:119] + "…"
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img">',
            f"<title>{_esc(f'Timeline of incident {state.id} ({state.priority}): {state.title}')}</title>",
            f"<style>{_STYLE}</style>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            f'<text class="title" x="8" y="20">{_esc(heading)}</text>',
            *parts,
            "".join(axis),
            f'<text class="footer" x="8" y="{height - 6}">{_esc(footer)}</text>',
            "</svg>",
            "",
        ]
    )
