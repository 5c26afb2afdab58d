"""Acting only on the object the plan found: what a remediation step checks before it writes.

A step's ``apply`` may run twice: Temporal retries it when a worker dies with the write in flight (the
answer is lost, not necessarily the write). Setting absolute values makes the repeat harmless only if
nobody touched the target in between; if someone scaled it by hand meanwhile, writing the planned value
again would undo their change. So the step compares what the plan read, what it wants and what is there
now, and acts only in the first case.

Undoing is the same decision with other inputs: a compensation expects the object as Medic's own step
left it and wants it as the plan found it; a person's change since is left alone (``basis`` words it).
"""

from collections.abc import Callable, Mapping
from typing import Any

from remediations.ports import ClusterConflict

__all__ = ["LEFT_BY_MEDIC", "ChangedMeanwhile", "still_as_planned", "write_if_as_planned"]

LEFT_BY_MEDIC = "Medic's step left"
"""``basis`` for a compensation: what it expects is what the step it undoes wrote."""


class ChangedMeanwhile(Exception):
    """The target is no longer as the plan found it: someone (or something) changed it since. Nothing was
    written; the remediation records what it found instead of acting over that change."""


def still_as_planned(
    target: str,
    *,
    planned: Mapping[str, Any],
    wanted: Mapping[str, Any],
    found: Mapping[str, Any],
    basis: str = "the plan found",
) -> bool:
    """Whether a step should write, given what the plan read (``planned``), what the step sets
    (``wanted``) and what the target holds now (``found``), over the same keys.

    True: as the plan found it, act. False: already as wanted, so write nothing (an earlier attempt of
    this very step landed and its answer was lost; a retry must not act twice). Anything else raises
    :class:`ChangedMeanwhile` naming what changed.
    """
    found, wanted, planned = dict(found), dict(wanted), dict(planned)
    if found == wanted:
        return False
    if found == planned:
        return True
    changes = ", ".join(
        f"{key} is {found.get(key)!r} ({basis} {planned.get(key)!r} and would set {wanted.get(key)!r})"
        for key in sorted(planned.keys() | found.keys())
        if found.get(key) != planned.get(key)
    )
    raise ChangedMeanwhile(f"{target} changed since Medic read it: {changes}")


def write_if_as_planned(
    target: str,
    *,
    planned: Mapping[str, Any],
    wanted: Mapping[str, Any],
    found: Mapping[str, Any],
    write: Callable[[], object],
    basis: str = "the plan found",
) -> bool:
    """:func:`still_as_planned`, then ``write`` when it says act. ``write`` carries the same precondition
    to the cluster (``expect``, a resourceVersion), so a change landing between the read and the write
    is :class:`ChangedMeanwhile` too. True when it wrote."""
    if not still_as_planned(target, planned=planned, wanted=wanted, found=found, basis=basis):
        return False
    try:
        write()
    except ClusterConflict as err:
        raise ChangedMeanwhile(f"{target} changed as Medic was about to write: {err}") from err
    return True
