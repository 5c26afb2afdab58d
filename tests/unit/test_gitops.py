"""A remediation does not fight GitOps: whether Argo CD or Flux would put back what a step writes,
decided from the live object as they leave it and from their own resources (tests/support/gitops.py
cites the shapes)."""

import copy
import json
from typing import Any

import pytest

from medic.runbook import RestartStep, RollbackStep, ScaleStep, Target
from remediations.actions import Restart, Rollback, Scale
from remediations.gitops import Claim, _safe_pattern, reconciler_claim, reconcilers_of
from remediations.ports import ClusterError, ObjectRef
from tests.support.fakes import FakeCluster
from tests.support.gitops import (
    application,
    argo_applied,
    deployment,
    fields_v1,
    flux_applied,
    helm_release,
    hpa,
    kustomization,
    manifest_of,
)

TARGET = Target(namespace="shop", name="checkout")
SCALE = ScaleStep(action="scale", target=TARGET, factor=2)
RESTART = RestartStep(action="restart", target=TARGET)
ROLLBACK = RollbackStep(action="rollback", target=TARGET)
HPA_SCALE = ScaleStep(action="scale", target=TARGET, replicas=6, hpa="checkout", max_replicas=20)
STEPS: dict[str, tuple[Any, Any]] = {
    "scale": (Scale(), SCALE),
    "restart": (Restart(), RESTART),
    "rollback": (Rollback(), ROLLBACK),
}


class Unreadable(FakeCluster):
    """A cluster where Medic may read the workloads but not the GitOps resources (no RBAC for them, or
    their CRDs live in another cluster)."""

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        if ref.kind in ("Application", "Kustomization", "HelmRelease"):
            raise ClusterError(
                f'Kubernetes refused to read {ref} (403 Forbidden): {ref.kind.lower()}s is forbidden: User "'
                'system:serviceaccount:medic:medic-worker" cannot get resource'
            )
        return super().get(ref)


def cluster(obj: dict[str, Any], *resources: dict[str, Any], unreadable: bool = False) -> FakeCluster:
    found = Unreadable() if unreadable else FakeCluster()
    for item in (obj, *resources):
        meta = item["metadata"]
        ref = ObjectRef(
            api_version=item["apiVersion"], kind=item["kind"], namespace=meta["namespace"], name=meta["name"]
        )
        found.objects[str(ref)] = copy.deepcopy(item)
    return found


def claim(found: FakeCluster, step: str = "scale", argocd_namespace: str = "argocd") -> Claim | None:
    action, bound = STEPS[step]
    return reconciler_claim(
        found, action.target(bound), action.writes(bound), argocd_namespace=argocd_namespace
    )


def flux_deployment(*, replicas_in_git: bool = True) -> dict[str, Any]:
    obj = deployment()
    flux_applied(obj, manifest_of(obj, replicas=replicas_in_git))
    return obj


def argo_deployment(
    *, tracking: str = "annotation", server_side: bool = False, app: str = "checkout"
) -> dict[str, Any]:
    obj = deployment()
    argo_applied(obj, manifest_of(obj), app=app, tracking=tracking, server_side=server_side)
    return obj


# ---- Flux ------------------------------------------------------------------------------------------------


def test_flux_puts_back_a_scale_and_a_rollback_but_not_a_restart() -> None:
    found = cluster(flux_deployment(), kustomization())
    scaled = claim(found, "scale")
    assert scaled is not None and scaled.certain
    assert scaled.reconciler == "Flux Kustomization flux-system/apps"
    assert scaled.fields == ["spec.replicas"]
    assert "every 10m" in scaled.reason
    assert "flux suspend kustomization apps -n flux-system" in scaled.remedy
    rolled = claim(found, "rollback")
    assert rolled is not None and rolled.fields == ["spec.template"]
    # Git sets no restartedAt annotation: Flux does not own it, so a restart stays
    assert claim(found, "restart") is None


