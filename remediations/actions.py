"""The remediation actions: read what will change, set absolute values, and undo from the record.

Each action works in three idempotent calls, each its own Temporal activity:
``snapshot`` reads the state it will change (recorded in history), ``apply`` sets absolute
values computed from that snapshot, ``compensate`` puts the snapshot back. A restart is stamped with
the workflow's time, so a retry restarts nothing twice.

Every write goes through :func:`write_if_as_planned`: ``apply`` acts only on the object the plan found
(a retry whose first attempt landed finds the values it wanted and writes nothing; a target someone
changed in between, scaled by hand to 3 while Medic's 6 was in flight, is :class:`ChangedMeanwhile`,
recorded, never overwritten), and ``compensate`` undoes only what is still as Medic's step left it (a
person's change since is theirs: :class:`ChangedMeanwhile` again). What the step left is computed from
the snapshot and the stamp, so an undo needs nothing the step's answer carried. The write itself carries
the same precondition (``expect``), so a change between the read and the write is caught too.
Traffic actions (circuit break, reroute) live in remediations/traffic.py.
"""

import math
from typing import Any, Protocol

from medic.runbook import RestartStep, RollbackStep, ScaleStep, Step
from remediations.errors import ActionError, NothingToDo
from remediations.gitops import FieldPath
from remediations.ports import Cluster, ClusterError, ObjectRef, Permission, RolloutInfo
from remediations.preconditions import LEFT_BY_MEDIC, write_if_as_planned
from remediations.rollout import (
    RESTARTED_AT,
    Choice,
    find,
    images,
    images_recorded,
    previous_release,
    shown,
)
from remediations.traffic import CircuitBreak, Reroute

__all__ = [
    "ACTIONS",
    "Action",
    "ActionError",
    "ActionRegistry",
    "CircuitBreak",
    "NothingToDo",
    "Reroute",
    "Restart",
    "Rollback",
    "Scale",
    "default_registry",
]

_RESTARTED_AT_PATH = "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"


class Action(Protocol):
    name: str

    def target(self, step: Any) -> ObjectRef: ...

    def snapshot(self, cluster: Cluster, step: Any) -> dict[str, Any]: ...

    def apply(self, cluster: Cluster, step: Any, before: dict[str, Any], stamp: str) -> dict[str, Any]: ...

    def compensate(self, cluster: Cluster, step: Any, before: dict[str, Any], stamp: str = "") -> bool:
        """Put ``before`` back if the target is still as ``apply`` (stamped ``stamp``) left it; False
        when the action cannot be undone (a restart)."""

    def describe(self, step: Any, before: dict[str, Any]) -> str: ...

    def writes(self, step: Any, before: dict[str, Any] | None = None) -> list[FieldPath]:
        """The fields of :meth:`target` that ``apply`` sets (``before``: as the snapshot found them, when
        known): what a GitOps reconciler would put back."""

    def permissions(self, step: Any) -> list[Permission]:
        """What the calls of snapshot, apply and compensate need the API to allow
        (remediations/permissions.py asks them at start)."""


def _workload_resources(kind: str) -> list[str]:
    """The resources a step's target kind may be: both when it is bound from the alert."""
    if kind == "Deployment":
        return ["deployments"]
    if kind == "StatefulSet":
        return ["statefulsets"]
    return ["deployments", "statefulsets"]


def _verbs(verbs: tuple[str, ...], group: str, resource: str, **extra: Any) -> list[Permission]:
    return [Permission(verb=v, group=group, resource=resource, **extra) for v in verbs]


def _referrers(kind: str, group: str, resource: str) -> list[Permission]:
    """Listing what may drive the workload by reference (remediations/referrers.py): a Rollout's
    workloadRef names a Deployment only."""
    return [] if kind == "StatefulSet" else _verbs(("list",), group, resource, required=False)


def _workload(step: ScaleStep | RestartStep | RollbackStep) -> ObjectRef:
    return ObjectRef(
        api_version="apps/v1", kind=step.target.kind, namespace=step.target.namespace, name=step.target.name
    )


