"""A runbook's cooldown counts from when the last remediation that acted on the target ended, on the real
Temporal dev server's visibility: from its start, one that waited 20 minutes for approval and verified for
15 left no cooldown 5 minutes after it ended (a runbook author's walk-through, 2026-12-07)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.remediate import FactsRequest
from service.control import TemporalFacts
from service.settings import Settings
from service.temporal import register_search_attributes
from tests.conftest import dev_server
from workflows import search_attributes as sa


@workflow.defn(name="RemediationWorkflow")
class _Acted:
    """Stands for a remediation that acted and then took ``seconds`` to verify."""

    @workflow.run
    async def run(self, seconds: float) -> None:
        workflow.upsert_search_attributes([sa.ACTION.value_set("executed")])
        await asyncio.sleep(seconds)


async def test_the_cooldown_counts_from_the_end_of_the_remediation_that_acted() -> None:
    async with dev_server() as env:
        await register_search_attributes(env.client, "default")
        queue = f"q-{uuid.uuid4()}"
        target = "remediate-deployment-shop-checkout-0000"
        async with Worker(
            env.client, task_queue=queue, workflows=[_Acted], workflow_runner=UnsandboxedWorkflowRunner()
        ):
            handle = await env.client.start_workflow(_Acted.run, 3.0, id=target, task_queue=queue)
            await handle.result()
        desc = await handle.describe()
        assert desc.close_time is not None and desc.close_time - desc.start_time >= timedelta(seconds=3)
        facts = TemporalFacts(env.client, Settings())
        request = FactsRequest(
            remediation_id=target, service="checkout", cooldown_seconds=600, run_id="other"
        )
        for _ in range(100):  # visibility is eventually consistent
            found = await facts.gather(request)
            if found.last_action_on_target_at is not None:
                break
            await asyncio.sleep(0.1)
        assert found.last_action_on_target_at == desc.close_time
        # the remediation asking about itself is not its own cooldown
        own = await facts.gather(request.model_copy(update={"run_id": desc.run_id}))
        assert own.last_action_on_target_at is None
        # one that ended longer ago than the cooldown is none
        await asyncio.sleep(
            max(0.0, (desc.close_time + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds())
        )
        short = await facts.gather(request.model_copy(update={"cooldown_seconds": 1}))
        assert short.last_action_on_target_at is None
