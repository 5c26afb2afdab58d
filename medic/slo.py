"""How fast an alert says an SLO's error budget burns, from the labels SLO generators put on it.

* Sloth (https://github.com/slok/sloth): ``sloth_service``, ``sloth_slo``, ``sloth_severity`` and
  ``sloth_window``, the short window of the multi-window pair that fired (5m/1h at 14.4x, 30m/6h at 6x
  for ``page``; 2h/1d at 3x, 6h/3d at 1x for ``ticket``, the Google SRE workbook's windows).
* Pyrra (https://github.com/pyrra-dev/pyrra): ``slo``, ``short``/``long`` windows and ``exhaustion``,
  the time until the budget is gone at this rate: burn rate = SLO window / exhaustion (Pyrra's windows
  are 4 weeks by default: 5m/1h at 14x, 30m/6h at 7x, 2h/1d at 2x, 6h/4d at 1x).
* Plain multi-window burn-rate alerts (kubernetes-mixin's ``KubeAPIErrorBudgetBurn``): ``short`` and
  ``long`` only, at the workbook's factors for a 30-day SLO.
* Anything with an explicit ``burn_rate`` label or annotation.

A burn-rate alert fires once the rate reaches its factor, so the factor is a lower bound of the rate.
Label shapes: tests/fixtures/alerts/slo-generators.json.
"""

import re

from pydantic import BaseModel

__all__ = ["SloBurn", "slo_burn"]

# Short window -> factor (Sloth), long window -> factor (Pyrra at 28 days, the workbook at 30 days).
_SLOTH = {"5m": 14.4, "30m": 6.0, "2h": 3.0, "6h": 1.0}
# Sloth from v0.11 drops sloth_window from its alerts (`max(...) without (sloth_window)`): its severity
# still says which pair fired, page (14.4x or 6x: at least 6) or ticket (3x or 1x: at least 1).
_SLOTH_SEVERITY = {"page": 6.0, "ticket": 1.0}
_PYRRA = {"1h": 14.0, "6h": 7.0, "1d": 2.0, "4d": 1.0}
_WORKBOOK = {"1h": 14.4, "6h": 6.0, "1d": 3.0, "3d": 1.0}
_PYRRA_WINDOW_HOURS = 28 * 24.0
# Pyrra scales its windows with the SLO's (slo/rules.go: long = window/672, /112, /28, /7 for the factors
# 14, 7, 2, 1, exhaustion = window/factor): exhaustion/long is 48, 16, 14 or 7 whatever the window, so the
# pair that fired is known without it. (exhaustion/long, factor)
_PYRRA_PAIRS = ((48.0, 14.0), (16.0, 7.0), (14.0, 2.0), (7.0, 1.0))
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_HOURS = {"ms": 1 / 3_600_000, "s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0, "y": 8760.0}


class SloBurn(BaseModel):
    rate: float
    window: str | None = None
    slo: str | None = None
    exhaustion: str | None = None
    budget_left: float | None = None
    slo_window: str | None = None  # the SLO's own window (Pyrra's, told by its windows), when known
    at_least: bool = False  # only a lower bound is known (a Sloth v0.11 alert: its severity's)

    def describe(self) -> str:
        parts = [f"at least {self.rate:g}x" if self.at_least else f"{self.rate:g}x"]
        if self.slo:
            parts.append(f"SLO {self.slo}" + (f" ({self.slo_window})" if self.slo_window else ""))
        if self.window:
            parts.append(f"over {self.window}")
        if self.exhaustion:
            parts.append(f"budget gone in {self.exhaustion}")
        if self.budget_left is not None:
            parts.append(f"{self.budget_left:.0%} of the budget left")
        return ", ".join(parts)


def _hours(text: str | None) -> float | None:
    """A Prometheus duration (``1h4m``, ``2d3h25m42s857ms``: Pyrra writes its windows so) in hours."""
    parts = list(_DURATION.finditer(text or ""))
    if not parts or "".join(m.group() for m in parts) != text:
        return None
    return sum(float(m.group(1)) * _HOURS[m.group(2)] for m in parts)


def _window(hours: float) -> str:
    days = hours / 24.0
    return f"{round(days)}d" if abs(days - round(days)) < 0.01 else f"{hours:.3g}h"


def _pyrra(long: str, exhaustion: str | None) -> tuple[float, str | None] | None:
    """(rate, the SLO's window) of a Pyrra burn alert: its pair told by exhaustion over long (a window of
    30 days read as 28: its page alerts were no burn, its ticket ones 1.87x and 0.93x; 7 days read 56x)."""
    long_h, left_h = _hours(long), _hours(exhaustion)
    if long_h and left_h:
        for ratio, factor in _PYRRA_PAIRS:
            if abs(left_h / long_h / ratio - 1) < 0.03:
                return factor, _window(left_h * factor)  # (exhaustion is not rounded, the windows are)
        return round(_PYRRA_WINDOW_HOURS / left_h, 2), None  # a pair of its own: against 4 weeks
    rate = _PYRRA.get(long)
    return (rate, None) if rate is not None else None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _hours_before(text: str | None) -> float | None:
    """How durations were read before 2026-12-07 (one unit only): an incident scored so replays so."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|h|d|w)", text or "")
    return float(m.group(1)) * _HOURS[m.group(2)] if m else None


def slo_burn(labels: dict[str, str], annotations: dict[str, str], *, current: bool = True) -> SloBurn | None:
    """The burn an alert reports, or None when it is not an SLO burn alert. ``current``: as this release
    reads it (Sloth v0.11's alerts, Pyrra's windows other than 4 weeks); False: as an incident that
    began before read it (its priority, and the pages it asked for, replay as they were)."""
    left_raw = _number(labels.get("budget_left") or annotations.get("budget_left"))
    left = left_raw if left_raw is not None and 0 <= left_raw <= 1 else None
    explicit = _number(labels.get("burn_rate") or annotations.get("burn_rate"))
    short, long = labels.get("short"), labels.get("long")
    window = f"{long}/{short}" if short and long else None
    if explicit is not None:
        return SloBurn(rate=explicit, window=window, budget_left=left)
    if "sloth_service" in labels or "sloth_slo" in labels:
        short = labels.get("sloth_window")
        rate = _SLOTH.get(short or "")
        at_least = False
        if rate is None and current and (rate := _SLOTH_SEVERITY.get(labels.get("sloth_severity", ""))):
            short, at_least = (
                None,
                True,
            )  # Sloth v0.11 and later: the pair is not said, its severity's bound is
        if rate is None:
            return None
        return SloBurn(
            rate=rate, window=short, slo=labels.get("sloth_slo"), budget_left=left, at_least=at_least
        )
    if "slo" in labels and long and not current:
        hours = _hours_before(labels.get("exhaustion"))
        rate = round(_PYRRA_WINDOW_HOURS / hours, 2) if hours else _PYRRA.get(long)
        if rate is None:
            return None
        return SloBurn(
            rate=rate, window=window, slo=labels["slo"], exhaustion=labels.get("exhaustion"), budget_left=left
        )
    if "slo" in labels and long:
        found = _pyrra(long, labels.get("exhaustion"))
        if found is None:
            return None
        rate, slo_window = found
        return SloBurn(
            rate=rate,
            window=window,
            slo=labels["slo"],
            exhaustion=labels.get("exhaustion"),
            budget_left=left,
            slo_window=slo_window,
        )
    if long and short and (rate := _WORKBOOK.get(long)) is not None:
        return SloBurn(rate=rate, window=window, budget_left=left)
    return None
