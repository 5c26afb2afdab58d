"""Acting only on the object the plan found: what a remediation step checks before it writes.

A step's ``apply`` may run twice: Temporal retries it when a worker dies with the write in flight (the
answer is lost, not necessarily the write). Setting absolute values makes the repeat harmless only if
nobody touched the target in between; if someone scaled it by hand meanwhile, writing the planned value
again would undo their change. So the step compares what the plan read, what it wants and what is there
now, and acts only in the first case.
"""

from collections.abc import Mapping
from typing import Any

__all__ = ["ChangedMeanwhile", "still_as_planned"]


class ChangedMeanwhile(Exception):
    """The target is no longer as the plan found it: someone (or something) changed it since. Nothing was
    written; the remediation records what it found instead of acting over that change."""


def still_as_planned(
    target: str, *, planned: Mapping[str, Any], wanted: Mapping[str, Any], found: Mapping[str, Any]
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
        f"{key} is {found.get(key)!r} (the plan found {planned.get(key)!r} and would set {wanted.get(key)!r})"
        for key in sorted(planned.keys() | found.keys())
        if found.get(key) != planned.get(key)
    )
    raise ChangedMeanwhile(f"{target} changed since Medic read it: {changes}")
