"""Whether Argo CD or Flux would put a step's change back, read through the real ``kubernetes`` client
from the API double: the typed Deployment read keeps ``managedFields`` and the tracking annotations, the
reconcilers' resources are read as custom objects, and what the API answers when Medic may not read
them (403), when their CRD is not installed (a 404 naming no object) or when it is down (503) each gives
the right verdict."""

from collections.abc import Iterator
from typing import Any

import pytest

from medic.ports import TransientError
from medic.runbook import RestartStep, RollbackStep, ScaleStep, Target
from remediations.actions import Restart, Rollback, Scale
from remediations.controllers import claim_for
from remediations.gitops import Claim, reconciler_claim
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import CUSTOM, GITOPS
from tests.support.gitops import application, argo_applied, flux_applied, kustomization, manifest_of
from tests.support.kube import adapter

CUSTOM_ROUTE = "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"
TARGET = Target(namespace="shop", name="checkout")
STEPS: dict[str, tuple[Any, Any]] = {
    "scale": (Scale(), ScaleStep(action="scale", target=TARGET, factor=2)),
    "restart": (Restart(), RestartStep(action="restart", target=TARGET)),
    "rollback": (Rollback(), RollbackStep(action="rollback", target=TARGET)),
}


def served(*, crds: tuple[Any, ...] = CUSTOM, how: str = "flux") -> KubernetesDouble:
    k8s = KubernetesDouble(crds=crds)
    k8s.add_deployment("shop", "checkout", replicas=2, history=["registry.example.com/checkout:1.0"])

    def mark(obj: dict[str, Any]) -> None:
        if how == "flux":
            flux_applied(obj, manifest_of(obj))
        else:
            argo_applied(obj, manifest_of(obj))

    k8s.tamper("apps/v1", "deployments", "shop", "checkout", mark)  # the double does no server-side apply
    return k8s


@pytest.fixture
def flux() -> Iterator[KubernetesDouble]:
    k8s = served()
    k8s.add_custom("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", kustomization())
    with k8s.serve():
        yield k8s


def claim(k8s: KubernetesDouble, step: str = "scale") -> Claim | None:
    action, bound = STEPS[step]
    cluster = adapter(k8s.url)
    try:
        return reconciler_claim(cluster, action.target(bound), action.writes(bound))
    finally:
        cluster.close()


def test_flux_through_the_client(flux: KubernetesDouble) -> None:
    got = claim(flux)
    assert got is not None and got.certain and got.reconciler == "Flux Kustomization flux-system/apps"
    assert got.fields == ["spec.replicas"]
    assert claim(flux, "restart") is None
    rolled = claim(flux, "rollback")
    assert rolled is not None and rolled.fields == ["spec.template"]
    reads = [r.path for r in flux.requests() if r.method == "GET"]
    assert "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps" in reads


def test_the_kustomization_is_read_at_each_step(flux: KubernetesDouble) -> None:
    """Suspended (flux suspend) then resumed: each step reads it again, nothing is remembered."""

    def suspend(on: bool) -> None:
        flux.tamper(
            "kustomize.toolkit.fluxcd.io/v1",
            "kustomizations",
            "flux-system",
            "apps",
            lambda k: k["spec"].update(suspend=on),
        )

    suspend(True)
    assert claim(flux) is None
    suspend(False)
    assert claim(flux) is not None


def test_medic_writes_as_its_own_field_manager(flux: KubernetesDouble) -> None:
    """What managedFields name after Medic's write, and what Argo CD's managedFieldsManagers can trust."""
    cluster = adapter(flux.url)
    try:
        cluster.set_replicas(STEPS["scale"][0].target(STEPS["scale"][1]), 4, expect=2)
    finally:
        cluster.close()
    (patch,) = [r for r in flux.requests() if r.method == "PATCH"]
    assert "fieldManager=medic" in patch.query


def test_argo_cd_through_the_client() -> None:
    k8s = served(how="argo")
    k8s.add_custom("argoproj.io", "v1alpha1", "applications", application())
    with k8s.serve():
        got = claim(k8s)
    assert got is not None and got.certain and got.reconciler == "Argo CD Application argocd/checkout"


def test_argo_cd_not_installed_here_is_a_may() -> None:
    """Tracked by Argo CD's annotation, but no Application CRD in this cluster: a central Argo CD in
    another cluster applies it. Medic cannot read whether it self-heals."""
    k8s = served(crds=tuple(r for r in CUSTOM if r not in GITOPS), how="argo")
    with k8s.serve():
        got = claim(k8s)
    assert got is not None and not got.certain
    assert "could not find the requested resource" in got.reason


def test_no_rbac_for_the_application_is_a_may() -> None:
    k8s = served(how="argo")
    k8s.add_custom("argoproj.io", "v1alpha1", "applications", application())
    with k8s.serve():
        k8s.faults.push("http_error", status=403, route=CUSTOM_ROUTE)
        got = claim(k8s)
    assert got is not None and not got.certain and "403" in got.reason


def test_an_api_that_is_down_is_retried_not_judged(flux: KubernetesDouble) -> None:
    flux.faults.push("server_error", status=503, route=CUSTOM_ROUTE)
    with pytest.raises(TransientError):
        claim(flux)


def test_an_hpa_over_the_deployment_is_listed_through_the_client() -> None:
    k8s = KubernetesDouble()
    k8s.add_deployment("shop", "checkout", replicas=2)
    k8s.add_hpa("shop", "cart-hpa", target="cart")
    k8s.add_hpa("shop", "checkout-hpa", target="checkout", min_replicas=3, max_replicas=12)
    action, step = STEPS["scale"]
    with k8s.serve():
        cluster = adapter(k8s.url)
        try:
            got = claim_for(cluster, action.target(step), action.writes(step))
        finally:
            cluster.close()
    assert got is not None and got.reconciler == "HorizontalPodAutoscaler shop/checkout-hpa"
    assert "between 3 and 12" in got.reason and not got.overridable
