"""What people receive from heartbeats (Watchdog): outages found and how long after the pipeline broke,
false outages, how often an outage is told, how long the last word takes after the return; on the
time-skipping server with the real HeartbeatWorkflow, its activity handing findings to a recorder (an
incident takes them all as one; its pages follow the routing policy: one page, then escalation).

    python -m bench.heartbeats [--hours 24] [--seed 7]

Each scenario is a heartbeat of its own over the same simulated hours, its beats as Alertmanager sends
them (the route Medic ships: every 2 minutes, jittered by a few seconds; an HA pair, so each beat twice,
30-80 ms apart):

- ``steady``: nothing breaks, but the webhook fails for 6 minutes once (Alertmanager retries: the beats
  come late, together) and a pod of the pair restarts every 6 hours;
- ``alertmanager-down``: both Alertmanagers down 40 minutes from hour 6;
- ``prometheus-down``: the Prometheus down 90 minutes from hour 10 (Alertmanager sends the alert until
  its endsAt, 4 minutes, then resolves it);
- ``twelve-hours``: kube-prometheus-stack's grouping (by namespace) and 12-hour repeat, a neighbour of
  the group flapping for 2 hours from hour 3 (the group resent every 5 minutes, Watchdog in it);
- ``route-lost``: from hour 8 Watchdog goes to ``null`` for good (a values.yaml rolled back); a person
  resolves the incident 30 minutes after the first finding;
- ``replaced``: the Prometheus replaced at hour 12 (a new ``prometheus`` label: a new heartbeat); a
  person resolves the old one's incident after 30 minutes.
"""

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.worker import Worker

from activities.dead_man import HeartbeatActivities
from bench.harness import machine, print_result
from medic.anomaly import AnomalySignal
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState, heartbeat_id
from service.devserver import find_binary
from tests.support.timeskip import time_skipping
from workflows.dead_man import BEAT_SIGNAL, HeartbeatWorkflow

__all__ = ["main"]

RULE = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"}, service="monitoring")
CADENCE = 120.0  # seconds: the shipped route (1m group_interval, 1m repeat_interval)


@dataclass
class Event:
    at: float  # seconds from the start
    scenario: str
    prometheus: str
    firing: bool = True
    alone: bool = True


@dataclass
class Scenario:
    name: str
    broke: list[float] = field(default_factory=list)  # when the pipeline broke (seconds)
    back: list[float] = field(default_factory=list)  # when it was mended
    resolve_after: float | None = None  # a person resolves the incident this long after the first finding
    told: list[tuple[float, AnomalySignal]] = field(default_factory=list)
    first_told: float | None = None


def _steady(rng: random.Random, scenario: str, start: float, end: float, prom: str = "p") -> list[Event]:
    out, t = [], start
    while t < end:
        out.append(Event(t, scenario, prom))
        out.append(Event(t + rng.uniform(0.03, 0.08), scenario, prom))  # the HA pair's copy
        t += CADENCE + rng.uniform(-3, 3)
    return out


def plan(hours: float, rng: random.Random) -> tuple[list[Event], dict[str, Scenario]]:
    end = hours * 3600
    s = {
        n: Scenario(n)
        for n in ("steady", "alertmanager-down", "prometheus-down", "twelve-hours", "route-lost")
    }
    s["replaced"] = Scenario("replaced")
    events: list[Event] = []
    # steady: a 6-minute webhook failure at hour 2 (the beats meanwhile come at its end), pod restarts
    for e in _steady(rng, "steady", 0, end):
        if 2 * 3600 <= e.at < 2 * 3600 + 360:
            e.at = 2 * 3600 + 360 + rng.uniform(0, 5)
        events.append(e)
    # alertmanager-down: nothing from hour 6 for 40 minutes
    down, up = 6 * 3600, 6 * 3600 + 2400
    events += [e for e in _steady(rng, "alertmanager-down", 0, end) if not down <= e.at < up]
    s["alertmanager-down"].broke, s["alertmanager-down"].back = [down], [up]
    # prometheus-down: firing until endsAt (4 minutes), resolved a minute later, back after 90 minutes
    down, up = 10 * 3600, 10 * 3600 + 5400
    events += [e for e in _steady(rng, "prometheus-down", 0, end) if not down + 240 <= e.at < up]
    events.append(Event(down + 300, "prometheus-down", "p", firing=False))
    s["prometheus-down"].broke, s["prometheus-down"].back = [down], [up]
    # twelve-hours: the group's own notification every 12 hours, and every 5 minutes while a neighbour flaps
    t = 0.0
    while t < end:
        events.append(Event(t, "twelve-hours", "p"))
        t += 12 * 3600 + 300
    events += [Event(3 * 3600 + k * 300, "twelve-hours", "p", alone=False) for k in range(24)]
    # route-lost: nothing from hour 8, a person resolves 30 minutes after the first finding
    events += [e for e in _steady(rng, "route-lost", 0, end) if e.at < 8 * 3600]
    s["route-lost"].broke, s["route-lost"].resolve_after = [8 * 3600], 1800
    # replaced: the old Prometheus until hour 12, the new one (another label value) after
    events += [e for e in _steady(rng, "replaced", 0, end) if e.at < 12 * 3600]
    events += _steady(rng, "replaced", 12 * 3600 + 60, end, prom="p-new")
    s["replaced"].broke, s["replaced"].resolve_after = [12 * 3600], 1800
    return sorted(events, key=lambda e: e.at), s


