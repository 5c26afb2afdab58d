"""A Medic per cluster (MEDIC_CLUSTER prod-eu and prod-us), both in one Temporal namespace, each on its
own task queue, with MEDIC_INCIDENTS_PER_CLUSTER: each cluster's crash loop is its own incident, run by
its own Medic's worker, which plans the runbook for it. Before, both were ``incident-checkout``: prod-us'
alert was signalled into the incident prod-eu's Medic had started on its own task queue, and prod-eu's
worker skipped the runbook ("the alert is from cluster 'prod-us' ... a Medic worker there acts on it")
while prod-us' worker never saw it (a walk-through of the documented set-up, 2026-12-07).
Real dev server, two APIs and workers."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from medic.access import AccessPolicy
from service.chat.authz import Authorizer
from service.chat.runner import ChatRunner, SlackUser
from service.control import Controls
from service.incidents import TemporalIncidentReader
from service.runner import run_until_stopped
from service.temporal import connect
from tests.support.stack import TOKEN, free_port, medic_stack, wait_until

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
CATALOG = """
services:
  - name: checkout
    team: checkout
    tier: 1
    workloads: [{namespace: shop, names: [checkout]}]
"""
PODS = {"prod-eu": "checkout-7d9f8b6c5d-x2k4q", "prod-us": "checkout-6d8f7b9c4-wq2zp"}


def crash(cluster: str) -> dict[str, Any]:
    """KubePodCrashLooping as kube-prometheus-stack's rule labels it, the Prometheus' external label added."""
    started = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    labels = {
        "alertname": "KubePodCrashLooping",
        "cluster": cluster,
        "container": "checkout",
        "endpoint": "http",
        "instance": "10.42.0.15:8080",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": PODS[cluster],
        "prometheus": "monitoring/kube-prometheus-stack-prometheus",
        "reason": "CrashLoopBackOff",
        "service": "kube-prometheus-stack-kube-state-metrics",
        "severity": "warning",
    }
    alert = {"status": "firing", "labels": labels, "startsAt": started, "endsAt": "0001-01-01T00:00:00Z"}
    return {"version": "4", "status": "firing", "receiver": "medic", "groupLabels": {}, "alerts": [alert]}


async def test_two_clusters_medics_in_one_namespace_each_run_their_own_clusters_incident() -> None:
    async with medic_stack(
        catalog_yaml=CATALOG, cluster="prod-eu", runbooks_dir=RUNBOOKS, incidents_per_cluster=True
    ) as eu:
        us_settings = eu.settings.model_copy(
            update={
                "api_port": free_port(),
                "task_queue": "medic-prod-us",
                "cluster": "prod-us",
                "data_dir": eu.settings.data_dir / "us",
            }
        )
        us_settings.data_dir.mkdir()
        stop = asyncio.Event()
        us_task = asyncio.create_task(
            run_until_stopped(us_settings, await connect(us_settings), api=True, worker=True, stop=stop)
        )
        headers = {"Authorization": f"Bearer {TOKEN}"}
        us_url = f"http://127.0.0.1:{us_settings.api_port}"
        try:
            async with eu.http() as eu_api, httpx.AsyncClient(base_url=us_url, headers=headers) as us_api:

                async def us_up() -> bool:
                    try:
                        return (await us_api.get("/healthz")).status_code == 200
                    except httpx.HTTPError:
                        return False

                await wait_until(us_up, timeout=30, what="prod-us' Medic API")
                answers = {
                    "prod-eu": (await eu_api.post("/webhooks/alertmanager", json=crash("prod-eu"))).json(),
                    "prod-us": (await us_api.post("/webhooks/alertmanager", json=crash("prod-us"))).json(),
                }
                assert answers["prod-eu"]["incidents"] == ["incident-prod-eu--checkout"], answers
                assert answers["prod-us"]["incidents"] == ["incident-prod-us--checkout"], answers
                timelines: dict[str, list[dict[str, Any]]] = {}

                async def both_planned() -> bool:
                    for cluster, api in (("prod-eu", eu_api), ("prod-us", us_api)):
                        detail = (await api.get(f"/incidents/incident-{cluster}--checkout")).json()
                        timelines[cluster] = detail.get("timeline", [])
                    return all(any(e["kind"] == "remediation.started" for e in t) for t in timelines.values())

                try:
                    await wait_until(
                        both_planned, timeout=60, what="a runbook planned in each cluster's incident"
                    )
                except AssertionError as err:
                    raise AssertionError(f"{err}: {timelines}") from err
                for cluster, queue in (("prod-eu", eu.settings.task_queue), ("prod-us", "medic-prod-us")):
                    described = await eu.client.get_workflow_handle(
                        f"incident-{cluster}--checkout"
                    ).describe()
                    assert described.task_queue == queue
                    skipped = [e["message"] for e in timelines[cluster] if e["kind"] == "remediation.skipped"]
                    assert not any("is from cluster" in m for m in skipped), skipped
                    api = eu_api if cluster == "prod-eu" else us_api
                    detail = (await api.get(f"/incidents/incident-{cluster}--checkout")).json()
                    assert [a["labels"]["cluster"] for a in detail["alerts"]] == [cluster]
                    assert detail["title"] == f"KubePodCrashLooping on checkout in {cluster}"
                    draft = (await api.get(f"/incidents/incident-{cluster}--checkout/postmortem")).text
                    assert draft.startswith(f"# Postmortem: KubePodCrashLooping on checkout in {cluster} ")
                # the Temporal UI's view of one cluster's incidents (docs/deployment.md#several-clusters)
                view = "WorkflowType='IncidentWorkflow' AND WorkflowId STARTS_WITH 'incident-prod-us--'"
                listed: list[str] = []

                async def us_view() -> bool:
                    listed[:] = [w.id async for w in eu.client.list_workflows(view)]
                    return bool(listed)

                await wait_until(us_view, timeout=30, what="prod-us' incidents in visibility")
                assert listed == ["incident-prod-us--checkout"]
                # `/medic show checkout` found nothing with incidents per cluster: it names both
                runner = ChatRunner(
                    client=eu.client,
                    settings=eu.settings,
                    reader=TemporalIncidentReader(eu.client, eu.settings),
                    controls=cast(Controls, None),
                    authorizer=Authorizer(AccessPolicy()),
                    silences=None,
                )
                said: list[str] = []

                async def both_named() -> bool:
                    said[:] = [(await runner.command("show checkout", user=SlackUser(id="U1"))).text]
                    return "several clusters" in said[0]

                await wait_until(both_named, timeout=30, what="both clusters' incidents named")
                assert "`incident-prod-eu--checkout`" in said[0] and "`incident-prod-us--checkout`" in said[0]
        finally:
            stop.set()
            await asyncio.wait_for(us_task, timeout=30)
