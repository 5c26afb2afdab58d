"""GitOps reconcilers that would put a remediation's change back.

On a cluster run by Argo CD or Flux, what Git says is applied again and again: a replica count Medic
raised, or a pod template it rolled back, is reverted by the reconciler within seconds (Argo CD's
self-heal) or at its next interval (Flux), often before Medic's verification ends, and a rollback
reverted is the bad release deployed again. So before acting, a step asks whether the fields it writes
on its target are applied by a reconciler that corrects drift, and says which one and what to do.

Decided from the live object and the reconciler's own resource, never from Git:

- **Which reconciler.** Argo CD marks what it applies with the annotation ``argocd.argoproj.io/tracking-id``
  (``<app>:<group>/<kind>:<namespace>/<name>``, the default tracking from Argo CD 3.0; ``<namespace>_<app>``
  for an Application outside Argo CD's namespace) or the label ``app.kubernetes.io/instance`` (label
  tracking, the 2.x default, a value Helm charts set too, so it only counts with evidence that Argo CD
  applied the field). Flux's kustomize-controller and helm-controller label what they apply with
  ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``, ``helm.toolkit.fluxcd.io/name`` and ``/namespace``.
- **Whether it applies the field.** Its field manager owns it in ``metadata.managedFields``
  (``kustomize-controller``, ``helm-controller``, ``argocd-controller`` with server-side apply), or, for Argo
  CD's client-side apply, the field is in ``kubectl.kubernetes.io/last-applied-configuration``: a field Git
  does not set (the ``restartedAt`` annotation of a restart, replicas left to an HPA) is nobody's to revert.
- **Whether it corrects drift now.** Argo CD: ``spec.syncPolicy.automated`` with ``selfHeal: true`` (and not
  ``enabled: false``), unless ``spec.ignoreDifferences`` covers the field. Flux Kustomization: always, at
  each ``spec.interval``, unless suspended or the object says ``kustomize.toolkit.fluxcd.io/reconcile:
  disabled`` or ``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent``/``Ignore``. Flux HelmRelease: only with
  ``spec.driftDetection.mode: enabled``, unless its ``ignore`` rules cover the field.

A reconciler's resource Medic may not read (no RBAC, no such API) cannot say it would *not* revert: a field
its manager owns is then claimed as "may", so the runbook still does not fight it unless told to
(``reconcilers: ignore``).
"""

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from remediations.ports import Cluster, ClusterError, ObjectRef

__all__ = [
    "APPLICATION",
    "HELM_RELEASE",
    "KUSTOMIZATION",
    "MEDIC_FIELD_MANAGER",
    "RECONCILED_BY",
    "Claim",
    "FieldPath",
    "Reconciler",
    "api_group",
    "controlling_owner",
    "judge",
    "reconciler_claim",
    "reconcilers_of",
]

FieldPath = tuple[str, ...]
"""A field of an object as the path of its keys: ``("spec", "replicas")``."""

RECONCILED_BY = "reconciled_by"
"""The key under which a step's snapshot carries its :class:`Claim` (taken out before it is recorded)."""

APPLICATION = ("argoproj.io/v1alpha1", "Application")
KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
HELM_RELEASE = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")

TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
CUSTOM_INSTANCE_LABEL = "argocd.argoproj.io/instance"  # the instanceLabelKey Argo CD's docs show, widely used
_FLUX_PREFIXES = ("kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
FLUX_SSA = "kustomize.toolkit.fluxcd.io/ssa"
HELM_DRIFT = "helm.toolkit.fluxcd.io/driftDetection"
SKIP_RECONCILE = "argocd.argoproj.io/skip-reconcile"
_ARGO_MANAGERS = ("argocd-controller", "argocd-application-controller")
MEDIC_FIELD_MANAGER = "medic"
_TRUSTED = "managedFieldsManagers: medic"  # an ignore rule trusting Medic's field manager
"""The field manager Medic writes as: what managedFields name, and what an Application's
``ignoreDifferences.managedFieldsManagers`` can list so Argo CD lets Medic's changes stand."""
_KUSTOMIZE_MANAGERS = ("kustomize-controller",)
_HELM_MANAGERS = ("helm-controller",)


class Reconciler(BaseModel):
    """A GitOps resource that applies the object: an Argo CD Application, a Flux Kustomization or
    HelmRelease."""

    ref: ObjectRef
    managers: tuple[str, ...] = Field(description="the field managers its applies write as")
    by_label_only: bool = Field(
        default=False, description="named only by app.kubernetes.io/instance, a label Helm charts set too"
    )
    untracked: bool = Field(
        default=False, description="Argo CD's manager wrote the object, and no tracking names its Application"
    )
    assumed_namespace: bool = Field(
        default=False,
        description="an Argo CD tracking id without <namespace>_: MEDIC_ARGOCD_NAMESPACE assumed",
    )

    @property
    def tool(self) -> str:
        return "Argo CD" if self.ref.kind == APPLICATION[1] else "Flux"

    def __str__(self) -> str:
        if self.untracked:
            return "Argo CD (an Application Medic cannot name)"
        return f"{self.tool} {self.ref.kind} {self.ref.namespace}/{self.ref.name}"


class Claim(BaseModel):
    """A reconciler that would (``certain``) or may put the step's change back, and what to do instead."""

    reconciler: str = Field(description="e.g. 'Argo CD Application argocd/checkout'")
    fields: list[str] = Field(description="the step's fields it applies, dotted")
    certain: bool = Field(description="False: its own resource could not be read to tell")
    reason: str
    remedy: str
    overridable: bool = Field(
        default=True,
        description="False: acting anyway is pointless (an HPA's replicas), whatever the runbook says",
    )
    verb: str = Field(
        default="",
        description="what it does with the fields where it does not put them back (an Argo Rollout "
        "that takes over its workloadRef's); empty: it would (or may) put them back",
    )

    @property
    def what(self) -> str:
        verb = self.verb or ("would put back" if self.certain else "may put back")
        return f"{self.reconciler} {verb} {', '.join(self.fields)} ({self.reason})"

    @property
    def text(self) -> str:
        return f"{self.what}. {self.remedy}"


def reconcilers_of(obj: Mapping[str, Any], *, argocd_namespace: str) -> list[Reconciler]:
    """The GitOps resources the object's labels and annotations name."""
    meta = obj.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    found: list[Reconciler] = []
    if app := _tracked_by(obj, annotations.get(TRACKING_ID, "")):
        found.append(
            _application(app, argocd_namespace).model_copy(update={"assumed_namespace": "_" not in app})
        )
    elif instance := labels.get(INSTANCE_LABEL, "") or labels.get(CUSTOM_INSTANCE_LABEL, ""):
        found.append(_application(instance, argocd_namespace).model_copy(update={"by_label_only": True}))
    elif applied_by_argo(obj) and not any(f"{p}/name" in labels for p in _FLUX_PREFIXES):
        # Argo CD's manager wrote it, and no tracking Medic reads names the Application (a custom
        # application.instanceLabelKey in argocd-cm): which one, and whether it self-heals, is not known
        found.append(_application(UNKNOWN_APP, argocd_namespace).model_copy(update={"untracked": True}))
    for kind, prefix, managers in (
        (KUSTOMIZATION, "kustomize.toolkit.fluxcd.io", _KUSTOMIZE_MANAGERS),
        (HELM_RELEASE, "helm.toolkit.fluxcd.io", _HELM_MANAGERS),
    ):
        flux_name, flux_namespace = labels.get(f"{prefix}/name"), labels.get(f"{prefix}/namespace")
        if flux_name and flux_namespace:
            found.append(_reconciler(kind, flux_namespace, flux_name, managers))
    return found


def _tracked_by(obj: Mapping[str, Any], tracking: str) -> str:
    """The Application an Argo CD tracking id names, when it names this very object: Argo CD ignores one
    that names another (copied by a tool along with the object's annotations)."""
    app, _, resource = tracking.partition(":")
    meta = obj.get("metadata") or {}
    group = api_group(obj.get("apiVersion"))
    itself = f"{group}/{obj.get('kind')}:{meta.get('namespace')}/{meta.get('name')}"
    return app if app and resource == itself else ""


def _application(instance: str, argocd_namespace: str) -> Reconciler:
    """Argo CD's name for an Application: ``<name>`` in its own namespace, ``<namespace>_<name>`` in any
    other (apps in any namespace; neither name may hold ``_``)."""
    namespace, _, name = instance.rpartition("_")
    return _reconciler(APPLICATION, namespace or argocd_namespace, name, _ARGO_MANAGERS)


def _reconciler(kind: tuple[str, str], namespace: str, name: str, managers: tuple[str, ...]) -> Reconciler:
    ref = ObjectRef(api_version=kind[0], kind=kind[1], namespace=namespace, name=name)
    return Reconciler(ref=ref, managers=managers)


def owns(obj: Mapping[str, Any], reconciler: Reconciler, path: FieldPath) -> bool:
    """Whether the reconciler applies the field (or something under it).

    Argo CD applying client-side (its default) leaves the last configuration it applied: the field is its
    when that holds it. Its managedFields entry then is an ``Update``, which at the object's creation took
    every field the API server defaulted too (``replicas`` a manifest left out): not evidence of Git. A
    server-side apply (Argo CD's ``ServerSideApply``, Flux's kustomize-controller) owns exactly what it
    applied, as an ``Apply`` entry. Flux's helm-controller writes as ``Update`` (Helm 3): its entry is
    taken as it is, and may claim a defaulted field (only where its HelmRelease corrects drift)."""
    meta = obj.get("metadata") or {}
    entries = [e for e in meta.get("managedFields") or [] if e.get("manager") in reconciler.managers]
    applies = [e for e in entries if e.get("operation") == "Apply"]
    if reconciler.ref.kind == APPLICATION[1]:
        if applies:  # server-side apply (a last applied configuration left from before it is stale)
            return any(_in_fields(e.get("fieldsV1") or {}, path) for e in applies)
        applied = _last_applied(obj)
        if applied is not None:
            return _in_object(applied, path)
        # Tracked by annotation, and neither: Argo CD replaces it (Replace=true: kubectl replace, no saved
        # configuration), and a replace sets every field from Git, a left-out one to its default
        return reconciler.assumed_namespace or not (reconciler.by_label_only or reconciler.untracked)
    chosen = applies if reconciler.ref.kind != HELM_RELEASE[1] else entries
    return any(_in_fields(e.get("fieldsV1") or {}, path) for e in chosen)


def _last_applied(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        applied = json.loads(text) if text else None
    except ValueError:
        return None
    return applied if isinstance(applied, Mapping) else None


def applied_by_argo(obj: Mapping[str, Any]) -> bool:
    """Whether Argo CD's own field manager has written the object (whatever its tracking)."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return any(entry.get("manager") in _ARGO_MANAGERS for entry in entries)


def _in_fields(fields: Mapping[str, Any], path: FieldPath) -> bool:
    """Whether a managedFields ``fieldsV1`` set holds the field (``f:spec`` -> ``f:replicas``)."""
    node: Any = fields
    for key in path:
        if not isinstance(node, Mapping) or f"f:{key}" not in node:
            return False
        node = node[f"f:{key}"]
    return True


def _in_object(obj: Any, path: FieldPath) -> bool:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return False
        obj = obj[key]
    return True


def _dotted(path: FieldPath) -> str:
    return ".".join(path)


def _pointer(path: FieldPath) -> str:
    return "/" + "/".join(key.replace("~", "~0").replace("/", "~1") for key in path)


def _covers(pointer: str, path: FieldPath) -> bool:
    """Whether an ignore rule's JSON pointer (or jq path of plain names) is the field or holds it."""
    if pointer == _TRUSTED:  # Medic's writes trusted: all but a rollback's whole pod template
        return path[:2] != ("spec", "template") or len(path) > 2
    if pointer.startswith("."):  # a jq path expression: only plain ``.spec.replicas`` forms are read
        pointer = "/" + pointer[1:].replace(".", "/")
    mine = _pointer(path)
    return mine == pointer.rstrip("/") or mine.startswith(pointer.rstrip("/") + "/")


def api_group(api_version: object) -> str:
    """The group of an apiVersion: ``apps`` of ``apps/v1``, "" of ``v1`` (the core group)."""
    return str(api_version or "").rpartition("/")[0]


def judge(
    obj: Mapping[str, Any],
    target: ObjectRef,
    paths: Iterable[FieldPath],
    reconciler: Reconciler,
    resource: Mapping[str, Any] | None,
    *,
    unreadable: str = "",
) -> Claim | None:
    """Whether ``reconciler`` would put back what a step writes at ``paths`` of ``obj`` (``target``).
    ``resource`` is the reconciler's own object as read (None: not there); ``unreadable`` why it could
    not be read, when it could not."""
    owned = [path for path in paths if owns(obj, reconciler, path)]
    if not owned:
        return None  # Git does not set these fields: nothing to revert them to
    meta = obj.get("metadata") or {}
    marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}  # Flux reads either
    fields = [_dotted(path) for path in owned]
    if unreadable:
        return Claim(
            reconciler=str(reconciler),
            fields=fields,
            certain=False,
            reason=f"its manager applies them, and Medic cannot read the {reconciler.ref.kind}: {unreadable}",
            remedy=_remedy(reconciler, fields),
        )
    if resource is None:
        return None  # the object names a reconciler that is not there (deleted, orphaning it)
    spec = resource.get("spec") or {}
    kind = reconciler.ref.kind
    if kind == APPLICATION[1]:
        automated = (spec.get("syncPolicy") or {}).get("automated")
        if not isinstance(automated, Mapping) or automated.get("enabled") is False:
            return None
        app_annotations = (resource.get("metadata") or {}).get("annotations") or {}
        if app_annotations.get(SKIP_RECONCILE) == "true":
            return None
        if not automated.get("selfHeal"):
            return None  # auto-sync on Git changes only: the next change to Git puts it back, not drift
        ignored = _argo_ignored(spec.get("ignoreDifferences") or [], target)
        owned = [path for path in owned if not any(_covers(p, path) for p in ignored)]
        reason = "automated sync with self-heal"
    elif kind == KUSTOMIZATION[1]:
        if spec.get("suspend") or marks.get(FLUX_RECONCILE) == "disabled":
            return None
        if marks.get(FLUX_SSA) in ("IfNotPresent", "Ignore"):
            return None
        ignored = _flux_ignored(spec.get("driftIgnoreRules") or [], target, obj)
        owned = [path for path in owned if not any(_covers(p, path) for p in ignored)]
        reason = f"it applies Git every {spec.get('interval') or 'interval'} and corrects drift"
    else:
        drift = spec.get("driftDetection") or {}
        if spec.get("suspend") or drift.get("mode") != "enabled" or marks.get(HELM_DRIFT) == "disabled":
            return None
        ignored = _flux_ignored(drift.get("ignore") or [], target, obj)
        owned = [path for path in owned if not any(_covers(p, path) for p in ignored)]
        reason = "drift detection enabled: it corrects drift at each reconcile"
    if not owned:
        return None
    fields = [_dotted(path) for path in owned]
    return Claim(
        reconciler=str(reconciler),
        fields=fields,
        certain=True,
        reason=reason,
        remedy=_remedy(reconciler, fields, resource),
    )


def _argo_ignored(rules: Iterable[Mapping[str, Any]], target: ObjectRef) -> list[str]:
    """The JSON pointers (and plain jq paths) of an Application's ignoreDifferences for this object: group
    and kind are globs, as Argo CD matches them (``"*"``); a rule trusting Medic's field manager
    (``managedFieldsManagers: [medic]``) lets the fields Medic writes stand (``_TRUSTED``): not a
    rollback's pod template, whose fields the bad release added are removed by it and owned by nobody,
    so they still differ from Git and self-heal applies the whole manifest again."""
    return [
        pointer
        for rule in rules
        if fnmatch.fnmatchcase(target.kind, str(rule.get("kind") or ""))
        and fnmatch.fnmatchcase(api_group(target.api_version), str(rule.get("group") or ""))
        and rule.get("name") in (None, "", target.name)
        and rule.get("namespace") in (None, "", target.namespace)
        for pointer in [
            *(rule.get("jsonPointers") or []),
            *(rule.get("jqPathExpressions") or []),
            *([_TRUSTED] if MEDIC_FIELD_MANAGER in (rule.get("managedFieldsManagers") or []) else []),
        ]
    ]


def _flux_ignored(rules: Iterable[Mapping[str, Any]], target: ObjectRef, obj: Mapping[str, Any]) -> list[str]:
    """The JSON pointers of Flux's drift ignore rules (a HelmRelease's ``driftDetection.ignore``, a
    Kustomization's ``driftIgnoreRules``) that select this object."""
    return [
        pointer
        for rule in rules
        if _targets(rule.get("target"), target, obj)
        for pointer in rule.get("paths") or []
    ]


def _targets(selector: Mapping[str, Any] | None, target: ObjectRef, obj: Mapping[str, Any]) -> bool:
    """Whether a Flux ignore rule's ``target`` selects the object (no target: every object). Its group,
    version, kind, name and namespace are regular expressions, and its label and annotation selectors
    Kubernetes selectors; one Medic cannot read selects nothing (the field is then not taken as ignored)."""
    if not selector:
        return True
    wanted = {
        "kind": target.kind,
        "name": target.name,
        "namespace": target.namespace,
        "group": api_group(target.api_version),
        "version": target.api_version.rpartition("/")[2],
    }
    for key, value in wanted.items():
        pattern = selector.get(key)
        if pattern in (None, ""):
            continue
        if not _safe_pattern(str(pattern)):
            return False  # not read: the field is then not taken as ignored
        try:
            if not re.fullmatch(str(pattern), value):
                return False
        except re.error:
            return False
    meta = obj.get("metadata") or {}
    return all(
        _selects(str(selector.get(key) or ""), meta.get(field) or {})
        for key, field in (("labelSelector", "labels"), ("annotationSelector", "annotations"))
    )


_QUANTIFIED_GROUP = re.compile(r"\)[*+?{]")
_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d*,\}")


