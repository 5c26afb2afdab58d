"""Kubernetes object names and namespaces, checked the way the API server checks them.

A runbook binds names from alert labels (``${alert.labels.namespace}``), and a label can hold anything:
placeholder text, a path, 64 characters. Each bound name is checked against the rule for its kind
before a plan is made, so a bad label is refused with a reason on the timeline instead of reaching the
cluster (or a plan, a lock key, an approval request). The rules are those of the API server's
validation (k8s.io/apimachinery/pkg/util/validation, and "Object Names and IDs",
https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
"""

import re
from enum import Enum

__all__ = ["NameRule", "name_problem"]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


class NameRule(Enum):
    """(pattern, longest, what it is called in an error)."""

    # Namespaces, and names that become DNS labels.
    DNS1123_LABEL = (
        re.compile(rf"^{_LABEL}$"),
        63,
        "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit",
    )
    # Most object names: Deployments, StatefulSets, HPAs, ConfigMaps, HTTPRoutes, VirtualServices.
    DNS1123_SUBDOMAIN = (
        re.compile(rf"^{_LABEL}(\.{_LABEL})*$"),
        253,
        "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a "
        "letter or digit",
    )
    # Service names.
    DNS1035_LABEL = (
        re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
        63,
        "a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a "
        "letter or digit",
    )


def name_problem(field: str, value: str, rule: NameRule, *, what: str) -> str | None:
    """Why ``value`` cannot be the ``what`` in ``field``, or None when it can."""
    pattern, longest, described = rule.value
    if len(value) > longest:
        return (
            f"{field} ({value[:40]!r}…, {len(value)} characters) is too long for a {what}: at most {longest}"
        )
    if not pattern.match(value):
        return f"{field} {value[:80]!r} is not a valid {what}: it must be {described}"
    return None
