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
_PYRRA = {"1h": 14.0, "6h": 7.0, "1d": 2.0, "4d": 1.0}
_WORKBOOK = {"1h": 14.4, "6h": 6.0, "1d": 3.0, "3d": 1.0}
_PYRRA_WINDOW_HOURS = 28 * 24.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(m|h|d|w)$")
_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}


class SloBurn(BaseModel):
    rate: float
    window: str | None = None
    slo: str | None = None
    exhaustion: str | None = None
    budget_left: float | None = None

    def describe(self) -> str:
        parts = [f"{self.rate:g}x"]
        if self.slo:
            parts.append(f"SLO {self.slo}")
        if self.window:
            parts.append(f"over {self.window}")
        if self.exhaustion:
            parts.append(f"budget gone in {self.exhaustion}")
        if self.budget_left is not None:
            parts.append(f"{self.budget_left:.0%} of the budget left")
        return ", ".join(parts)


def _hours(text: str | None) -> float | None:
    m = _DURATION.match(text or "")
    return float(m.group(1)) * _HOURS[m.group(2)] if m else None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def slo_burn(labels: dict[str, str], annotations: dict[str, str]) -> SloBurn | None:
    """The burn an alert reports, or None when it is not an SLO burn alert."""
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
        if rate is None:
            return None
        return SloBurn(rate=rate, window=short, slo=labels.get("sloth_slo"), budget_left=left)
    if "slo" in labels and long:
        hours = _hours(labels.get("exhaustion"))
        rate = round(_PYRRA_WINDOW_HOURS / hours, 2) if hours else _PYRRA.get(long)
        if rate is None:
            return None
        return SloBurn(
            rate=rate, window=window, slo=labels["slo"], exhaustion=labels.get("exhaustion"), budget_left=left
        )
    if long and short and (rate := _WORKBOOK.get(long)) is not None:
        return SloBurn(rate=rate, window=window, budget_left=left)
    return None