def _safe_pattern(pattern: str) -> bool:
    """Whether a regular expression from a Flux resource can be matched here in bounded time. Flux matches
    with Go's RE2, linear whatever the pattern; Python's engine backtracks, and a pattern harmless in Flux
    (``([a-z0-9]+-?)+-canary``) takes seconds on a 33-character name while holding the GIL. Taken: the
    patterns people write (names, ``.*-canary``, ``Deployment|StatefulSet``, ``(web|api)-.*``); not
    taken (so not read as ignoring anything): a quantified group, more than two unbounded quantifiers,
    backreferences, lookarounds, or more than 256 characters."""
    return (
        len(pattern) <= 256
        and not _QUANTIFIED_GROUP.search(pattern)
        and len(_UNBOUNDED.findall(pattern)) <= 2
        and "(?" not in pattern
        and not re.search(r"\\[1-9]", pattern)
    )


_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[^\s!=,()]+)"
    r"|(?P<key>[^\s!=,()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


def _selects(selector: str, values: Mapping[str, Any]) -> bool:
    """A Kubernetes label selector (``a=b,c!=d,e in (f,g),h,!i``) against a map; False when unreadable."""
    if not selector.strip():
        return True
    if len(selector) > 1024:  # Kubernetes' own are short; a longer one is not read (selects nothing)
        return False
    for requirement in re.split(r",(?![^()]*\))", selector):
        match = _REQUIREMENT.match(requirement.strip())
        if match is None:
            return False
        if match["absent"] is not None:
            if match["absent"] in values:
                return False
            continue
        key, found = match["key"], values.get(match["key"])
        if match["op"] is not None:
            if (found == match["value"]) == (match["op"] == "!="):
                return False
        elif match["set"] is not None:
            options = {v.strip() for v in match["values"].split(",")}
            if (found in options) == (match["set"] == "notin"):
                return False
        elif key not in values:
            return False
    return True