async def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    events, scenarios = plan(args.hours, rng)
    queue = f"bench-{uuid.uuid4()}"
    async with time_skipping(find_binary("temporal-test-server")) as env:
        t0 = await env.get_current_time()

        def seconds(at: datetime) -> float:
            return (at - t0).total_seconds()

        async def deliver(signals: list[AnomalySignal]) -> list[str]:
            now = seconds(await env.get_current_time())
            for signal in signals:
                scenario = scenarios[signal.series["scenario"]]
                scenario.told.append((now, signal))
                scenario.first_told = scenario.first_told if scenario.first_told is not None else now
            return [f"incident-{signals[0].series['scenario']}"]

        async def resolved(incident: str, since: datetime) -> bool:
            scenario = scenarios[incident.removeprefix("incident-")]
            now = seconds(await env.get_current_time())
            return (
                scenario.resolve_after is not None
                and scenario.first_told is not None
                and now >= scenario.first_told + scenario.resolve_after
            )

        activities = HeartbeatActivities(deliver, resolved)
        started = time.perf_counter()
        async with Worker(
            env.client, task_queue=queue, workflows=[HeartbeatWorkflow], activities=activities.all()
        ):
            for e in events:
                now = seconds(await env.get_current_time())
                if e.at > now:
                    await env.sleep(e.at - now)
                labels = {"scenario": e.scenario, "prometheus": e.prometheus}
                beat = Beat(
                    rule=RULE, labels=labels, at=await env.get_current_time(), firing=e.firing, alone=e.alone
                )
                await env.client.start_workflow(
                    HeartbeatWorkflow.run,
                    HeartbeatState(rule=RULE, labels=labels),
                    id=heartbeat_id(RULE, labels, queue=queue),
                    task_queue=queue,
                    start_signal=BEAT_SIGNAL,
                    start_signal_args=[beat],
                )
            now = seconds(await env.get_current_time())
            await env.sleep(max(0.0, args.hours * 3600 - now))  # (the streams end here: nothing after)
            await asyncio.sleep(1.0)  # the last activities
        wall = time.perf_counter() - started
    rows = {}
    horizon = args.hours * 3600
    for name, sc in scenarios.items():
        told = [(at, s) for at, s in sc.told if at < horizon]
        broke = [b for b in sc.broke if b < horizon]
        after = [at for at, _ in told if broke and at >= broke[0]]
        backs = [at for at, s in told if "is back at" in (s.summary or "")]
        rows[name] = {
            "findings": len(told),
            "outages_told": len({s.window.start for _, s in told}),
            "false_findings": len([at for at, _ in told if not broke or at < broke[0]]),
            "minutes_to_first_finding": round((after[0] - broke[0]) / 60, 1) if after else None,
            "minutes_from_return_to_last_word": round((backs[0] - sc.back[0]) / 60, 1) if backs else None,
        }
    return {
        "machine": machine(),
        "hours": args.hours,
        "seed": args.seed,
        "beats_sent": len(events),
        "wall_seconds": round(wall, 1),
        "scenarios": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="at least 14: the last break is at hour 12")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.hours < 14:  # the scenarios' breaks are at hours 6 to 12: a shorter run measures nothing
        parser.error("--hours must be at least 14 (the scenarios' breaks are at hours 6, 8, 10 and 12)")
    print_result(asyncio.run(run(args)))
    sys.stdout.flush()
    # The SDK's core threads outlive the time-skipping server here and abort the interpreter's
    # finalisation (PyGILState_Release): the figures are printed; leave without it.
    os._exit(0)


if __name__ == "__main__":
    main()
