"""The search attributes Medic keeps current on every incident (CONTRACT.md)."""

from temporalio.common import SearchAttributeKey

__all__ = ["ALL", "IMPACT", "PRIORITY", "SERVICES", "SEVERITY", "STATUS"]

STATUS = SearchAttributeKey.for_keyword("MedicStatus")
PRIORITY = SearchAttributeKey.for_keyword("MedicPriority")
IMPACT = SearchAttributeKey.for_float("MedicImpact")
SERVICES = SearchAttributeKey.for_keyword_list("MedicServices")
SEVERITY = SearchAttributeKey.for_keyword("MedicSeverity")

ALL = (STATUS, PRIORITY, IMPACT, SERVICES, SEVERITY)