def test_flux_leaves_replicas_git_does_not_set() -> None:
    """A manifest that leaves the count to an HPA: scaling is nobody's to revert."""
    found = cluster(flux_deployment(replicas_in_git=False), kustomization())
    assert claim(found, "scale") is None
    assert claim(found, "rollback") is not None


@pytest.mark.parametrize(
    "how",
    ["suspended", "reconcile disabled", "ssa IfNotPresent", "ssa Ignore"],
)
def test_flux_that_does_not_correct_drift_now_is_no_claim(how: str) -> None:
    obj = flux_deployment()
    annotations = obj["metadata"].setdefault("annotations", {})
    if how == "reconcile disabled":
        annotations["kustomize.toolkit.fluxcd.io/reconcile"] = "disabled"
    elif how.startswith("ssa"):
        annotations["kustomize.toolkit.fluxcd.io/ssa"] = how.split()[1]
    found = cluster(obj, kustomization(suspend=how == "suspended"))
    assert claim(found) is None


def test_flux_helm_release_only_with_drift_detection_and_not_what_it_ignores() -> None:
    obj = deployment()
    flux_applied(obj, manifest_of(obj), name="checkout", helm=True)
    assert claim(cluster(obj, helm_release(drift=None))) is None  # helm-controller's default: no correction
    assert claim(cluster(obj, helm_release(drift="warn"))) is None
    enabled = claim(cluster(obj, helm_release()))
    assert enabled is not None and enabled.reconciler == "Flux HelmRelease flux-system/checkout"
    assert "flux suspend helmrelease checkout -n flux-system" in enabled.remedy
    # the ignore rule of Flux's docs: replicas left to an HPA
    ignored = helm_release(ignore=[{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}])
    assert claim(cluster(obj, ignored)) is None
    assert claim(cluster(obj, ignored), "rollback") is not None
    other = helm_release(ignore=[{"paths": ["/spec/replicas"], "target": {"kind": "StatefulSet"}}])
    assert claim(cluster(obj, other)) is not None


def test_an_hpa_git_applies_is_claimed_on_its_bounds() -> None:
    autoscaler = hpa()
    flux_applied(autoscaler, copy.deepcopy(autoscaler))
    found = cluster(autoscaler, kustomization())
    scale = Scale()
    got = reconciler_claim(found, scale.target(HPA_SCALE), scale.writes(HPA_SCALE))
    assert got is not None and got.fields == ["spec.minReplicas"]  # maxReplicas is written as it is


# ---- Argo CD ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server_side", [False, True])
def test_argo_self_heal_puts_back_what_git_sets(server_side: bool) -> None:
    found = cluster(argo_deployment(server_side=server_side), application())
    got = claim(found)
    assert got is not None and got.certain
    assert got.reconciler == "Argo CD Application argocd/checkout"
    assert got.reason == "automated sync with self-heal"
    assert "argocd app set argocd/checkout --self-heal=false" in got.remedy
    assert claim(found, "restart") is None


@pytest.mark.parametrize("self_heal", [False, None])
def test_argo_without_self_heal_does_not_revert_drift(self_heal: bool | None) -> None:
    assert claim(cluster(argo_deployment(), application(self_heal=self_heal))) is None


def test_argo_automated_sync_turned_off_in_place() -> None:
    """Argo CD 3.x can keep the automated block and switch it off with ``enabled: false``."""
    app = application()
    app["spec"]["syncPolicy"]["automated"]["enabled"] = False
    assert claim(cluster(argo_deployment(), app)) is None


