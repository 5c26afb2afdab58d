"""A Deployment's revisions in people's terms: releases, not restarts.

A rolling restart (``kubectl rollout restart``, Medic's ``restart`` step) writes the
``kubectl.kubernetes.io/restartedAt`` annotation into the pod template. The deployment controller takes
any template change for a new one: it makes a ReplicaSet and gives it the next revision number, though it
runs the very release it ran before (the same images, environment, everything). Taken at their word, the
numbers mislead twice, so two rules live here, for the rollback action and the Kubernetes adapter alike:

- a rollback goes to the newest earlier revision whose template differs from the running one in more than
  the restart annotations (:func:`previous_release`). "The previous revision" right after a restart is the
  crashing release itself, and rolling back to it changes nothing but the pods;
- a release rolled out when the first ReplicaSet with its template, restart annotations aside, was created
  (:func:`released_at`). A restart makes a fresh ReplicaSet, not a fresh release, so "rolled out within N
  minutes" stays false after one.

Restart annotations are those a restart writes and nothing else does: Medic's restart step writes
kubectl's (remediations.actions.Restart), so it is the one.
"""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediations.ports import Revision, RolloutInfo

__all__ = [
    "RESTARTED_AT",
    "RESTART_ANNOTATIONS",
    "Choice",
    "find",
    "images",
    "images_recorded",
    "listed",
    "previous_release",
    "release",
    "released_at",
    "shown",
]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTART_ANNOTATIONS = frozenset({RESTARTED_AT})
_HASH_LABEL = "pod-template-hash"  # the controller's, on a ReplicaSet's template; not part of a release


def release(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template without what a restart writes (nor the controller's hash label): two templates
    with the same release run the same thing."""
    result = copy.deepcopy(dict(template))
    meta = result.get("metadata")
    if isinstance(meta, dict):
        for key, drop in (("annotations", RESTART_ANNOTATIONS), ("labels", {_HASH_LABEL})):
            values = meta.get(key)
            if isinstance(values, dict):
                for name in drop:
                    values.pop(name, None)
                if not values:
                    del meta[key]
        if not meta:
            del result["metadata"]
    return result


def images(template: Mapping[str, Any]) -> dict[str, str]:
    """Container name -> image, init containers included (names are unique across both in a pod)."""
    spec = template.get("spec") or {}
    found: dict[str, str] = {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            found[str(container.get("name", ""))] = str(container.get("image", ""))
    return found


@dataclass(frozen=True)
class Choice:
    """Where a rollback goes: ``revision`` (None: nowhere), ``skipped``: the newer revisions passed over
    because they run the same release as now, newest first."""

    revision: int | None
    skipped: tuple[int, ...] = ()

    def why_none(self, current: int) -> str:
        """Why there is nowhere to go, for a person."""
        if not self.skipped:
            return "no previous revision to roll back to"
        numbers = [current, *self.skipped]
        by = "a restart" if len(numbers) == 2 else "restarts"
        return f"no earlier release than the running one: revisions {listed(numbers)} differ only by {by}"

    def passed_over(self) -> str:
        """Why the newer revisions were not taken, for a person ('' when none were)."""
        if not self.skipped:
            return ""
        if len(self.skipped) == 1:
            return f"revision {self.skipped[0]} differs from the running one only by a restart"
        return f"revisions {listed(self.skipped)} differ from the running one only by restarts"


def listed(numbers: Sequence[int]) -> str:
    """3 / 3 and 2 / 4, 3 and 2."""
    said = [str(n) for n in numbers]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + f" and {said[-1]}"


def previous_release(info: RolloutInfo) -> Choice:
    """The newest earlier revision whose pod template differs from the running one in more than the
    restart annotations. A cluster that does not tell templates (``history`` empty) gets the newest earlier
    revision, each counting as a release of its own."""
    if info.template is None or not info.history:
        return Choice(info.previous[0] if info.previous else None)
    running, skipped = release(info.template), list[int]()
    for revision in sorted(info.history, key=lambda r: r.revision, reverse=True):
        if revision.revision == info.revision or revision.revision in info.runs:
            continue
        if release(revision.template) != running:
            return Choice(revision.revision, tuple(skipped))
        skipped.append(revision.revision)
    return Choice(None, tuple(skipped))


def find(history: Sequence[Revision], number: int) -> Revision | None:
    """The revision that has or had ``number`` (a rollback re-numbers the template it puts back)."""
    return next((r for r in history if r.revision == number), None) or next(
        (r for r in history if number in r.earlier), None
    )


def released_at(template: Mapping[str, Any], history: Sequence[Revision]) -> datetime | None:
    """When the running release rolled out: the creation of the oldest ReplicaSet with its template,
    restart annotations aside. None when no ReplicaSet has it yet, when one lacks its creation time, and
    when a rollback re-used one of them (its creation time is that of the release's first rollout, not
    of its return, which no object records)."""
    running = release(template)
    same = [r for r in history if release(r.template) == running]
    if not same or any(r.earlier for r in same):
        return None
    created = [r.created for r in same]
    return None if any(c is None for c in created) else min(c for c in created if c is not None)


def images_recorded(value: Any) -> dict[str, str] | None:
    """Images as a snapshot recorded them (None: a snapshot from before they were)."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def shown(these: dict[str, str] | None, others: dict[str, str] | None) -> str:
    """`` (app:2)`` for one container; for several, those whose image the rollback changes, by name;
    nothing when the snapshot recorded no images (a history from before they were)."""
    if these is None or others is None:
        return ""
    if len(these) == 1 and set(these) == set(others):
        return f" ({next(iter(these.values()))})"
    changed = sorted(name for name in these if these[name] != others.get(name))
    return " (" + ", ".join(f"{name} {these[name]}" for name in changed) + ")" if changed else ""
