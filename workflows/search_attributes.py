"""The search attributes Medic keeps current on every incident (CONTRACT.md)."""

import re
from typing import Any

from temporalio.common import SearchAttributeKey

__all__ = ["ACTION", "ALL", "IMPACT", "PRIORITY", "SERVICES", "SEVERITY", "STATUS", "TITLE", "literal"]

STATUS = SearchAttributeKey.for_keyword("MedicStatus")
PRIORITY = SearchAttributeKey.for_keyword("MedicPriority")
IMPACT = SearchAttributeKey.for_float("MedicImpact")
SERVICES = SearchAttributeKey.for_keyword_list("MedicServices")
SEVERITY = SearchAttributeKey.for_keyword("MedicSeverity")


_LITERAL = re.compile(r"[^'\"\\\n]{0,256}")


def literal(value: str) -> str:
    """``value`` quoted for a visibility query; ValueError for one that could change the query's meaning
    (a quote or backslash: alert labels are not trusted input)."""
    if not _LITERAL.fullmatch(value):
        raise ValueError(f"{value!r} cannot be used in a visibility query")
    return f"'{value}'"


# The outcome of a remediation workflow (dry-run, executed, verified, rolled-back, blocked, denied, ...).
ACTION = SearchAttributeKey.for_keyword("MedicAction")
# The incident's title ("P2 · CheckoutHighErrorRate on checkout" without the priority): a column that makes
# the Temporal UI's workflow list read like an incident list, on every run (a continued run has no Summary).
TITLE = SearchAttributeKey.for_keyword("MedicTitle")
ALL: tuple[SearchAttributeKey[Any], ...] = (STATUS, PRIORITY, IMPACT, SERVICES, SEVERITY, ACTION, TITLE)