@pytest.mark.parametrize(
    ("rule", "ignored"),
    [
        ({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}, True),
        (
            {
                "group": "apps",
                "kind": "Deployment",
                "name": "checkout",
                "jqPathExpressions": [".spec.replicas"],
            },
            True,
        ),
        ({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec"]}, True),  # holds the field
        ({"group": "apps", "kind": "Deployment", "name": "cart", "jsonPointers": ["/spec/replicas"]}, False),
        ({"group": "apps", "kind": "StatefulSet", "jsonPointers": ["/spec/replicas"]}, False),
        ({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicasets"]}, False),
    ],
)
def test_argo_ignore_differences(rule: dict[str, Any], ignored: bool) -> None:
    got = claim(cluster(argo_deployment(), application(ignore=[rule])))
    assert (got is None) is ignored


def test_argo_application_in_another_namespace_is_read_there() -> None:
    """Apps in any namespace: the tracking id names the Application as <namespace>_<name>."""
    obj = argo_deployment(app="payments_checkout")
    found = cluster(obj, application(namespace="payments"))
    got = claim(found)
    assert got is not None and got.reconciler == "Argo CD Application payments/checkout"
    assert claim(found, argocd_namespace="elsewhere") is not None  # the id says where


def test_an_application_medic_cannot_read_may_revert() -> None:
    """Tracked by annotation (Argo CD applied it for sure) but its Application is not readable here: no
    RBAC, or a central Argo CD in another cluster. Medic cannot tell it would not revert: a 'may'."""
    got = claim(cluster(argo_deployment(), unreadable=True))
    assert got is not None and not got.certain
    assert "may put back spec.replicas" in got.text
    assert "403 Forbidden" in got.reason


def test_the_instance_label_alone_is_a_helm_release_as_often_as_argo() -> None:
    """app.kubernetes.io/instance is Argo CD's label tracking (2.x) and every Helm chart's label."""
    helm = deployment()
    helm["metadata"]["labels"]["app.kubernetes.io/instance"] = "checkout"  # a Helm release's label
    helm["metadata"]["managedFields"] = [
        {
            "manager": "helm",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(manifest_of(helm)),
        }
    ]
    assert claim(cluster(helm)) is None  # no Application of that name
    assert (
        claim(cluster(helm, unreadable=True)) is None
    )  # cannot read one, and nothing says Argo CD applied it
    argo = argo_deployment(tracking="label")
    got = claim(cluster(argo, application()))
    assert got is not None and got.certain  # the Application is there: label tracking
    # Argo CD's field manager owning the field is evidence enough, without reading the Application
    unknown = claim(cluster(argo, unreadable=True))
    assert unknown is not None and not unknown.certain
    # plain kubectl apply leaves a last applied configuration too: not evidence of Argo CD
    kubectl = deployment()
    kubectl["metadata"]["labels"]["app.kubernetes.io/instance"] = "checkout"
    kubectl["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest_of(kubectl))
    }
    assert claim(cluster(kubectl, unreadable=True)) is None


def test_a_tracking_id_that_names_another_object_is_not_argo_cds() -> None:
    """Argo CD ignores a tracking annotation that does not name the object it sits on: one a tool copied
    along with an object it made (its own field manager wrote it, not Argo CD's)."""
    obj = argo_deployment(server_side=True)
    obj["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = "checkout:apps/Deployment:shop/cart"
    for entry in obj["metadata"]["managedFields"]:
        entry["manager"] = "hnc.x-k8s.io"
    assert claim(cluster(obj, unreadable=True)) is None
    assert reconcilers_of(obj, argocd_namespace="argocd") == []


def test_argo_cds_own_manager_without_a_tracking_medic_reads_is_a_may() -> None:
    """A custom application.instanceLabelKey (argocd.argoproj.io/instance): no tracking Medic reads, but
    Argo CD's field manager applied the field. Acting would fight it unseen (found in the field walk)."""
    custom = argo_deployment(tracking="label", server_side=True)
    custom["metadata"]["labels"]["argocd.argoproj.io/instance"] = custom["metadata"]["labels"].pop(
        "app.kubernetes.io/instance"
    )
    sure = claim(cluster(custom, application()))  # the key Argo CD's docs show: read as label tracking
    assert sure is not None and sure.certain and sure.reconciler == "Argo CD Application argocd/checkout"
    obj = argo_deployment(tracking="label", server_side=True)
    obj["metadata"]["labels"]["example.com/argocd-app"] = obj["metadata"]["labels"].pop(
        "app.kubernetes.io/instance"
    )
    got = claim(cluster(obj, application()))
    assert got is not None and not got.certain
    assert got.reconciler == "Argo CD (an Application Medic cannot name)"
    assert "switch Argo CD to annotation tracking" in got.remedy and "argocd app set" not in got.remedy


def test_argo_client_side_apply_does_not_own_what_git_left_out() -> None:
    """Client-side apply: the Update entry that created the object owns every field the API server
    defaulted (replicas a manifest left out); the last applied configuration says what Git sets (found in
    the field walk: a scale Argo CD would never revert was refused)."""
    obj = deployment()
    argo_applied(obj, manifest_of(obj, replicas=False))
    assert obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] == {}  # as the API has it
    assert claim(cluster(obj, application())) is None
    assert claim(cluster(obj, application()), "rollback") is not None
    # and the label-tracked object whose Application is not where it was looked for: a may
    labelled = deployment()
    argo_applied(labelled, manifest_of(labelled), tracking="label")
    got = claim(cluster(labelled, application(namespace="openshift-gitops")))
    assert got is not None and not got.certain and "Set MEDIC_ARGOCD_NAMESPACE" in got.remedy


def test_an_application_argo_cd_skips_does_not_revert() -> None:
    app = application()
    app["metadata"]["annotations"] = {"argocd.argoproj.io/skip-reconcile": "true"}
    assert claim(cluster(argo_deployment(), app)) is None


def test_flux_drift_ignore_rules_and_the_label_form_of_its_marks() -> None:
    rules = kustomization()
    rules["spec"]["driftIgnoreRules"] = [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]
    assert claim(cluster(flux_deployment(), rules)) is None
    assert claim(cluster(flux_deployment(), rules), "rollback") is not None
    labelled = flux_deployment()
    labelled["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/reconcile"] = "disabled"
    assert claim(cluster(labelled, kustomization())) is None
    opted_out = deployment()
    flux_applied(opted_out, manifest_of(opted_out), name="checkout", helm=True)
    opted_out["metadata"]["annotations"] = {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}
    assert claim(cluster(opted_out, helm_release())) is None


def test_a_plain_deployment_names_no_reconciler() -> None:
    obj = deployment()
    assert reconcilers_of(obj, argocd_namespace="argocd") == []
    assert claim(cluster(obj)) is None


def test_fields_v1_of_a_manifest_as_the_api_server_records_it() -> None:
    """The helper the tests mark objects with: list items keyed by their name, as the API server does
    for containers (https://kubernetes.io/docs/reference/using-api/server-side-apply/)."""
    manifest = manifest_of(deployment())
    fields = fields_v1(manifest)
    containers = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {'k:{"name":"checkout"}': {".": {}, "f:name": {}, "f:image": {}, "f:ports": {}}}
    assert fields["f:spec"]["f:replicas"] == {}


# ---- what the review found ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "ignored"),
    [
        ({"kind": "Deployment|StatefulSet"}, True),  # Flux's targets are regular expressions
        ({"kind": "Deployment", "name": "check.*"}, True),
        ({"kind": "Deploy"}, False),  # anchored
        ({"kind": "Deployment", "labelSelector": "app=checkout"}, True),
        ({"kind": "Deployment", "labelSelector": "autoscaled=true"}, False),  # not this object
        ({"kind": "Deployment", "labelSelector": "app in (cart, checkout),!canary"}, True),
        ({"kind": "Deployment", "labelSelector": "app notin (checkout)"}, False),
        ({"kind": "Deployment", "annotationSelector": "team"}, False),  # no such annotation
        ({"kind": "Deployment", "labelSelector": "app=(("}, False),  # unreadable: not taken as ignored
    ],
)
def test_flux_ignore_targets_are_regexes_and_selectors(target: dict[str, Any], ignored: bool) -> None:
    rules = kustomization()
    rules["spec"]["driftIgnoreRules"] = [{"paths": ["/spec/replicas"], "target": target}]
    assert (claim(cluster(flux_deployment(), rules)) is None) is ignored


@pytest.mark.parametrize(
    ("rule", "ignored"),
    [
        ({"group": "*", "kind": "*", "jsonPointers": ["/spec/replicas"]}, True),  # Argo CD's globs
        ({"group": "apps", "kind": "Deploy*", "jsonPointers": ["/spec/replicas"]}, True),
        ({"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["medic"]}, True),  # for a scale
        (
            {"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["kube-controller-manager"]},
            False,
        ),
    ],
)
def test_argo_ignore_globs_and_trusted_managers(rule: dict[str, Any], ignored: bool) -> None:
    assert (claim(cluster(argo_deployment(), application(ignore=[rule]))) is None) is ignored


def test_what_to_do_fits_the_case() -> None:
    found = cluster(argo_deployment(), application())
    scale, rollback = claim(found), claim(found, "rollback")
    assert scale is not None and "revert its commit" not in scale.remedy
    assert rollback is not None and "Change it in Git (a bad release: revert its commit)" in rollback.remedy
    # an ApplicationSet's Application: its template decides
    generated = application()
    generated["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "name": "shop",
            "uid": "1",
            "controller": True,
        }
    ]
    owned = claim(cluster(argo_deployment(), generated))
    assert owned is not None and "since ApplicationSet argocd/shop generates this Application" in owned.remedy
    assert "Git is the way here" in owned.remedy
    assert "argocd app set" not in owned.remedy


def test_an_application_not_where_it_was_looked_for_is_a_may() -> None:
    """Annotation tracking without <namespace>_: the Application is assumed in MEDIC_ARGOCD_NAMESPACE. Not
    there (OpenShift GitOps keeps them in openshift-gitops) is as likely as deleted: a 'may', and why."""
    got = claim(cluster(argo_deployment(), application(namespace="openshift-gitops")))
    assert got is not None and not got.certain
    assert "no Application checkout in argocd" in got.reason
    assert "Set MEDIC_ARGOCD_NAMESPACE (now argocd)" in got.remedy
    assert claim(
        cluster(argo_deployment(), application(namespace="openshift-gitops")),
        argocd_namespace="openshift-gitops",
    )
    # with <namespace>_ the id says where: not there is deleted, and nothing reconciles it
    assert claim(cluster(argo_deployment(app="payments_checkout"))) is None


def test_no_such_api_here_says_so_instead_of_asking_for_rbac() -> None:
    class NoCrd(FakeCluster):
        def get(self, ref: ObjectRef) -> dict[str, Any] | None:
            if ref.kind == "Application":
                raise ClusterError(
                    "Kubernetes refused to read application/argocd/checkout (404 Not Found): the server "
                    "could not find the requested resource"
                )
            return super().get(ref)

    found = NoCrd()
    found.objects["deployment/shop/checkout"] = argo_deployment()
    got = claim(found)
    assert (
        got is not None and "not served in this cluster (a central Argo CD in another cluster?)" in got.remedy
    )
    assert "remediation.gitops.namespaces" not in got.remedy


def test_trusting_medics_writes_does_not_cover_a_rollback() -> None:
    """A rollback removes what the bad release added (an env var, a sidecar): removed fields are owned by
    nobody, still differ from Git, and self-heal applies the whole manifest back (found by review)."""
    trusting = application(
        ignore=[{"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["medic"]}]
    )
    found = cluster(argo_deployment(), trusting)
    assert claim(found) is None
    rolled = claim(found, "rollback")
    assert rolled is not None and rolled.fields == ["spec.template"]


@pytest.mark.parametrize(
    "name",
    ["([a-z0-9]+-?)+-canary", "(a|aa)*", "a*b*c*d", r"(x)\1", "(?=check)check", "c" * 300],
)
def test_a_flux_pattern_python_cannot_match_in_bounded_time_is_not_read(name: str) -> None:
    """Flux matches with RE2, linear whatever the pattern; Python backtracks. A pattern harmless in Flux
    took 4.4 s here on a 33-character name, holding the GIL (found by review): not read, so the field is
    not taken as ignored and the step is refused (the safe side), at once. The patterns people write are
    read (test_flux_ignore_targets_are_regexes_and_selectors)."""
    rules = kustomization()
    rules["spec"]["driftIgnoreRules"] = [{"paths": ["/spec/replicas"], "target": {"name": name}}]
    obj = flux_deployment()
    obj["metadata"]["name"] = "checkout-payments-service-primary"
    assert not _safe_pattern(name)
    got = reconciler_claim(
        cluster(obj, rules),
        ObjectRef(
            api_version="apps/v1",
            kind="Deployment",
            namespace="shop",
            name="checkout-payments-service-primary",
        ),
        [("spec", "replicas")],
    )
    assert got is not None


def test_a_hostile_selector_is_not_read() -> None:
    rules = kustomization()
    selector = "app" + " " * 5000 + "x"
    rules["spec"]["driftIgnoreRules"] = [{"paths": ["/spec/replicas"], "target": {"labelSelector": selector}}]
    assert claim(cluster(flux_deployment(), rules)) is not None


def test_argo_server_side_apply_wins_over_a_stale_last_applied_configuration() -> None:
    """Switched from client-side to server-side apply: the annotation is frozen at the last client-side
    apply; Argo CD's Apply entry says what Git sets now (found by review)."""
    obj = deployment()
    argo_applied(obj, manifest_of(obj, replicas=False))  # client-side, replicas left out then
    ssa = manifest_of(obj)  # Git sets replicas now, applied server-side
    obj["metadata"]["managedFields"].append(
        {
            "manager": "argocd-controller",
            "operation": "Apply",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(ssa),
        }
    )
    got = claim(cluster(obj, application()))
    assert got is not None and got.fields == ["spec.replicas"]


def test_argo_replace_leaves_no_applied_configuration_and_owns_all() -> None:
    """Replace=true: kubectl replace, no saved configuration, no Apply entry; a replace sets every field
    from Git (a left-out one to its default), so every field the step writes is claimed (found by review)."""
    obj = deployment()
    argo_applied(obj, manifest_of(obj, replicas=False))
    del obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    for entry in obj["metadata"]["managedFields"]:
        entry["manager"] = "kubectl-replace"
    got = claim(cluster(obj, application()))
    assert got is not None and got.fields == ["spec.replicas"]


def test_a_gone_application_says_how_to_let_medic_act() -> None:
    """Label tracking, Argo CD's manager on it, no Application any more (deleted, its resources left):
    a may whose remedy says how out."""
    obj = argo_deployment(tracking="label")
    got = claim(cluster(obj))
    assert got is not None and not got.certain
    assert "If no Application manages it any more" in got.remedy and "reconcilers: ignore" in got.remedy


def test_flux_comes_before_a_leftover_argo_entry() -> None:
    """A Flux object with a leftover Argo CD entry in managedFields (it moved from Argo CD to Flux): Flux
    is judged, not an Application Medic cannot name."""
    obj = flux_deployment()
    obj["metadata"]["managedFields"].append(
        {
            "manager": "argocd-controller",
            "operation": "Apply",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(manifest_of(obj)),
        }
    )
    assert claim(cluster(obj, kustomization(suspend=True))) is None  # suspended: nobody reverts it now
    got = claim(cluster(obj, kustomization()))
    assert got is not None and got.reconciler == "Flux Kustomization flux-system/apps"
