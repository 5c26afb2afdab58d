"""A runbook on a Deployment Argo CD applies with self-heal, through the whole stack: the webhook, the
worker's real Kubernetes adapter against the API double, the Application read in the namespace
MEDIC_ARGOCD_NAMESPACE names. Medic does not scale what Argo CD would scale back; the incident says why
and what to do."""

from pathlib import Path
from typing import Any

import pytest

from tests.doubles.kubernetes import KubernetesDouble
from tests.integration.test_remediation_workers import RUNBOOK, payload
from tests.support.gitops import application, argo_applied, manifest_of
from tests.support.kube import write_kubeconfig
from tests.support.stack import medic_stack, wait_until

pytestmark = pytest.mark.integration


async def test_a_scale_argo_cd_would_undo_is_not_done(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "scale.yaml").write_text(RUNBOOK)
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", replicas=2)
    kube.tamper(
        "apps/v1",
        "deployments",
        "shop",
        "checkout",
        lambda d: argo_applied(d, manifest_of(d), app="checkout"),
    )
    kube.add_custom("argoproj.io", "v1alpha1", "applications", application(namespace="gitops"))
    with kube.serve() as kube_url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url)
        async with (
            medic_stack(
                runbooks_dir=runbooks,
                kubeconfig=kubeconfig,
                remediation_mode="auto",
                argocd_namespace="gitops",
                quiet_seconds=1.0,
            ) as stack,
            stack.http() as http,
        ):
            assert (await http.post("/webhooks/alertmanager", json=payload("firing"))).status_code == 200
            blocked: list[str] = []

            async def refused() -> bool:
                detail: dict[str, Any] = (await http.get("/incidents/incident-checkout")).json()
                blocked[:] = [
                    e["message"] for e in detail.get("timeline", []) if e["kind"] == "guardrail.blocked"
                ]
                return bool(blocked)

            await wait_until(refused, timeout=60, what="the remediation to refuse")
    (message,) = blocked
    assert "Argo CD Application gitops/checkout would put back spec.replicas" in message
    assert "argocd app set gitops/checkout --self-heal=false" in message
    assert kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["replicas"] == 2
    assert not [w for w in kube.writes() if w.path.endswith("/scale")]
    reads = [r.path for r in kube.requests() if r.method == "GET"]
    assert "/apis/argoproj.io/v1alpha1/namespaces/gitops/applications/checkout" in reads
