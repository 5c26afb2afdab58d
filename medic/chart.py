"""The incident's timeline as an SVG chart, for the postmortem.

Pure and deterministic: the SVG text is built by hand (no plotting library), every text escaped.
Time runs left to right from the first signal to the resolution (or ``now``); each category of
event has a lane, alert episodes are bars per service, every timeline entry is a marker
(``class="marker …"``) with a ``<title>`` tooltip, and the milestones are vertical lines.
"""

import re
from datetime import UTC, datetime, timedelta
from itertools import product
from xml.sax.saxutils import escape

from medic.alerts import AlertStatus
from medic.incident import AlertRecord, IncidentState
from medic.redact import redact
from medic.story import (
    LANES,
    fmt_duration,
    fmt_time,
    incident_metrics,
    lane_of,
    machine_actors,
    named,
    ordered_timeline,
    utc,
)
from medic.vocab import TimelineKind

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
# Colours as presentation attributes, never a <style> block: ImageMagick, librsvg before 2.50, e-mail
# clients and many Markdown previewers ignore CSS and paint every shape in its default black. Each class
# token of an element adds its attributes, later tokens winning (``bar sev-critical firing``).
_PAINT: dict[str, dict[str, str]] = {
    "title": {"font-size": "14", "font-weight": "bold"},
    "lane-label": {"font-weight": "bold"},
    "row-label": {"fill": "#555555"},
    "lane-band": {"fill": "#f4f5f7"},
    "odd": {"fill": "#ffffff"},
    "lead-in": {"fill": "#e4e6ea", "fill-opacity": "0.6"},
    "axis-line": {"stroke": "#888888"},
    "tick": {"stroke": "#888888"},
    "break": {"stroke": "#888888", "stroke-width": "1.5"},
    "bar": {"fill": "#e8a33d", "fill-opacity": "0.7"},
    "sev-critical": {"fill": "#d9622b"},
    "sev-warning": {"fill": "#f2c94c"},
    "sev-info": {"fill": "#9fb7d9"},
    "firing": {"stroke": "#7a1f1f", "stroke-width": "1.5"},
    "anomaly": {"fill": "#8e6bbf"},
    "marker": {"stroke": "#ffffff", "stroke-width": "1", "fill": "#4a78c2"},
    "bad": {"fill": "#d64541"},
    "good": {"fill": "#2e9e5b"},
    "milestone": {"stroke-width": "1.5", "stroke-dasharray": "4 3", "stroke": "#555555"},
    "milestone-acknowledged": {"stroke": "#4a78c2"},
    "milestone-mitigated": {"stroke": "#2e9e5b"},
    "milestone-resolved": {"stroke": "#222222"},
}
_TEXT = {"fill": "#222222"}
_CHAR = 6.4  # a generous average width of an 11px sans-serif character, for laying out labels
LEAD_IN = 64  # width of the compressed lead-in, when an early signal would squeeze the incident
_GAP = 10
MILESTONE_ROWS = (40, 52, 64, 76)  # label rows above the lanes (TOP)
_LEGEND = (
    ("rect", "bar alert sev-critical", "critical alert"),
    ("rect", "bar alert sev-warning", "warning alert"),
    ("rect", "bar alert sev-info", "info alert"),
    ("rect", "bar alert sev-critical firing", "still firing"),
    ("rect", "bar anomaly", "anomaly"),
    ("circle", "marker", "event"),
    ("circle", "marker good", "success"),
    ("circle", "marker bad", "failure or escalation"),
    ("line", "milestone milestone-detected", "detected"),
    ("line", "milestone milestone-acknowledged", "acknowledged"),
    ("line", "milestone milestone-mitigated", "mitigated"),
    ("line", "milestone milestone-resolved", "resolved"),
)


def _paint(cls: str, *, text: bool = False, like: str | None = None) -> str:
    """``class="…"`` and the presentation attributes its tokens (or those of ``like``) stand for."""
    attrs = dict(_TEXT) if text else {}
    for token in (like or cls).split():
        attrs.update(_PAINT.get(token, {}))
    return f'class="{cls}"' + "".join(f' {k}="{v}"' for k, v in attrs.items())


