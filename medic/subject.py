"""The subject of an alert: the Kubernetes object it is about, not the exporter that was scraped.

On a kube-prometheus-stack cluster most alerts come from kube-state-metrics, the kubelet/cAdvisor or
node-exporter, and their ``job``/``service``/``instance``/``endpoint`` (and, because kube-state-metrics
is scraped with ``honorLabels``, often ``namespace``/``pod``/``container``) name *that exporter*. The
object in trouble is in the labels the rule's expression kept: ``deployment``, ``statefulset``,
``daemonset``, ``job_name``, ``horizontalpodautoscaler``, ``persistentvolumeclaim``, ``pod`` (a
workload's pod, owned through a ReplicaSet or Job), ``node``, with ``namespace``.
(tests/fixtures/alerts/README.md has the label shapes, rule by rule.)

:func:`resolve_subject` reads them, most specific first, and says which labels decided and why. The
owner of a pod (or the scale target of an HPA, the StatefulSet of a volume, the node of an address) is
asked of an :class:`OwnerLookup` when there is a cluster; without one the controllers' naming
patterns give candidates, most likely first, and the catalog picks (medic/assign.py). Pure: the lookup
is a port, implemented outside the domain.
"""

import re
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EXPORTER_LABELS",
    "ObjectKey",
    "OwnerLookup",
    "Subject",
    "is_exporter",
    "pod_owner_candidates",
    "resolve_subject",
]

# Labels that identify the scraped target rather than what a rule measured.
EXPORTER_LABELS = ("job", "service", "instance", "endpoint", "metrics_path", "prometheus")

# Scrape jobs, Services, containers and pods of the exporters and the monitoring stack itself:
# kube-state-metrics, the kubelet and cAdvisor, node-exporter, the control plane, and the operator's
# own targets. A label value naming one of these never names a service.
_EXPORTER_WORDS = (
    "kube-state-metrics",
    "kubelet",
    "cadvisor",
    "node-exporter",
    "apiserver",
    "kube-apiserver",
    "coredns",
    "kube-dns",
    "kube-proxy",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-etcd",
    "prometheus-operator",
    "kube-prometheus-stack",
    "blackbox-exporter",
    "windows-exporter",
)
_EXPORTER = re.compile(rf"(^|[-/])({'|'.join(re.escape(w) for w in _EXPORTER_WORDS)})([-/]|$)")
_EXPORTER_EXACT = frozenset({"prometheus", "alertmanager", "operator", "kubernetes-nodes", "kubernetes-pods"})

# Kubernetes' random alphabet (k8s.io/apimachinery/pkg/util/rand: no vowels, no 0, 1, 3): pod-name
# suffixes and ReplicaSet pod-template-hash values are made of it.
_RAND = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOY_POD = re.compile(rf"^(?P<owner>.+)-{_RAND}{{5,10}}-{_RAND}{{5}}$")
# A CronJob's Jobs are <cronjob>-<scheduled time in minutes since the epoch> (8 digits until 2160).
_CRONJOB_JOB = re.compile(r"^(?P<owner>.+)-\d{8,}$")
_CRONJOB_POD = re.compile(rf"^(?P<owner>.+)-\d{{8,}}-{_RAND}{{5}}$")
_STS_POD = re.compile(r"^(?P<owner>.+)-(0|[1-9]\d{0,5})$")
_DS_POD = re.compile(rf"^(?P<owner>.+)-{_RAND}{{5}}$")
_IP_PORT = re.compile(r"^\[?(?P<host>[0-9a-fA-F.:]+?)\]?(:\d+)?$")


def is_exporter(value: str | None) -> bool:
    """Whether a label value names an exporter or the monitoring stack (never a service)."""
    if not value:
        return False
    lowered = value.lower()
    return lowered in _EXPORTER_EXACT or bool(_EXPORTER.search(lowered))


class ObjectKey(BaseModel):
    """A Kubernetes object by kind, namespace (empty for cluster-scoped kinds) and name."""

    model_config = ConfigDict(frozen=True)

    kind: str
    namespace: str = ""
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


class Subject(BaseModel):
    """What an alert is about, and why Medic thinks so."""

    model_config = ConfigDict(frozen=True)

    object: ObjectKey | None = Field(default=None, description="what the labels name; None: cluster-wide")
    workload: ObjectKey | None = Field(
        default=None, description="the controller that owns it (Deployment, StatefulSet, ...), when known"
    )
    candidates: list[ObjectKey] = Field(
        default_factory=list, description="owners the naming patterns allow, most likely first (no cluster)"
    )
    related: list[ObjectKey] = Field(
        default_factory=list, description="a node's workloads (pods scheduled on it), from the cluster"
    )
    decided_by: list[str] = Field(default_factory=list, description="the labels that decided")
    ignored: list[str] = Field(default_factory=list, description="exporter labels set aside")
    reason: str = ""

    @property
    def target(self) -> ObjectKey | None:
        """What a remediation acts on: the owning workload, else the object itself."""
        return self.workload or (self.candidates[0] if self.candidates else None) or self.object


