"""Severity words on one scale.

Alert sources spell severity in many ways (critical/page, error/major, warning/minor,
info/informational/none). Ranking them on one scale lets an incident take the worst
severity among its firing alerts.
"""

from collections.abc import Iterable

__all__ = ["SEVERITY_RANK", "canonical_severity", "worst_severity"]

_ALIASES = {
    "critical": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "error": "error",
    "major": "error",
    "high": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "medium": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
}

SEVERITY_RANK = {"critical": 4, "error": 3, "warning": 2, "info": 1}


def canonical_severity(raw: str | None) -> str:
    """Map a source's severity word onto critical/error/warning/info (unknown -> warning)."""
    if not raw:
        return "warning"
    return _ALIASES.get(raw.strip().lower(), "warning")


def worst_severity(severities: Iterable[str]) -> str:
    return max((canonical_severity(s) for s in severities), key=SEVERITY_RANK.__getitem__, default="info")