def _remedy(reconciler: Reconciler, fields: list[str], resource: Mapping[str, Any] | None = None) -> str:
    ref = reconciler.ref
    generator = controlling_owner(resource)
    if generator is not None:  # an ApplicationSet's Application: its template decides, not the Application
        how = (
            f"since {generator.get('kind')} {ref.namespace}/{generator.get('name')} generates this "
            "Application: self-heal turned off on it is undone, and turned off in the template it is off for "
            "every Application it generates; Git is the way here"
        )
    elif reconciler.untracked:
        how = (
            "or turn its Application's self-heal off first, act by hand and turn it on again once Git holds "
            "the fix"
        )
    elif ref.kind == APPLICATION[1]:
        how = (
            f"or turn its self-heal off first (argocd app set {ref.namespace}/{ref.name} --self-heal=false; "
            "an Application another applies, an app of apps, has it undone: change that one's source), act "
            "by hand and turn it on again once Git holds the fix"
        )
    else:
        flux = "kustomization" if ref.kind == KUSTOMIZATION[1] else "helmrelease"
        how = (
            f"or suspend it first (flux suspend {flux} {ref.name} -n {ref.namespace}), act by hand and "
            f"resume it once Git holds the fix"
        )
    change = (
        "Change it in Git (a bad release: revert its commit)"
        if "spec.template" in fields
        else ("Change it in Git")
    )
    return (
        f"{change}, {how}; a runbook that should act anyway says reconcilers: ignore (docs/remediation.md)."
    )