class OwnerLookup(Protocol):
    """The cluster's answer to "who owns this?" (implemented with a bounded cache outside the domain).

    ``owner`` walks up to the top controller: a Pod to its Deployment (through its ReplicaSet),
    StatefulSet, DaemonSet or CronJob (through its Job); a Job to its CronJob; an HPA to its scale
    target; a PersistentVolumeClaim to the workload of the pod that mounts it. None when unknown."""

    def owner(self, obj: ObjectKey) -> ObjectKey | None: ...

    def node_for_address(self, address: str) -> str | None: ...

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        """The workloads (top owners) of the pods running on a node, for a node incident's relations."""
        ...

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        """The nodes the workload's pods are scheduled on, for a service incident's relations (a node's
        incident opened first absorbs the later incidents of the services on it)."""
        ...


def pod_owner_candidates(namespace: str, pod: str) -> list[ObjectKey]:
    """The workloads a pod name could belong to by the controllers' naming patterns, most likely first."""
    found: list[ObjectKey] = []
    for pattern, kind in (
        (_CRONJOB_POD, "CronJob"),
        (_DEPLOY_POD, "Deployment"),
        (_STS_POD, "StatefulSet"),
        (_DS_POD, "DaemonSet"),
    ):
        if m := pattern.match(pod):
            key = ObjectKey(kind=kind, namespace=namespace, name=m.group("owner"))
            if key not in found:
                found.append(key)
    return found


def _pvc_candidates(namespace: str, pvc: str) -> list[ObjectKey]:
    """A volumeClaimTemplate's claims are <template>-<statefulset>-<ordinal>: the StatefulSet is a
    suffix of what is left once the ordinal is gone (longest first)."""
    m = _STS_POD.match(pvc)
    if not m:
        return []
    parts = m.group("owner").split("-")
    return [
        ObjectKey(kind="StatefulSet", namespace=namespace, name="-".join(parts[i:]))
        for i in range(1, len(parts))
    ]


def _ask(lookup: OwnerLookup | None, obj: ObjectKey) -> ObjectKey | None:
    return lookup.owner(obj) if lookup is not None else None


def _exporter_labels(labels: dict[str, str], *, pod_is_exporter: bool) -> list[str]:
    out = [k for k in EXPORTER_LABELS if k in labels and (k != "job" or is_exporter(labels[k]))]
    out += [k for k in ("job", "service") if k in labels and k not in out and is_exporter(labels[k])]
    if pod_is_exporter:
        out += [k for k in ("namespace", "pod", "container") if k in labels]
    return sorted(set(out))


def _pod_is_exporter(labels: dict[str, str]) -> bool:
    return is_exporter(labels.get("pod")) or is_exporter(labels.get("container"))


def _on_node(subject: Subject, lookup: OwnerLookup | None) -> Subject:
    """A node subject with the workloads whose pods run on it (when there is a cluster to ask)."""
    if lookup is None or subject.object is None:
        return subject
    # The monitoring stack's own DaemonSets and Deployments run everywhere; they are not what a node's
    # failure takes down for anyone.
    related = [w for w in lookup.workloads_on_node(subject.object.name) if not is_exporter(w.name)]
    return subject.model_copy(update={"related": related}) if related else subject


