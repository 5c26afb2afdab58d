"""What the runbooks may do, asked of the Kubernetes API as Medic's identity: a SelfSubjectAccessReview per
permission their steps need, through the real client against the double, said by the worker at start and by
``medic doctor``."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from medic.runbook import load_runbook
from remediations.permissions import Permission, needed, runbook_needs
from service.doctor import _kubernetes
from service.preflight import preflight, say
from service.settings import Settings
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import CUSTOM, GITOPS
from tests.support.kube import adapter, write_kubeconfig

NO_GITOPS = tuple(r for r in CUSTOM if r not in GITOPS)
SCALE = load_runbook(
    """
name: scale-out
match: {alertname: [HighLatency]}
steps:
  - {action: scale, target: {namespace: "${alert.labels.namespace}", name: "${incident.service}"}, factor: 2}
verify: {alerts_resolved: true}
""",
    source="scale.yaml",
)
ROLLBACK = load_runbook(
    """
name: roll-back-payments
match: {alertname: [KubePodCrashLooping]}
steps: [{action: rollback, target: {namespace: payments, name: api}}]
verify: {alerts_resolved: true}
""",
    source="rollback.yaml",
)


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    double = KubernetesDouble(crds=NO_GITOPS)  # the runbooks' own lines; GitOps reads below
    with double.serve():
        yield double


def test_what_each_step_needs_is_what_the_chart_grants() -> None:
    assert [str(p) for p in needed(ROLLBACK.steps[0])] == [
        "get deployments (apps)",
        "patch deployments (apps)",
        "list replicasets (apps)",
    ]
    scale = needed(SCALE.steps[0])  # ${target.kind} not given: a Deployment, as the default
    assert Permission(verb="patch", group="apps", resource="deployments", subresource="scale") in scale
    assert [str(p) for p in scale if not p.required] == [
        "get deployments (apps)",
        "list horizontalpodautoscalers (autoscaling)",
        "list rollouts (argoproj.io)",  # an Argo Rollout's workloadRef (remediations/referrers.py)
        "list scaledobjects (keda.sh)",  # a KEDA ScaledObject paused at a count
    ]
    # matched by when its target rolled out: that read is asked too
    fresh = ROLLBACK.model_copy(
        update={"match": ROLLBACK.match.model_copy(update={"rolled_out_within_minutes": 30})}
    )
    (payments,) = runbook_needs(fresh, ["shop"]).values()
    assert Permission(verb="list", group="apps", resource="replicasets", required=False) in payments
    # a bound namespace is asked in each allowed one, a fixed one in its own
    assert set(runbook_needs(SCALE, ["shop", "cart"])) == {"shop", "cart"}
    assert set(runbook_needs(ROLLBACK, ["shop", "cart"])) == {"payments"}


def test_the_worker_says_what_a_runbook_may_not_do(
    k8s: KubernetesDouble, caplog: pytest.LogCaptureFixture
) -> None:
    k8s.deny("patch", "deployments", subresource="scale", namespace="cart")
    k8s.deny("list", "horizontalpodautoscalers", group="autoscaling", namespace="shop")
    cluster = adapter(k8s.url)
    try:
        with caplog.at_level(logging.INFO, logger="medic.preflight"):
            lines = say(preflight(cluster, [SCALE, ROLLBACK], ["shop", "cart", "payments"]))
    finally:
        cluster.close()
    assert lines == [
        (
            "warn",
            "runbook scale-out in namespace shop: Medic may not list horizontalpodautoscalers (autoscaling): "
            "it cannot tell whether an autoscaler or a GitOps reconciler would undo its steps (nor, for a "
            "runbook matched by when its target rolled out, when it did)",
        ),
        (
            "error",
            "runbook scale-out cannot act in namespace cart: Medic may not patch deployments/scale (apps) "
            "(the chart's remediation.rbac, or a Role of yours)",
        ),
        ("ok", "runbook scale-out may act in namespace payments"),
        ("ok", "runbook roll-back-payments may act in namespace payments"),
    ]
    # (another test's worker may still be asking, and logging, from its own thread: only these lines)
    said = [r.levelname for r in caplog.records if r.getMessage() in {text for _, text in lines}]
    assert said == ["WARNING", "ERROR", "INFO", "INFO"]
    reviews = [r for r in k8s.requests() if r.path.endswith("/selfsubjectaccessreviews")]
    # each question once per namespace (get deployments in payments is both's); a scale asks 6: its
    # scale subresource (get, patch), the Deployment, the HPAs, Argo Rollouts and KEDA ScaledObjects
    assert len(reviews) == 6 * 3 + 2
    assert len({r.body for r in reviews}) == len(reviews)


def test_found_by_review_a_dry_run_a_namespace_left_out_and_grants_by_name(k8s: KubernetesDouble) -> None:
    """A dry run only reads: a missing write is a warning there. A runbook naming a namespace outside
    MEDIC_REMEDIATION_NAMESPACES is always blocked: said, not asked. ConfigMaps the chart grants by name
    (circuitBreakUpstreams) are asked by name when the runbook names the upstream; a bound one cannot be,
    and a nameless refusal is a warning."""
    k8s.deny("patch", "deployments", namespace="payments")
    circuit = load_runbook(
        """