def _unreadable_hint(reconciler: Reconciler, unreadable: str, argocd_namespace: str) -> str:
    ref = reconciler.ref
    gone = (
        "If no Application manages it any more (deleted with its resources left, moved to another tool), "
        "remove Argo CD's label or annotation from it, or say reconcilers: ignore."
    )
    if reconciler.untracked:
        return (
            "Medic names Argo CD's Applications by the tracking annotation (the 3.x default) or the "
            "app.kubernetes.io/instance or argocd.argoproj.io/instance label; with another "
            f"application.instanceLabelKey in argocd-cm, switch Argo CD to annotation tracking. {gone}"
        )
    if "could not find the requested resource" in unreadable:  # a 404 naming no object: no such API here
        where = (
            "Argo CD's Applications are not served in this cluster (a central Argo CD in another cluster?)"
            if ref.kind == APPLICATION[1]
            else f"{ref.kind}s are not served in this cluster"
        )
        return f"{where}: say reconcilers: ignore where it does not correct drift."
    if unreadable.startswith(_NOT_THERE):
        return (
            f"Set MEDIC_ARGOCD_NAMESPACE (now {argocd_namespace}) to the namespace of Argo CD's Applications "
            f"(openshift-gitops with OpenShift GitOps). {gone}"
        )
    return (
        f"Medic tells for sure when it may read {ref.kind}s in {ref.namespace} "
        "(chart: remediation.gitops.namespaces)."
    )