def resolve_subject(labels: dict[str, str], lookup: OwnerLookup | None = None) -> Subject:
    """The subject of an alert from its labels (and the cluster, when there is one)."""
    ns = labels.get("namespace", "")
    exporter_pod = _pod_is_exporter(labels)

    def done(
        obj: ObjectKey | None,
        workload: ObjectKey | None,
        decided: list[str],
        why: str,
        *,
        candidates: list[ObjectKey] | None = None,
        exporter_pod: bool = exporter_pod,
    ) -> Subject:
        ignored = [k for k in _exporter_labels(labels, pod_is_exporter=exporter_pod) if k not in decided]
        if ignored:
            why += f"; exporter labels set aside: {', '.join(ignored)}"
        return Subject(
            object=obj,
            workload=workload,
            candidates=candidates or [],
            decided_by=decided,
            ignored=ignored,
            reason=why,
        )

    if ns:
        for label, kind in (
            ("deployment", "Deployment"),
            ("statefulset", "StatefulSet"),
            ("daemonset", "DaemonSet"),
        ):
            if name := labels.get(label):
                obj = ObjectKey(kind=kind, namespace=ns, name=name)
                return done(obj, obj, ["namespace", label], f"{label}={name} names {obj}", exporter_pod=True)
        if job := labels.get("job_name"):
            obj = ObjectKey(kind="Job", namespace=ns, name=job)
            if owner := _ask(lookup, obj):
                return done(
                    obj,
                    owner,
                    ["namespace", "job_name"],
                    f"job_name={job} is {obj}, owned by {owner} (cluster)",
                    exporter_pod=True,
                )
            if m := _CRONJOB_JOB.match(job):
                owner = ObjectKey(kind="CronJob", namespace=ns, name=m.group("owner"))
                why = f"job_name={job} is {obj}, created by {owner} (name <cronjob>-<minutes>)"
                return done(obj, owner, ["namespace", "job_name"], why, exporter_pod=True)
            return done(obj, obj, ["namespace", "job_name"], f"job_name={job} names {obj}", exporter_pod=True)
        if hpa := labels.get("horizontalpodautoscaler"):
            obj = ObjectKey(kind="HorizontalPodAutoscaler", namespace=ns, name=hpa)
            decided = ["namespace", "horizontalpodautoscaler"]
            if owner := _ask(lookup, obj):
                return done(obj, owner, decided, f"{obj} scales {owner} (cluster)", exporter_pod=True)
            # the Deployment or the StatefulSet of that name (the catalog picks): a StatefulSet's HPA went
            # to no service
            guess = ObjectKey(kind="Deployment", namespace=ns, name=hpa)
            stateful = ObjectKey(kind="StatefulSet", namespace=ns, name=hpa)
            why = (
                f"{obj} is taken to scale the Deployment or StatefulSet {ns}/{hpa} (no cluster: HPAs are "
                "usually named after their target)"
            )
            return done(obj, None, decided, why, candidates=[guess, stateful], exporter_pod=True)
        if pvc := labels.get("persistentvolumeclaim"):
            obj = ObjectKey(kind="PersistentVolumeClaim", namespace=ns, name=pvc)
            decided = ["namespace", "persistentvolumeclaim"]
            if owner := _ask(lookup, obj):
                return done(
                    obj, owner, decided, f"{obj} is mounted by {owner}'s pods (cluster)", exporter_pod=True
                )
            candidates = _pvc_candidates(ns, pvc)
            why = f"persistentvolumeclaim={pvc} names {obj}" + (
                " (its StatefulSet by the <template>-<statefulset>-<ordinal> naming)" if candidates else ""
            )
            return done(obj, None, decided, why, candidates=candidates, exporter_pod=True)
        if (pod := labels.get("pod")) and not exporter_pod:
            obj = ObjectKey(kind="Pod", namespace=ns, name=pod)
            decided = ["namespace", "pod"]
            if owner := _ask(lookup, obj):
                return done(obj, owner, decided, f"pod={pod} is {obj}, owned by {owner} (cluster)")
            candidates = pod_owner_candidates(ns, pod)
            why = f"pod={pod} is {obj}" + (
                f", by its name a pod of {candidates[0]}" if candidates else ", owner unknown"
            )
            return done(obj, None, decided, why, candidates=candidates)
    if node := labels.get("node"):
        obj = ObjectKey(kind="Node", name=node)
        found = done(obj, None, ["node"], f"node={node} names {obj}", exporter_pod=True)
        return _on_node(found, lookup)
    instance = labels.get("instance", "")
    if instance and (labels.get("job") == "node-exporter" or "node-exporter" in labels.get("service", "")):
        m = _IP_PORT.match(instance)
        host = m.group("host") if m else instance
        name = lookup.node_for_address(host) if lookup is not None else None
        how = "the cluster" if name else "its address only (no cluster)"
        obj = ObjectKey(kind="Node", name=name or host)
        why = f"node-exporter's instance={instance} is {obj}, known by {how}"
        found = done(obj, None, ["instance"], why, exporter_pod=True)
        return _on_node(found, lookup) if name else found
    service, job = labels.get("service"), labels.get("job")
    if ns and service and not labels.get("pod"):
        obj = ObjectKey(kind="Service", namespace=ns, name=service)
        decided = ["namespace", "service"] + (["job"] if job else [])
        if is_exporter(service) or is_exporter(job):
            return Subject(
                object=obj,
                decided_by=decided,
                reason=f"{obj} is an exporter's own target: it names no service",
            )
        owner = _ask(lookup, obj)
        pods = f", whose pods are {owner}'s (cluster)" if owner else ""
        return Subject(
            object=obj,
            workload=owner,
            decided_by=decided,
            reason=f"service={service} in namespace={ns} names {obj} (a scrape target){pods}",
        )
    return done(None, None, [], "no label names a Kubernetes object")