def _label(cls: str, x: float, y: float, content: str, *, anchor: str = "start") -> str:
    middle = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text {_paint(cls, text=True)} x="{x:.1f}" y="{y:.1f}"{middle}>{_esc(content)}</text>'


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


class _Scale:
    """Time to x. When the first signal came long before the incident (one alert firing for days), the
    span before the incident's own is compressed into a narrow lead-in at the left, marked as elided,
    so the outage itself keeps the chart's width instead of a sliver at its right edge."""

    def __init__(self, start: datetime, detected: datetime, end: datetime) -> None:
        own = max(end - detected, timedelta(minutes=1))
        self.start, self.end = start, end
        self.lead_in = detected - start > own
        # The incident's own span, with a little room before detection for the signals that led to it.
        near = (detected - own / 10).replace(second=0, microsecond=0)  # whole minutes read better
        self.focus = max(start, near) if self.lead_in else start
        self.left = LEFT + LEAD_IN + _GAP if self.lead_in else LEFT

    def __call__(self, t: datetime) -> float:
        t = utc(t)
        if self.lead_in and t < self.focus:
            return LEFT + LEAD_IN * _fraction(t, self.start, self.focus)
        return self.left + (WIDTH - RIGHT - self.left) * _fraction(t, self.focus, self.end)


