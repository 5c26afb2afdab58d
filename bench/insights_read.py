"""What a learning pass costs to read its history: the insights over N resolved incidents, each run of
one service's id (as a busy service's incidents are), from the outcomes the runs published in their
memos (one visibility listing), against reading each run's state by a query (which replays its history
on a worker: how runs resolved before the outcome was published are read, and how every incident was
read before 2026-12-06).

    python -m bench.insights_read [--incidents 200]

Against the Temporal dev server and an in-process worker (tests.support.stack), loopback only.
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from service.incidents import TemporalIncidentReader
from service.insights import OutcomeCache, insights
from tests.support.shop import ctx
from tests.support.stack import Unpublished, medic_stack
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["main"]


def _batch(status: AlertStatus, k: int) -> AlertBatch:
    now = datetime.now(UTC)
    alert = Alert(
        fingerprint=f"fp-{k % 7}",
        status=status,
        starts_at=now,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        service="orders-db",
        labels={"alertname": f"Rule{k % 7}", "service": "orders-db", "severity": "warning"},
    )
    return AlertBatch(alerts=[alert], received_at=now, contexts=[ctx("orders-db")])


async def _run(incidents: int) -> None:
    async with medic_stack(quiet_seconds=0.2) as stack:
        made = time.perf_counter()

        async def service(ident: str, runs: int) -> None:
            for k in range(runs):
                handle = await stack.client.start_workflow(
                    IncidentWorkflow.run,
                    IncidentInput(
                        incident_id=ident,
                        service=ctx("orders-db"),
                        quiet_period_seconds=0.2,
                        notify=False,
                        remediate=False,
                    ),
                    id=ident,
                    task_queue=stack.settings.task_queue,
                    start_signal=ALERTS_SIGNAL,
                    start_signal_args=[_batch(AlertStatus.FIRING, k)],
                )
                await handle.signal(ALERTS_SIGNAL, _batch(AlertStatus.RESOLVED, k))
                await handle.result()

        tag = uuid.uuid4().hex[:6]
        ids = max(1, incidents // 20)  # services of 20 incidents each (runs of one id)
        await asyncio.gather(
            *(service(f"incident-svc{i}-{tag}", incidents // ids + (i < incidents % ids)) for i in range(ids))
        )
        print(f"{incidents} incidents ({ids} ids) resolved in {time.perf_counter() - made:.1f} s")
        await asyncio.sleep(2.0)  # visibility catches up
        plain = TemporalIncidentReader(stack.client, stack.settings)
        began = time.perf_counter()
        listed = await plain.resolved_runs(limit=incidents * 2)
        print(f"the listing alone: {len(listed)} runs in {time.perf_counter() - began:.2f} s")
        for name, reader in (
            ("published outcomes (one listing)", plain),
            ("a query per run (replayed)", Unpublished(stack.client, stack.settings)),
        ):
            began = time.perf_counter()
            found = await insights(reader, limit=incidents * 2, cache=OutcomeCache())
            took = time.perf_counter() - began
            print(
                f"{name}: {found.incidents} incidents read in {took:.2f} s "
                f"({took / max(found.incidents, 1) * 1000:.1f} ms each), {found.unread} unread"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(_run(args.incidents))


if __name__ == "__main__":
    main()