def controlling_owner(obj: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The owner reference with ``controller: true`` (what reconciles the object), if any."""
    owners = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return next((o for o in owners if isinstance(o, Mapping) and o.get("controller")), None)


_NOT_THERE = "no Application"
UNKNOWN_APP = "unknown"


def reconciler_claim(
    cluster: Cluster,
    target: ObjectRef,
    paths: Iterable[FieldPath],
    *,
    argocd_namespace: str = "argocd",
    obj: Mapping[str, Any] | None = None,
) -> Claim | None:
    """The first reconciler that would (or may) put back what a step writes at ``paths`` of ``target``:
    reads the object (unless given, as read already), then the resources its labels and annotations name.
    None when nothing would."""
    paths = list(paths)
    if obj is None and paths:
        obj = cluster.get(target)
    if obj is None:
        return None
    for reconciler in reconcilers_of(obj, argocd_namespace=argocd_namespace):
        if not any(owns(obj, reconciler, path) for path in paths):
            continue  # checked before the read: most labelled objects need no second call
        if reconciler.untracked:
            resource, unreadable = (
                None,
                (
                    "Argo CD's field manager wrote it, and no tracking annotation or "
                    "app.kubernetes.io/instance label names its Application"
                ),
            )
        else:
            try:
                resource, unreadable = cluster.get(reconciler.ref), ""
            except ClusterError as err:
                resource, unreadable = None, str(err)
        argo = reconciler.by_label_only and applied_by_argo(obj)
        if resource is None and not unreadable and (reconciler.assumed_namespace or argo):
            # Argo CD applied it and its Application is not where it was looked for: a wrong
            # MEDIC_ARGOCD_NAMESPACE is as likely as an Application deleted without its resources.
            unreadable = f"{_NOT_THERE} {reconciler.ref.name} in {reconciler.ref.namespace}"
        if unreadable and reconciler.by_label_only and not argo:
            # app.kubernetes.io/instance alone, and no Application to read: a Helm release's label as
            # likely as Argo CD's, and a last applied configuration says only that someone applied it.
            continue
        if claim := judge(obj, target, paths, reconciler, resource, unreadable=unreadable):
            if unreadable:
                hint = _unreadable_hint(reconciler, unreadable, argocd_namespace)
                claim = claim.model_copy(update={"remedy": f"{claim.remedy} {hint}"})
            return claim
    return None
