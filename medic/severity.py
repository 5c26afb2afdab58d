"""Severity ranking and the first, severity-only, priority.

Alert sources spell severity in many ways (critical/page, error/major, warning/minor,
info/informational/none). Ranking them on one scale lets an incident take the worst
severity among its firing alerts. Business-impact scoring refines the priority later;
this is the floor it starts from.
"""

__all__ = ["SEVERITY_RANK", "canonical_severity", "priority_for", "severity_impact", "worst_severity"]

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
_PRIORITY = {"critical": "P2", "error": "P3", "warning": "P4", "info": "P5"}
_IMPACT = {"critical": 60.0, "error": 40.0, "warning": 20.0, "info": 5.0}


def canonical_severity(raw: str | None) -> str:
    """Map a source's severity word onto critical/error/warning/info (unknown -> warning)."""
    if not raw:
        return "warning"
    return _ALIASES.get(raw.strip().lower(), "warning")


def worst_severity(severities: list[str]) -> str:
    if not severities:
        return "info"
    return max((canonical_severity(s) for s in severities), key=SEVERITY_RANK.__getitem__)


def priority_for(severity: str) -> str:
    return _PRIORITY[canonical_severity(severity)]


def severity_impact(severity: str) -> float:
    return _IMPACT[canonical_severity(severity)]