class Scale:
    name = "scale"

    def target(self, step: ScaleStep) -> ObjectRef:
        if step.hpa:
            return ObjectRef(
                api_version="autoscaling/v2",
                kind="HorizontalPodAutoscaler",
                namespace=step.target.namespace,
                name=step.hpa,
            )
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: ScaleStep) -> dict[str, Any]:
        """What the step will change; a ``factor`` step (a scale *out*) whose bounds leave no room to
        grow cannot act: a Deployment at 30 with ``max_replicas: 20`` was set to 20, an HPA's
        maxReplicas of 40 "raised" to 30 (a field walk-through, 2026-12-07)."""
        before = self._read(cluster, step)
        current = int(before["replicas"])
        if step.factor is not None and self.desired(step, before) <= current:
            what = f"HPA {step.hpa}'s {step.hpa_field} is" if step.hpa else f"{step.target.kind} runs"
            raise NothingToDo(
                f"{step.target.namespace}/{step.target.name}: the {what} {current}, at or above the step's "
                f"max_replicas {step.max_replicas}: scaling out by {step.factor:g} would not add any"
                + (" (it would scale it down)" if current > step.max_replicas else "")
            )
        if not step.hpa and step.target.kind == "StatefulSet" and _claims_go_when_scaled(cluster, step):
            before["claims_deleted_when_scaled"] = True
        return before

    def _read(self, cluster: Cluster, step: ScaleStep) -> dict[str, Any]:
        if step.hpa:
            hpa = cluster.get(self.target(step))
            if hpa is None:
                raise ActionError(f"no HorizontalPodAutoscaler {step.hpa} in {step.target.namespace}")
            spec = hpa.get("spec", {})
            current = int(spec.get("minReplicas", 1))
            if step.hpa_field == "maxReplicas":  # the bound being set is "replicas"; minReplicas stays
                return {"replicas": int(spec.get("maxReplicas", current)), "min_replicas": current}
            return {"replicas": current, "max_replicas": int(spec.get("maxReplicas", current))}
        return {"replicas": cluster.get_replicas(self.target(step))}

    @staticmethod
    def desired(step: ScaleStep, before: dict[str, Any]) -> int:
        current = int(before["replicas"])
        wanted = (
            step.replicas if step.replicas is not None else math.ceil(max(current, 1) * (step.factor or 1))
        )
        return max(step.min_replicas, min(step.max_replicas, wanted))

    def _states(self, step: ScaleStep, before: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(as the plan found it, as ``apply`` leaves it), over the keys the snapshot reads."""
        wanted = self.desired(step, before)
        if "min_replicas" in before:  # an HPA's maxReplicas: never below its minReplicas
            as_found = {"replicas": before["replicas"], "min_replicas": before["min_replicas"]}
            return as_found, {
                "replicas": max(wanted, int(before["min_replicas"])),
                "min_replicas": before["min_replicas"],
            }
        planned: dict[str, Any] = {key: before[key] for key in ("replicas", "max_replicas") if key in before}
        goal = {"replicas": wanted} | (
            {"max_replicas": max(wanted, int(before["max_replicas"]))} if "max_replicas" in before else {}
        )
        return planned, goal

    def _write(self, cluster: Cluster, step: ScaleStep, to: dict[str, Any], expect: dict[str, Any]) -> None:
        ref = self.target(step)
        if step.hpa and "min_replicas" in to:
            cluster.merge_patch(
                ref,
                {"spec": {"maxReplicas": to["replicas"]}},
                expect={"/spec/minReplicas": expect["min_replicas"], "/spec/maxReplicas": expect["replicas"]},
            )
        elif step.hpa:
            cluster.merge_patch(
                ref,
                {"spec": {"minReplicas": to["replicas"], "maxReplicas": to["max_replicas"]}},
                expect={"/spec/minReplicas": expect["replicas"], "/spec/maxReplicas": expect["max_replicas"]},
            )
        else:
            cluster.set_replicas(ref, int(to["replicas"]), expect=int(expect["replicas"]))

    def apply(self, cluster: Cluster, step: ScaleStep, before: dict[str, Any], stamp: str) -> dict[str, Any]:
        planned, goal = self._states(step, before)
        write_if_as_planned(
            str(self.target(step)),
            planned=planned,
            wanted=goal,
            found=self._read(cluster, step),
            write=lambda: self._write(cluster, step, goal, planned),
        )
        return {"replicas": goal["replicas"]}

    def compensate(self, cluster: Cluster, step: ScaleStep, before: dict[str, Any], stamp: str = "") -> bool:
        planned, left = self._states(step, before)
        write_if_as_planned(
            str(self.target(step)),
            planned=left,
            wanted=planned,
            found=self._read(cluster, step),
            write=lambda: self._write(cluster, step, planned, left),
            basis=LEFT_BY_MEDIC,
        )
        return True

    def permissions(self, step: ScaleStep) -> list[Permission]:
        if step.hpa:
            return _verbs(("get", "patch"), "autoscaling", "horizontalpodautoscalers")
        out: list[Permission] = []
        for resource in _workload_resources(step.target.kind):
            out += _verbs(("get", "patch"), "apps", resource, subresource="scale")
            out += _verbs(("get",), "apps", resource, required=False)  # who else writes it
        return [
            *out,
            *_verbs(("list",), "autoscaling", "horizontalpodautoscalers", required=False),
            *_referrers(step.target.kind, "argoproj.io", "rollouts"),
            *_verbs(("list",), "keda.sh", "scaledobjects", required=False),
        ]

    def writes(self, step: ScaleStep, before: dict[str, Any] | None = None) -> list[FieldPath]:
        if step.hpa and step.hpa_field == "maxReplicas":
            return [("spec", "maxReplicas")]
        if step.hpa:  # minReplicas, and maxReplicas where it must rise with it (else written as it is)
            rises = (
                before is not None
                and "max_replicas" in before
                and self.desired(step, before) > int(before["max_replicas"])
            )
            return [("spec", "minReplicas"), *([("spec", "maxReplicas")] if rises else [])]
        return [("spec", "replicas")]

    def describe(self, step: ScaleStep, before: dict[str, Any]) -> str:
        what = f"HPA {step.hpa} {step.hpa_field}" if step.hpa else f"{step.target.kind} replicas"
        _, goal = self._states(step, before)
        # an HPA's minReplicas above its maxReplicas raises that too (the API refuses min > max): the
        # approver is told, where the plan named minReplicas only and the ceiling rose in silence
        ceiling = (
            f", and its maxReplicas from {before['max_replicas']} to {goal['max_replicas']} (never below "
            "minReplicas)"
            if goal.get("max_replicas", before.get("max_replicas")) != before.get("max_replicas")
            else ""
        )
        undo = f"back to {before['replicas']}" + (
            f" and maxReplicas {before['max_replicas']}" if ceiling else ""
        )
        claims, undo_claims = "", ""
        if before.get("claims_deleted_when_scaled"):
            low, high = sorted((int(before["replicas"]), int(goal["replicas"])))
            pods = f"{step.target.name}-{low}" + (
                f"..{step.target.name}-{high - 1}" if high - low > 1 else ""
            )
            gone = f", deleting the PersistentVolumeClaims of pod{'s' if high - low > 1 else ''} {pods} (its "
            gone += "persistentVolumeClaimRetentionPolicy.whenScaled is Delete): their data is lost"
            if int(goal["replicas"]) < int(before["replicas"]):
                claims = gone
            elif int(goal["replicas"]) > int(before["replicas"]):
                undo_claims = gone
        return (
            f"scale {what} of {step.target.namespace}/{step.target.name} from {before['replicas']} to "
            f"{goal['replicas']}{ceiling}{claims} (bounds {step.min_replicas}..{step.max_replicas}); "
            f"undo: {undo}{undo_claims}"
        )


def _claims_go_when_scaled(cluster: Cluster, step: ScaleStep) -> bool:
    """Whether scaling this StatefulSet down deletes the removed pods' PersistentVolumeClaims
    (``persistentVolumeClaimRetentionPolicy.whenScaled: Delete``, Kubernetes 1.32 GA): a scale down, or
    the undo of a scale out, then loses their data, which the plan must say (a walk-through as a
    runbook author for databases, 2026-12-07). Unknown (the read refused) is said as nothing."""
    try:
        found = cluster.get(_workload(step))
    except ClusterError:
        return False
    policy = (found or {}).get("spec", {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return bool(policy.get("whenScaled") == "Delete")


class Restart:
    name = "restart"

    def target(self, step: RestartStep) -> ObjectRef:
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: RestartStep) -> dict[str, Any]:
        obj = cluster.get(self.target(step))
        if obj is None:
            raise ActionError(f"no {step.target.kind} {step.target.namespace}/{step.target.name}")
        spec = obj.get("spec") or {}
        where = f"{step.target.kind} {step.target.namespace}/{step.target.name}"
        kind = step.target.kind.lower()
        if spec.get("paused"):
            raise ActionError(
                f"{where} is paused (spec.paused): a restart rolls out nothing until it is resumed "
                f"(kubectl rollout resume {kind}/{step.target.name} -n {step.target.namespace})"
            )
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            raise ActionError(
                f"{where} updates its pods OnDelete: a restart's new pod template restarts none of them "
                "until each is deleted (kubectl delete pod, one at a time)"
            )
        annotations = spec.get("template", {}).get("metadata", {}).get("annotations") or {}
        before: dict[str, Any] = {"restarted_at": annotations.get(RESTARTED_AT)}
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            before["strategy"] = "Recreate"  # said in the plan: every pod stops before new ones start
        if step.target.kind == "StatefulSet":
            _ordered_and_stuck(where, obj)
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if partition > 0:
            before |= _partitioned(where, partition, int(spec.get("replicas", 1)))
        return before

    def apply(
        self, cluster: Cluster, step: RestartStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        ref = self.target(step)
        planned = {"restarted_at": before.get("restarted_at")}
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        current = cluster.get(ref)
        found = (
            (current or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
        ).get(RESTARTED_AT)
        # A retry of a restart that landed finds its own pods restarting (not ready): only one that has
        # not landed must still be able to restart something.
        if found != stamp:
            found = self.snapshot(cluster, step)["restarted_at"]
        write_if_as_planned(
            str(ref),
            planned=planned,
            wanted={"restarted_at": stamp},
            found={"restarted_at": found},
            write=lambda: cluster.merge_patch(
                ref, patch, expect={_RESTARTED_AT_PATH: planned["restarted_at"]}
            ),
        )
        return {"restarted_at": stamp}

    def compensate(
        self, cluster: Cluster, step: RestartStep, before: dict[str, Any], stamp: str = ""
    ) -> bool:
        return False  # pods that restarted cannot be un-restarted: nothing is written

    def permissions(self, step: RestartStep) -> list[Permission]:
        own = [p for r in _workload_resources(step.target.kind) for p in _verbs(("get", "patch"), "apps", r)]
        return own + _referrers(step.target.kind, "argoproj.io", "rollouts")

    def writes(self, step: RestartStep, before: dict[str, Any] | None = None) -> list[FieldPath]:
        return [("spec", "template", "metadata", "annotations", RESTARTED_AT)]

    def describe(self, step: RestartStep, before: dict[str, Any]) -> str:
        how = (
            "restart of Deployment {ns}/{name} with strategy Recreate: every pod stops before the new ones "
            "start, so it serves nothing meanwhile"
            if before.get("strategy") == "Recreate"
            else "rolling restart of {kind} {ns}/{name}"
        )
        if "partition" in before:
            partition, replicas = int(before["partition"]), int(before["replicas"])
            how += (
                f": only its {replicas - partition} highest-ordinal pods of {replicas} restart, its "
                f"partition (spec.updateStrategy.rollingUpdate.partition {partition}) keeps the other "
                f"{partition} as they are"
            )
        return (
            how.format(kind=step.target.kind, ns=step.target.namespace, name=step.target.name)
            + "; undo: none (a restart replaces pods, it changes no configuration)"
        )


def _ordered_and_stuck(where: str, obj: dict[str, Any]) -> None:
    """A StatefulSet managing its pods ``OrderedReady`` (the default) replaces none while one is not
    Running and Ready: its controller waits at that pod before any update, so a restart of a StatefulSet
    with a crash-looping pod restarts nothing (https://kubernetes.io/docs/concepts/workloads/controllers/
    statefulset/#forced-rollback). Its status says so: ``readyReplicas`` (left out at 0) under the
    replicas it has."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("podManagementPolicy", "OrderedReady") != "OrderedReady":
        return
    replicas, ready = int(status.get("replicas", 0)), int(status.get("readyReplicas", 0))
    if replicas > 0 and ready < replicas:
        raise ActionError(
            f"{where} has {ready} of {replicas} pods ready, and with podManagementPolicy OrderedReady its "
            "controller replaces no pod until every one is Running and Ready: a restart's new pod template "
            "restarts none of them (delete the pod that is not ready, kubectl delete pod, and it is "
            "recreated)"
        )


def _partitioned(where: str, partition: int, replicas: int) -> dict[str, int]:
    """A StatefulSet's rolling update replaces only the pods from the highest ordinal down to its
    partition; those below it keep their template, and a partition at or above the replicas holds every
    pod (apps/v1 RollingUpdateStatefulSetStrategy; https://kubernetes.io/docs/concepts/workloads/
    controllers/statefulset/#partitions). The restart restarts those it reaches, and says how many."""
    if partition >= replicas:
        raise ActionError(
            f"{where} updates only the pods at or above its partition "
            f"(spec.updateStrategy.rollingUpdate.partition {partition}) and runs {replicas}: a "
            "restart's new pod template restarts none of them (lower the partition, or delete the pods "
            "one at a time)"
        )
    return {"partition": partition, "replicas": replicas}


def _running(info: RolloutInfo, *known: int) -> int | None:
    """Which of the ``known`` revisions the Deployment runs now (a rollback gives the template it puts
    back a new number, so the numbers it had count too); else its own number, None when unknown."""
    return next(
        (revision for revision in known if revision in info.runs), info.revision if info.runs else None
    )


class Rollback:
    """Rolls back only while the Deployment runs the revision the plan saw, and undoes (rolls forward)
    only while it runs the revision Medic rolled back to. "The previous revision" is the previous
    release: revisions that differ from the running one only by a restart are passed over
    (remediations/rollout.py), and the plan names the images it goes from and to."""

    name = "rollback"

    def target(self, step: RollbackStep) -> ObjectRef:
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: RollbackStep) -> dict[str, Any]:
        info = cluster.rollout(self.target(step))
        where = f"{step.target.namespace}/{step.target.name}"
        skipped: tuple[int, ...] = ()
        to = step.to_revision
        if to is None:
            choice = previous_release(info)
            if choice.revision is None:
                raise ActionError(f"{where} has {choice.why_none(info.revision)}")
            to, skipped = choice.revision, choice.skipped
        before: dict[str, Any] = {"revision": info.revision, "to_revision": to}
        going = find(info.history, to) if info.template is not None else None
        if info.template is not None and going is not None:
            before |= {"images": images(info.template), "to_images": images(going.template)}
        if skipped:
            before["skipped"] = list(skipped)
        return before

    def _move(self, cluster: Cluster, step: RollbackStep, *, runs: int, to: int, basis: str) -> None:
        ref = self.target(step)
        write_if_as_planned(
            str(ref),
            planned={"revision": runs},
            wanted={"revision": to},
            found={"revision": _running(cluster.rollout(ref), to, runs)},
            write=lambda: cluster.rollback(ref, to, expect=runs),
            basis=basis,
        )

    def apply(
        self, cluster: Cluster, step: RollbackStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        revision, to = int(before["revision"]), int(before["to_revision"])
        self._move(cluster, step, runs=revision, to=to, basis="the plan found")
        return {"revision_template": before["to_revision"]}

    def compensate(
        self, cluster: Cluster, step: RollbackStep, before: dict[str, Any], stamp: str = ""
    ) -> bool:
        revision, to = int(before["revision"]), int(before["to_revision"])
        self._move(cluster, step, runs=to, to=revision, basis=LEFT_BY_MEDIC)
        return True

    def permissions(self, step: RollbackStep) -> list[Permission]:
        return [*_verbs(("get", "patch"), "apps", "deployments"), *_verbs(("list",), "apps", "replicasets")]

    def writes(self, step: RollbackStep, before: dict[str, Any] | None = None) -> list[FieldPath]:
        return [("spec", "template")]

    def describe(self, step: RollbackStep, before: dict[str, Any]) -> str:
        now, to = images_recorded(before.get("images")), images_recorded(before.get("to_images"))
        passed_over = Choice(
            int(before["to_revision"]), tuple(int(n) for n in before.get("skipped") or [])
        ).passed_over()
        text = (
            f"roll back Deployment {step.target.namespace}/{step.target.name} from revision "
            f"{before['revision']}{shown(now, to)} to revision {before['to_revision']}{shown(to, now)}"
        )
        if now is not None and now == to:
            text += " (the same images: other settings of the pod template differ)"
        if passed_over:
            text += f", the newest earlier release ({passed_over})"
        return f"{text}; undo: roll forward to revision {before['revision']}'s template"


class ActionRegistry:
    """Actions by name. Registering a name twice is an error, never a silent overwrite."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"an action named {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise ActionError(f"no action named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._actions)

    def for_step(self, step: Step) -> Action:
        return self.get(step.action)


ACTIONS: tuple[Action, ...] = (Scale(), Restart(), Rollback(), CircuitBreak(), Reroute())


def default_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for action in ACTIONS:
        registry.register(action)
    return registry
