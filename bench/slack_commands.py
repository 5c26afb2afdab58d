"""Slack command latency: signed `/medic ack|show|list` requests through the real API, worker and
Temporal dev server (separate processes), with the Slack double resolving the access policy's user
group, against the raw Temporal update the command wraps, in the same run.

    python -m bench.slack_commands [--incidents 100] [--concurrency 4]

Slack wants an answer within 3 s; the figure that matters is the p99 of the HTTP answer, and how many
commands had to fall back to "working on it" + response_url (answered after MEDIC_SLACK_INLINE_SECONDS).
"""

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.harness import bench_stack, machine, percentile, print_result
from bench.notify_latency import payload
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.support.slackreq import SIGNING_SECRET, command_body, signed_headers
from workflows.incident import AckRequest, IncidentWorkflow

REPO = Path(__file__).resolve().parents[1]
USER = "U0ONCALL"
ROUTING = """
fallback_slack_channel: '#incidents'
rules:
  - {name: everything}
access:
  ack: [S0ONCALL]
  resolve: [S0ONCALL]
"""


async def timed_commands(
    http: httpx.AsyncClient, slack: SlackDouble, texts: list[str], concurrency: int
) -> tuple[list[float], int, int]:
    """(latencies, answered inline, fell back to response_url)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    counts = {"inline": 0, "follow_up": 0}

    async def one(i: int, text: str) -> None:
        body = command_body(
            text, user_id=USER, response_url=slack.response_url(f"bench-{i}-{time.time_ns()}")
        )
        async with gate:
            started = time.perf_counter()
            answer = await http.post("/slack/commands", content=body, headers=signed_headers(body))
            latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        counts["follow_up" if "Working on it" in answer.json().get("text", "") else "inline"] += 1

    await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
    return latencies, counts["inline"], counts["follow_up"]


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    slack = SlackDouble(usergroups={"S0ONCALL": [USER]})
    run_id = datetime.now(UTC).strftime("%H%M%S")
    result: dict[str, Any] = {
        "benchmark": "slack_commands",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with slack.serve() as slack_url:
        env = {
            "MEDIC_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "MEDIC_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "MEDIC_SLACK_BASE_URL": f"{slack_url}/api/",
            "MEDIC_SLACK_RESPONSE_URL_PREFIXES": f'["{slack_url}"]',
            "MEDIC_RESOLVE_QUIET_SECONDS": "3600",
        }
        files = {"catalog.yaml": (REPO / "catalog.yaml").read_text(), "routing.yaml": ROUTING}
        async with bench_stack(env=env, files=files) as stack, stack.http(limits=16) as http:
            ids: list[str] = []
            for i in range(args.incidents * 2):
                answer = await http.post("/webhooks/alertmanager", json=payload(i, run_id))
                answer.raise_for_status()
                ids.extend(answer.json()["incidents"])
            for _ in range(600):  # until every incident has posted its first message (at most 2 min)
                if slack.top_level_count() >= len(ids):
                    break
                await asyncio.sleep(0.2)
            medic_ids, raw_ids = ids[: args.incidents], ids[args.incidents :]
            client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
            gate = asyncio.Semaphore(args.concurrency)
            raw: list[float] = []

            async def raw_ack(incident_id: str) -> None:
                async with gate:
                    started = time.perf_counter()
                    await client.get_workflow_handle(incident_id).execute_update(
                        IncidentWorkflow.acknowledge, AckRequest(actor=USER, source="bench")
                    )
                    raw.append(time.perf_counter() - started)

            cpu_before = stack.cpu()  # the commands' CPU, not the incidents' start-up
            await asyncio.gather(*(raw_ack(i) for i in raw_ids))
            acks, ack_inline, ack_late = await timed_commands(
                http, slack, [f"ack {i}" for i in medic_ids], args.concurrency
            )
            shows, _, show_late = await timed_commands(
                http, slack, [f"show {i}" for i in medic_ids], args.concurrency
            )
            lists, _, list_late = await timed_commands(http, slack, ["list"] * 20, args.concurrency)
            cpu = {k: round(v - cpu_before[k], 2) for k, v in stack.cpu().items()}
            # This process also runs the Slack double's server thread.
            cpu["load generator + Slack double"] = cpu.pop("load generator")
    result.update(
        {
            "machine": machine(),
            "incidents": args.incidents,
            "concurrency": args.concurrency,
            "raw_update_p50_ms": ms(raw, 50),
            "raw_update_p99_ms": ms(raw, 99),
            "ack_p50_ms": ms(acks, 50),
            "ack_p99_ms": ms(acks, 99),
            "ack_max_ms": round(max(acks) * 1000, 1),
            "ack_ratio_to_raw_p50": round(percentile(acks, 50) / percentile(raw, 50), 2),
            "show_p50_ms": ms(shows, 50),
            "show_p99_ms": ms(shows, 99),
            "list_p50_ms": ms(lists, 50),
            "list_p99_ms": ms(lists, 99),
            "answered_inline": f"{ack_inline} of {len(acks)} acks",
            "fell_back_to_response_url": ack_late + show_late + list_late,
            "cpu_s": cpu,
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slack_commands")
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    print_result(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
