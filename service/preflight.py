"""Whether the runbooks can act where they may: each step's permissions (remediations/permissions.py)
asked of the Kubernetes API as Medic's own identity, in each namespace they would act in. The worker says it
at start (a missing grant is an ERROR line then, not a 403 at 3 a.m.), ``medic doctor`` as its lines.
"""

import logging
from collections.abc import Iterator
from typing import Literal, Protocol

from medic.runbook import Runbook
from remediations.permissions import Permission, runbook_needs

__all__ = ["AccessReviewer", "Line", "preflight", "say"]

log = logging.getLogger("medic.preflight")
Line = tuple[Literal["ok", "warn", "error"], str]


class AccessReviewer(Protocol):
    def may(
        self, verb: str, group: str, resource: str, namespace: str, subresource: str = ""
    ) -> tuple[bool, str]:
        """Whether Medic's identity may, and the authorizer's reason."""


def preflight(reviewer: AccessReviewer, runbooks: list[Runbook], namespaces: list[str]) -> Iterator[Line]:
    """A line per runbook and namespace: ok, or what it may not do there. ``namespaces``:
    MEDIC_REMEDIATION_NAMESPACES (empty: any, asked cluster-wide). An API that cannot be asked stops the
    check with a warning: nothing is known then."""
    where = namespaces or [""]
    asked: dict[tuple[Permission, str], bool] = {}
    for runbook in runbooks:
        for namespace, wanted in runbook_needs(runbook, where).items():
            missing: list[Permission] = []
            for permission in wanted:
                key = (permission, namespace)
                if key not in asked:
                    try:
                        asked[key], _ = reviewer.may(
                            permission.verb,
                            permission.group,
                            permission.resource,
                            namespace,
                            permission.subresource,
                        )
                    except Exception as err:  # not known: said once, and nothing more is asked
                        yield "warn", f"cannot ask the Kubernetes API what Medic may do: {err}"
                        return
                if not asked[key]:
                    missing.append(permission)
            place = f"in namespace {namespace}" if namespace else "in any namespace"
            needed = [p for p in missing if p.required]
            if needed:
                yield (
                    "error",
                    f"runbook {runbook.name} cannot act {place}: Medic may not "
                    f"{', '.join(str(p) for p in needed)} (the chart's remediation.rbac, or a Role of yours)",
                )
            elif missing:
                yield (
                    "warn",
                    f"runbook {runbook.name} {place}: Medic may not {', '.join(str(p) for p in missing)}: it "
                    "cannot tell whether an autoscaler or a GitOps reconciler would undo its steps",
                )
            else:
                yield "ok", f"runbook {runbook.name} may act {place}"


def say(lines: Iterator[Line]) -> list[Line]:
    """Log each line (a worker at start): errors at ERROR, warnings at WARNING, the rest at INFO."""
    said = []
    for level, text in lines:
        log.log({"ok": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}[level], "%s", text)
        said.append((level, text))
    return said