def _fraction(t: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds()
    return min(1.0, max(0.0, (t - start).total_seconds() / span)) if span > 0 else 0.0


def _coarse(value: timedelta) -> str:
    """Two units at most (``1d 23h``, ``5h 20m``, ``42m``): the lead-in's label has little room."""
    minutes = int(value.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def _extent(x: float, anchor: str, text: str) -> tuple[float, float]:
    width = _CHAR * len(text)
    return (x + 3, x + 3 + width) if anchor == "start" else (x - 3 - width, x - 3)


def _milestone_layout(xs: list[float], labels: list[str]) -> list[tuple[int, str]]:
    """A label row and anchor per milestone such that no label touches another label or crosses a
    milestone line (each line runs from its label's row down through the lanes). Few milestones, so
    every arrangement is tried, the plain staircase first."""
    k = len(xs)
    anchors = [
        ("start", "end") if _extent(x, "start", t)[1] <= WIDTH - 2 else ("end", "start")
        for x, t in zip(xs, labels, strict=True)
    ]
    staircase = tuple(range(k))
    rows_first = sorted(product(range(len(MILESTONE_ROWS)), repeat=k), key=lambda r: (r != staircase, r))
    choices = list(product(*anchors))
    for rows in rows_first:
        for chosen in choices:
            boxes = [_extent(x, a, t) for x, a, t in zip(xs, chosen, labels, strict=True)]
            if all(lo >= 0 and hi <= WIDTH for lo, hi in boxes) and _clear(xs, rows, boxes):
                return list(zip(rows, chosen, strict=True))
    return [(min(i, len(MILESTONE_ROWS) - 1), anchors[i][0]) for i in range(k)]


def _clear(xs: list[float], rows: tuple[int, ...], boxes: list[tuple[float, float]]) -> bool:
    for i, (lo, hi) in enumerate(boxes):
        for j, x in enumerate(xs):
            if i == j:
                continue
            if rows[j] < rows[i] and lo - 3 <= x <= hi + 3:  # j's line passes through i's label
                return False
            if rows[j] == rows[i] and not (boxes[j][1] + 6 <= lo or hi + 6 <= boxes[j][0]):
                return False
    return True


def _legend(y: float) -> tuple[list[str], float]:
    """The key to colours and lines, wrapped to the chart's width; returns the parts and the bottom."""
    parts = ['<g class="legend">']
    x, row = 8.0, y
    for shape, cls, text in _LEGEND:
        width = 18 + _CHAR * len(text) + 14
        if x + width > WIDTH - 8:
            x, row = 8.0, row + 16
        if shape == "rect":
            parts.append(
                f'<rect {_paint("swatch", like=cls)} x="{x:.1f}" y="{row - 9:.1f}" width="14" height="10"/>'
            )
        elif shape == "circle":
            parts.append(f'<circle {_paint("swatch", like=cls)} cx="{x + 7:.1f}" cy="{row - 4:.1f}" r="4"/>')
        else:
            parts.append(
                f'<line {_paint("swatch", like=cls)} x1="{x:.1f}" y1="{row - 4:.1f}" '
                f'x2="{x + 14:.1f}" y2="{row - 4:.1f}"/>'
            )
        parts.append(_label("legend-label", x + 18, row, text))
        x += width
    parts.append("</g>")
    return parts, row


def render_timeline_svg(state: IncidentState, *, now: datetime) -> str:
    """The incident's timeline chart as an SVG document (UTF-8 text); people named as in the postmortem."""
    state = named(state)
    m = incident_metrics(state, now=now)
    entries = ordered_timeline(state)
    # From the first signal to the resolution (or now), stretched to every entry (a merged incident's
    # timeline may start earlier; notifications may follow the resolution).
    start = min([m.first_signal_at, *(utc(e.at) for e in entries)])
    end = max([m.resolved_at or utc(now), start + timedelta(minutes=1), *(utc(e.at) for e in entries)])
    x = _Scale(start, min(m.detected_at, end), end)

    # Rows: the Alerts lane has a marker row and one row of bars per service; other lanes one row each.
    resolutions: dict[str, list[datetime]] = {}
    for e in entries:
        if e.kind == TimelineKind.ALERT_RESOLVED:
            resolutions.setdefault(str(e.data.get("fingerprint")), []).append(utc(e.at))
    by_service: dict[str, list[tuple[str, datetime, datetime, str]]] = {}
    for a in sorted(state.alerts.values(), key=lambda r: (r.name, r.fingerprint)):
        firing = " firing" if a.status is AlertStatus.FIRING else ""
        episodes = _episodes(a, resolutions.get(a.fingerprint, []), end)
        for i, (began, ended) in enumerate(episodes):
            last = i == len(episodes) - 1
            label = f"{a.name} ({a.severity}{', flapping' if a.flapping else ''})"
            by_service.setdefault(a.service or "(no service)", []).append(
                (label, began, ended, f"bar alert sev-{_class(a.severity)[5:]}" + (firing if last else ""))
            )
    for r in sorted(state.anomalies.values(), key=lambda r: r.key):
        sig = r.signal
        label = f"anomaly from {sig.source}: {sig.described()}"
        by_service.setdefault(sig.service, []).append(
            (label, utc(r.first_start), utc(sig.window.end), "bar anomaly")
        )

    parts: list[str] = []
    bars: list[str] = []  # drawn over the lane bands and the lead-in
    lane_y: dict[str, float] = {}
    y = float(TOP)
    for index, lane in enumerate(LANES):
        rows = 1 + (len(by_service) if lane == "Alerts" else 0)
        odd = " odd" if index % 2 else ""
        parts.append(
            f'<rect {_paint("lane-band" + odd)} x="0" y="{y:.1f}" width="{WIDTH}" height="{rows * ROW}"/>'
            + _label("lane-label", 8, y + ROW / 2 + 4, lane)
        )
        lane_y[lane] = y + ROW / 2
        if lane == "Alerts":
            for row, service in enumerate(sorted(by_service), start=1):
                cy = y + row * ROW + ROW / 2
                parts.append(_label("row-label", 20, cy + 4, service[:24]))
                for label, began, ended, cls in by_service[service]:
                    bx, width = x(began), max(2.0, x(ended) - x(began))
                    tip = f"{service}: {label}, {fmt_time(began)} to {fmt_time(ended)}"
                    bars.append(
                        f'<rect {_paint(cls)} x="{bx:.1f}" y="{cy - 5:.1f}" width="{width:.1f}" height="10">'
                        f"<title>{_esc(tip)}</title></rect>"
                    )
        y += rows * ROW
    bottom = y
    if x.lead_in:
        elided = f"lead-in: {fmt_duration(x.focus - start)} from {fmt_time(start)}, compressed"
        parts.append(
            f'<rect {_paint("lead-in")} x="{LEFT}" y="{TOP}" width="{LEAD_IN}" height="{bottom - TOP:.1f}">'
            f"<title>{_esc(elided)}</title></rect>"
        )
    parts += bars

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
            f'<circle {_paint(f"marker {_class(e.kind)}{_tone(e.kind)}")} cx="{cx:.1f}" cy="{cy:.1f}" r="4">'
            f"<title>{_esc(tip)}</title></circle>"
        )

    # Milestones: vertical lines with labels in rows above the lanes, placed so that no label touches
    # another or crosses a milestone's line.
    milestones = [
        (name, f"{label} {utc(at):%H:%M:%S}", at)
        for name, label, at in (
            ("detected", "Detected", m.detected_at),
            ("acknowledged", "Acknowledged", m.acknowledged_at),
            ("mitigated", "Mitigated", m.mitigated_at),
            ("resolved", "Resolved", m.resolved_at),
        )
        if at is not None
    ]
    xs = [x(at) for _, _, at in milestones]
    layout = _milestone_layout(xs, [label for _, label, _ in milestones])
    for (name, label, at), mx, (row, anchor) in zip(milestones, xs, layout, strict=True):
        ly = MILESTONE_ROWS[row]
        parts.append(
            f'<line {_paint(f"milestone milestone-{name}")} x1="{mx:.1f}" y1="{ly + 3}" '
            f'x2="{mx:.1f}" y2="{bottom:.1f}">'
            f"<title>{_esc(f'{label.split()[0]} at {fmt_time(at)}')}</title></line>"
            + _label("milestone-label", mx + 3 if anchor == "start" else mx - 3, ly, label, anchor=anchor)
        )

    # The time axis: ticks over the incident's own span; a broken, dashed stretch for the lead-in.
    ticks, fmt = _ticks(x.focus, end)
    axis = [
        f'<g class="axis"><line {_paint("axis-line")} x1="{x.left}" y1="{bottom:.1f}" '
        f'x2="{WIDTH - RIGHT}" y2="{bottom:.1f}"/>'
    ]
    if x.lead_in:
        b = LEFT + LEAD_IN + _GAP / 2
        axis.append(
            f'<line {_paint("axis-line")} x1="{LEFT}" y1="{bottom:.1f}" x2="{LEFT + LEAD_IN}" '
            f'y2="{bottom:.1f}" stroke-dasharray="2 3"/>'
            + "".join(
                f'<line {_paint("break")} x1="{bx - 4:.1f}" y1="{bottom + 5:.1f}" x2="{bx:.1f}" '
                f'y2="{bottom - 5:.1f}"/>'
                for bx in (b, b + 4)
            )
            + _label(
                "lead-in-label",
                LEFT + LEAD_IN / 2,
                bottom + 17,
                f"… {_coarse(x.focus - start)}",
                anchor="middle",
            )
        )
    for t in ticks:
        tx = x(t)
        axis.append(
            f'<line {_paint("tick")} x1="{tx:.1f}" y1="{bottom:.1f}" x2="{tx:.1f}" y2="{bottom + 5:.1f}"/>'
            + _label("tick-label", tx, bottom + 17, t.strftime(fmt), anchor="middle")
        )
    axis.append("</g>")
    legend, legend_bottom = _legend(bottom + 40)
    height = int(legend_bottom + 30)
    footer = f"Times in UTC, {fmt_time(start)} to {fmt_time(end)}."
    if x.lead_in:
        footer += (
            f" The {fmt_duration(x.focus - start)} before {fmt_time(x.focus)} are compressed at the left."
        )
    heading = f"Incident {state.id} · {state.priority} · {state.title}"
    if len(heading) > 120:
        heading = heading[:119] + "…"
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" font-size="11">',
            f"<title>{_esc(f'Timeline of incident {state.id} ({state.priority}): {state.title}')}</title>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            _label("title", 8, 20, heading),
            *parts,
            "".join(axis),
            *legend,
            _label("footer", 8, height - 8, footer),
            "</svg>",
            "",
        ]
    )
