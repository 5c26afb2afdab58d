"""Notification latency: from the moment a webhook is answered (the alert is durable in Temporal)
to the moment the incident's first Slack message reaches Slack, over many new incidents.

Everything real but Slack, which is the local double (tests/doubles) driven by the real
slack-sdk in the worker: API, worker and Temporal dev server are separate processes.

    python -m bench.notify_latency [--incidents 500] [--rate 20] [--concurrency 16]

``--rate 0`` fires them all at once: then the figure is mostly the time to work off the burst.
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import bench_stack, machine, percentile, print_result
from tests.doubles import SLACK_TOKEN, SlackDouble

REPO = Path(__file__).resolve().parents[1]
ROUTING = "fallback_slack_channel: '#incidents'\nrules:\n  - {name: everything}\n"


def payload(i: int, run: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    service = f"bench-{run}-{i}"
    return {
        "version": "4",
        "status": "firing",
        "receiver": "medic",
        "groupKey": f'{{}}:{{service="{service}"}}',
        "groupLabels": {"service": service},
        "commonLabels": {},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "BenchDown", "service": service, "severity": "critical"},
                "annotations": {},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    slack = SlackDouble()
    run_id = datetime.now(UTC).strftime("%H%M%S")
    with slack.serve() as slack_url:
        env = {
            "MEDIC_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "MEDIC_SLACK_BASE_URL": f"{slack_url}/api/",
            "MEDIC_RESOLVE_QUIET_SECONDS": "3600",
        }
        files = {"catalog.yaml": (REPO / "catalog.yaml").read_text(), "routing.yaml": ROUTING}
        async with bench_stack(env=env, files=files) as stack, stack.http(limits=args.concurrency) as http:
            accepted: dict[str, float] = {}
            gate = asyncio.Semaphore(args.concurrency)

            async def fire(i: int) -> None:
                if args.rate > 0:  # a steady arrival rate: incident i arrives at i / rate seconds
                    await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
                async with gate:
                    response = await http.post("/webhooks/alertmanager", json=payload(i, run_id))
                    if response.status_code == 200:
                        accepted[f"bench-{run_id}-{i}"] = time.monotonic()

            started = time.monotonic()
            await asyncio.gather(*(fire(i) for i in range(args.incidents)))
            wall = time.monotonic() - started
            first_post: dict[str, float] = {}
            deadline = time.monotonic() + args.timeout
            while len(first_post) < len(accepted) and time.monotonic() < deadline:
                for request in slack.requests("POST /api/chat.postMessage"):
                    body = json.loads(request.body or b"{}")
                    if body.get("thread_ts"):
                        continue
                    for service in accepted:
                        if service not in first_post and service in json.dumps(body):
                            first_post[service] = request.received_at
                await asyncio.sleep(0.5)
    latencies = [first_post[s] - accepted[s] for s in first_post]
    return {
        "benchmark": "notify_latency",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "incidents": args.incidents,
        "accepted": len(accepted),
        "notified": len(first_post),
        "concurrency": args.concurrency,
        "arrival": f"{args.rate:g} incidents/s" if args.rate > 0 else "all at once",
        "webhook_wall_s": round(wall, 2),
        "first_notification_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "first_notification_p90_ms": round(percentile(latencies, 90) * 1000, 1),
        "first_notification_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "first_notification_max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_latency")
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=20.0, help="new incidents per second (0: all at once)")
    result = asyncio.run(run(parser.parse_args()))
    print_result(result)


if __name__ == "__main__":
    main()
