"""The search attributes Medic keeps current on every incident (CONTRACT.md)."""

from typing import Any

from temporalio.common import SearchAttributeKey

__all__ = ["ACTION", "ALL", "IMPACT", "PRIORITY", "SERVICES", "SEVERITY", "STATUS"]

STATUS = SearchAttributeKey.for_keyword("MedicStatus")
PRIORITY = SearchAttributeKey.for_keyword("MedicPriority")
IMPACT = SearchAttributeKey.for_float("MedicImpact")
SERVICES = SearchAttributeKey.for_keyword_list("MedicServices")
SEVERITY = SearchAttributeKey.for_keyword("MedicSeverity")


# The outcome of a remediation workflow (dry-run, executed, verified, rolled-back, blocked, denied, ...).
ACTION = SearchAttributeKey.for_keyword("MedicAction")
ALL: tuple[SearchAttributeKey[Any], ...] = (STATUS, PRIORITY, IMPACT, SERVICES, SEVERITY, ACTION)
