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
        self, verb: str, group: str, resource: str, namespace: str, *, subresource: str = "", name: str = ""
    ) -> tuple[bool, str]:
        """Whether Medic's identity may, and the authorizer's reason."""

    def served(self, group: str, version: str, resource: str = "") -> bool:
        """Whether the API serves the group/version (a CRD installed), and ``resource`` in it if given."""


def _listed(permissions: list[Permission]) -> str:
    return ", ".join(str(p) for p in permissions)


# The GitOps resources a step reads before acting (remediations/gitops.py), where they usually live.
_READS = (
    ("argoproj.io", "v1alpha1", "applications", "Argo CD's Applications", None),
    ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Flux Kustomizations", "flux-system"),
    ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "Flux HelmReleases", "flux-system"),
)


def preflight(
    reviewer: AccessReviewer,
    runbooks: list[Runbook],
    namespaces: list[str],
    *,
    mode: str = "auto",
    argocd_namespace: str = "argocd",
) -> Iterator[Line]:
    """A line per runbook and namespace: ok, or what it may not do there. ``namespaces``:
    MEDIC_REMEDIATION_NAMESPACES (empty: any, asked cluster-wide); ``mode``: MEDIC_REMEDIATION_MODE (a dry
    run only reads, so a missing write is a warning then). An API that cannot be asked stops the check with
    a warning: nothing is known then."""
    where = namespaces or [""]
    asked: dict[tuple[str, ...], bool] = {}  # one review per question, whatever step asks it
    for runbook in runbooks:
        for namespace, wanted in runbook_needs(runbook, where).items():
            if namespaces and namespace not in namespaces:
                yield (
                    "warn",
                    f"runbook {runbook.name} acts in namespace {namespace}, which "
                    "MEDIC_REMEDIATION_NAMESPACES leaves out: it is always blocked there",
                )
                continue
            missing: list[Permission] = []
            for permission in wanted:
                p = permission
                key = (p.verb, p.group, p.resource, p.subresource, p.name, namespace)
                if key not in asked:
                    try:
                        asked[key], _ = reviewer.may(
                            permission.verb,
                            permission.group,
                            permission.resource,
                            namespace,
                            subresource=permission.subresource,
                            name=permission.name,
                        )
                    except Exception as err:  # not known: said once, and nothing more is asked
                        yield "warn", f"cannot ask the Kubernetes API what Medic may do: {err}"
                        return
                if not asked[key]:
                    missing.append(permission)
            yield _line(runbook, namespace, missing, dry_run=mode == "dry-run")
    if runbooks:
        yield from _gitops_reads(reviewer, argocd_namespace)


def _gitops_reads(reviewer: AccessReviewer, argocd_namespace: str) -> Iterator[Line]:
    """Whether Medic may read the GitOps resources installed here (a step on what one applies is a "may",
    and refused, where it may not): Argo CD's Applications in MEDIC_ARGOCD_NAMESPACE, Flux's in
    flux-system (where its own live; a team's elsewhere needs the same)."""
    for group, version, resource, what, usual in _READS:
        try:
            if not reviewer.served(group, version, resource):
                continue
            namespace = usual or argocd_namespace
            allowed, _ = reviewer.may("get", group, resource, namespace)
        except Exception as err:  # said, and the next one asked all the same
            yield "warn", f"cannot ask the Kubernetes API whether Medic may read {what}: {err}"
            continue
        if allowed:
            yield "ok", f"Medic may read {what} in {namespace}"
        else:
            yield (
                "warn",
                f"Medic may not read {what} in {namespace}: a step on what they apply is a 'may', and "
                "refused unless its runbook says reconcilers: ignore (chart: remediation.gitops.namespaces)",
            )


def _line(runbook: Runbook, namespace: str, missing: list[Permission], *, dry_run: bool) -> Line:
    place = (
        f"in namespace {namespace}" if namespace else "cluster-wide (MEDIC_REMEDIATION_NAMESPACES is empty)"
    )
    grant = (
        "the chart's remediation.rbac, or a Role of yours"
        if namespace
        else "a ClusterRole bound to the worker: the chart makes Roles only in remediation.namespaces"
    )
    needed = [p for p in missing if p.required and not p.by_name]
    writes = [p for p in needed if p.writes]
    if needed and not (dry_run and len(writes) == len(needed)):
        return (
            "error",
            f"runbook {runbook.name} cannot act {place}: Medic may not {_listed(needed)} ({grant})",
        )
    notes = []
    if writes:
        notes.append(
            f"may not {_listed(writes)}: needed once MEDIC_REMEDIATION_MODE is approve or auto ({grant})"
        )
    named = [p for p in missing if p.by_name]
    if named:
        notes.append(
            f"may not {_listed(named)} without a name: fine where a Role grants them by name only "
            "(the chart's circuitBreakUpstreams), but then only for the upstreams it names"
        )
    safer = [p for p in missing if not p.required]
    if safer:
        notes.append(
            f"may not {_listed(safer)}: it cannot tell whether an autoscaler or a GitOps reconciler would "
            "undo its steps (nor, for a runbook matched by when its target rolled out, when it did)"
        )
    if notes:
        return "warn", f"runbook {runbook.name} {place}: Medic " + "; ".join(notes)
    return "ok", f"runbook {runbook.name} may act {place}"


def say(lines: Iterator[Line]) -> list[Line]:
    """Log each line (a worker at start): errors at ERROR, warnings at WARNING, the rest at INFO."""
    said = []
    for level, text in lines:
        log.log({"ok": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}[level], "%s", text)
        said.append((level, text))
    return said