name: open-circuit
match: {alertname: [UpstreamErrors]}
steps:
  - {action: circuit_break, namespace: shop, upstream: payments, mode: configmap}
  - {action: circuit_break, namespace: shop, upstream: "${alert.labels.upstream}", mode: configmap}
verify: {alerts_resolved: true}
""",
        source="circuit.yaml",
    )
    for verb in ("get", "patch", "delete"):
        k8s.deny(verb, "configmaps", group="", namespace="shop", unless_named=True)  # resourceNames
    cluster = adapter(k8s.url)
    try:
        dry = list(preflight(cluster, [ROLLBACK], ["payments"], mode="dry-run"))
        left_out = list(preflight(cluster, [ROLLBACK], ["shop"]))
        named = list(preflight(cluster, [circuit], ["shop"]))
    finally:
        cluster.close()
    assert dry == [
        (
            "warn",
            "runbook roll-back-payments in namespace payments: Medic may not patch deployments (apps): "
            "needed once MEDIC_REMEDIATION_MODE is approve or auto (the chart's remediation.rbac, or a Role "
            "of yours)",
        )
    ]
    assert left_out == [
        (
            "warn",
            "runbook roll-back-payments acts in namespace payments, which MEDIC_REMEDIATION_NAMESPACES "
            "leaves out: it is always blocked there",
        )
    ]
    ((level, text),) = named
    assert (
        level == "warn"
        and "may not get configmaps, patch configmaps, delete configmaps without a name" in text
    )
    asked = [json.loads(r.body) for r in k8s.requests() if r.path.endswith("/selfsubjectaccessreviews")]
    names = {
        a["spec"]["resourceAttributes"].get("name")
        for a in asked
        if a["spec"]["resourceAttributes"]["resource"] == "configmaps"
    }
    assert names == {None, "medic-circuit-payments"}


def test_any_namespace_is_asked_cluster_wide(k8s: KubernetesDouble) -> None:
    k8s.deny("list", "replicasets")
    cluster = adapter(k8s.url)
    try:
        lines = list(preflight(cluster, [SCALE, ROLLBACK], []))
    finally:
        cluster.close()
    assert lines == [
        ("ok", "runbook scale-out may act cluster-wide (MEDIC_REMEDIATION_NAMESPACES is empty)"),
        (
            "error",
            "runbook roll-back-payments cannot act in namespace payments: Medic may not list replicasets "
            "(apps) (the chart's remediation.rbac, or a Role of yours)",
        ),
    ]
    k8s.deny("patch", "deployments", subresource="scale")
    cluster = adapter(k8s.url)
    try:
        (line,) = preflight(cluster, [SCALE], [])
    finally:
        cluster.close()
    assert line == (
        "error",
        "runbook scale-out cannot act cluster-wide (MEDIC_REMEDIATION_NAMESPACES is empty): Medic may not "
        "patch deployments/scale (apps) (a ClusterRole bound to the worker: the chart makes Roles only in "
        "remediation.namespaces)",
    )


def test_an_api_that_cannot_be_asked_says_so_once(k8s: KubernetesDouble) -> None:
    k8s.faults.push("server_error", status=503, times=50)
    cluster = adapter(k8s.url)
    try:
        lines = list(preflight(cluster, [SCALE, ROLLBACK], ["shop"]))
    finally:
        cluster.close()
    ((level, text),) = lines
    assert level == "warn" and text.startswith("cannot ask the Kubernetes API what Medic may do")


def test_doctor_asks_with_the_workers_kubeconfig(k8s: KubernetesDouble, tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "rollback.yaml").write_text(ROLLBACK.model_dump_json())
    k8s.deny("list", "replicasets", namespace="payments")
    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr("t" * 32),
        runbooks_dir=runbooks,
        kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", k8s.url),
    )
    (finding,) = _kubernetes(settings, timeout=3)
    assert finding.level == "error"
    assert str(finding) == (
        "error Kubernetes: runbook roll-back-payments cannot act in namespace payments: Medic may not list "
        "replicasets (apps) (the chart's remediation.rbac, or a Role of yours)"
    )
    # no credentials at all (the chart's helm test pod): said, not an error
    bare = settings.model_copy(update={"kubeconfig": tmp_path / "missing"})
    (none,) = _kubernetes(bare, timeout=3)
    assert none.level == "warn" and "run medic doctor with the worker's kubeconfig" in none.said


def test_the_gitops_resources_installed_here_are_asked_too(tmp_path: Path) -> None:
    """Where Argo CD or Flux is installed, a step on what they apply reads their resources first; without
    the grant it is a 'may', refused: said at start, not at 3 a.m. (found in the field walk). Where they
    are not installed, nothing is said of them."""
    k8s = KubernetesDouble()  # Argo CD's and Flux's CRDs served
    k8s.deny("get", "applications", group="argoproj.io", namespace="openshift-gitops")
    with k8s.serve():
        cluster = adapter(k8s.url)
        try:
            lines = list(preflight(cluster, [ROLLBACK], ["payments"], argocd_namespace="openshift-gitops"))
        finally:
            cluster.close()
    assert lines[1:] == [
        (
            "warn",
            "Medic may not read Argo CD's Applications in openshift-gitops: a step on what they apply is a "
            "'may', and refused unless its runbook says reconcilers: ignore (chart: "
            "remediation.gitops.namespaces)",
        ),
        ("ok", "Medic may read Flux Kustomizations in flux-system"),
        ("ok", "Medic may read Flux HelmReleases in flux-system"),
    ]


def test_argo_rollouts_without_argo_cd_is_no_argo_cd(tmp_path: Path) -> None:
    """argoproj.io/v1alpha1 holds both projects' CRDs: with Argo Rollouts installed and Argo CD not, the
    group is served and its discovery lists rollouts only. Taken for Argo CD, the worker's start asked
    whether Medic may read Applications nobody installed."""
    rollouts_only = tuple(r for r in CUSTOM if r.group != "argoproj.io" or r.plural == "rollouts")
    k8s = KubernetesDouble(crds=tuple(r for r in rollouts_only if r not in GITOPS))
    with k8s.serve():
        cluster = adapter(k8s.url)
        try:
            lines = list(preflight(cluster, [ROLLBACK], ["payments"]))
        finally:
            cluster.close()
    assert lines == [("ok", "runbook roll-back-payments may act in namespace payments")]
