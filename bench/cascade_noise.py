"""What people receive during cascades: pages per team, pages and messages left stale, JIRA issues,
thread replies, and the time from the first alert to the cause's team being paged, against what
Alertmanager alone would have paged.

Realistic cascades over the shipped catalog through the real API, worker and Temporal dev server
(separate processes) with the Slack, PagerDuty and JIRA doubles (tests/doubles) behind the real SDKs.
Each cascade runs on a copy of the shipped catalog of its own (services suffixed ``-cN``), so cascades
can run side by side without sharing incidents: a root cause and 2-8 services that depend on it (within
Medic's correlation depth, ``NEIGHBOUR_DEPTH`` hops),
arriving cause-first, symptom-first or interleaved, spread over 0-60 s, with 20% of deliveries sent
twice (an HA Alertmanager pair), beside an unrelated alert on a neighbouring service that has been
firing for hours (it must stay its own incident). Then everything resolves.

    python -m bench.cascade_noise [--cascades 24] [--parallel 6] [--spread 60] [--seed 7]
"""

import argparse
import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.harness import bench_stack, machine, percentile, print_result
from medic.fingerprint import label_fingerprint
from medic.topology import NEIGHBOUR_DEPTH
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, SLACK_TOKEN, JiraDouble, PagerDutyDouble, SlackDouble
from tests.doubles.alertmanager import AlertmanagerDouble
from tests.doubles.prometheus import PrometheusAlertsDouble

__all__ = ["Cascade", "copy_catalog", "plan_cascades", "received"]

REPO = Path(__file__).resolve().parents[1]
HOURS_AGO = timedelta(hours=3)
_SUFFIX = re.compile(r"-c(\d+)\b")


@dataclass
class Delivery:
    at: float  # seconds after the cascade starts
    body: dict[str, Any]


@dataclass
class Cascade:
    index: int
    root: str
    symptoms: list[str]
    order: str
    spread: float
    deliveries: list[Delivery] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    background: str | None = None  # a neighbour firing for hours, unrelated: its own incident
    groups: set[tuple[str, str]] = field(default_factory=set)  # Alertmanager's (alertname, service)
    # Whether the root calls nothing in the catalog: nothing can absorb its incident, so it never settles.
    root_at_bottom: bool = False

    def incident(self, service: str) -> str:
        return f"incident-{service}"

    @property
    def symptom_incidents(self) -> set[str]:
        return {self.incident(s) for s in self.symptoms}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def copy_catalog(raw: dict[str, Any], copies: int) -> dict[str, Any]:
    """``copies`` disjoint copies of a catalog: service ``x`` becomes ``x-cN`` (aliases, workloads and jobs
    dropped, as each may belong to one service only), with its team, routing and business figures kept."""
    services = []
    for n in range(copies):
        for service in raw["services"]:
            copy = {k: v for k, v in service.items() if k not in ("aliases", "workloads", "jobs")}
            copy["name"] = f"{service['name']}-c{n}"
            copy["calls"] = [f"{c}-c{n}" for c in service.get("calls", [])]
            services.append(copy)
    return {"services": services}


def _dependents(raw: dict[str, Any], depth: int = NEIGHBOUR_DEPTH) -> dict[str, set[str]]:
    """service -> the services that depend on it within ``depth`` hops: Medic's correlation depth (a
    symptom further up joins its cause only through the open incidents of the services between)."""
    callers: dict[str, set[str]] = {s["name"]: set() for s in raw["services"]}
    for s in raw["services"]:
        for callee in s.get("calls", []):
            callers.setdefault(callee, set()).add(s["name"])
    closed: dict[str, set[str]] = {}
    for name in callers:
        seen: set[str] = set()
        frontier = {name}
        for _ in range(depth):
            frontier = {up for down in frontier for up in callers.get(down, ())} - seen - {name}
            seen |= frontier
        closed[name] = seen
    return closed


def _neighbours(raw: dict[str, Any], name: str) -> set[str]:
    calls = {s["name"]: set(s.get("calls", [])) for s in raw["services"]}
    return calls.get(name, set()) | {s for s, c in calls.items() if name in c}


def _notification(alerts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    first = alerts[0]["labels"]
    group = {"alertname": first["alertname"], "service": first["service"]}
    return {
        "version": "4",
        "status": status,
        "receiver": "medic",
        "groupKey": "{}:" + f'{{alertname="{group["alertname"]}", service="{group["service"]}"}}',
        "groupLabels": group,
        "commonLabels": dict(first),
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def _alert(name: str, service: str, severity: str, n: int, starts: datetime) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": name,
            "service": service,
            "severity": severity,
            "namespace": "shop",
            "pod": f"{service}-{n}",
        },
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": _iso(starts),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
    }


def _root_alert(service: str) -> str:
    if service.startswith(("orders-db", "users-db", "catalog-db", "inventory-db")):
        return "PostgresDown"
    if service.startswith("cache"):
        return "RedisDown"
    return "HighErrorRate"


def plan_cascades(
    raw: dict[str, Any], *, count: int, spread: float, duplicates: float, seed: int, now: datetime
) -> list[Cascade]:
    """``count`` cascades, the n-th on copy n of the catalog ``raw`` (the shipped one, unsuffixed)."""
    rnd = random.Random(seed)  # a reproducible benchmark
    dependents = _dependents(raw)
    roots = sorted(name for name, ups in dependents.items() if len(ups) >= 2)
    orders = ["cause-first", "symptom-first", "interleaved"]
    cascades = []
    for n in range(count):
        root = roots[n % len(roots)] if n < len(roots) else rnd.choice(roots)
        ups = sorted(dependents[root])
        symptoms = rnd.sample(ups, min(len(ups), rnd.randint(2, 8)))
        c = Cascade(n, f"{root}-c{n}", [f"{s}-c{n}" for s in symptoms], orders[n % 3], rnd.uniform(0, spread))
        c.root_at_bottom = not next(s for s in raw["services"] if s["name"] == root).get("calls")
        unrelated = sorted(_neighbours(raw, root) - set(symptoms))
        if unrelated:
            c.background = f"{rnd.choice(unrelated)}-c{n}"
        # When each service's alerts arrive, by the order of arrival.
        services = [c.root, *c.symptoms]
        if c.order == "cause-first":
            offsets = sorted(rnd.uniform(0, c.spread) for _ in services)
        elif c.order == "symptom-first":
            offsets = sorted((rnd.uniform(0, c.spread) for _ in services), reverse=True)
        else:
            offsets = [rnd.uniform(0, c.spread) for _ in services]
        counter = 0
        for service, offset in zip(services, offsets, strict=True):
            names = (
                [_root_alert(service)]
                if service == c.root
                else ["HighErrorRate", "HighLatency"][: rnd.randint(1, 2)]
            )
            for name in names:
                alerts = []
                for _ in range(rnd.randint(1, 3)):
                    counter += 1
                    starts = now + timedelta(seconds=offset)
                    severity = "critical" if service == c.root or rnd.random() < 0.5 else "warning"
                    alerts.append(_alert(name, service, severity, counter, starts))
                c.groups.add((name, service))
                c.deliveries.append(Delivery(offset, _notification(alerts, "firing")))
                if rnd.random() < duplicates:  # the HA peer's copy, a moment later
                    c.deliveries.append(
                        Delivery(offset + rnd.uniform(0.05, 1.0), _notification(alerts, "firing"))
                    )
                resolved = [
                    {**a, "status": "resolved", "endsAt": _iso(now + timedelta(hours=1))} for a in alerts
                ]
                c.resolutions.append(_notification(resolved, "resolved"))
        if c.background is not None:
            old = _alert("HighLatency", c.background, "warning", 0, now - HOURS_AGO)
            c.groups.add(("HighLatency", c.background))
            # It has been firing for hours: its incident is open (and told) before the cascade begins.
            c.deliveries.append(Delivery(-12.0, _notification([old], "firing")))
            gone = {**old, "status": "resolved", "endsAt": _iso(now + timedelta(hours=1))}
            c.resolutions.append(_notification([gone], "resolved"))
        c.deliveries.sort(key=lambda d: d.at)
        cascades.append(c)
    return cascades


def held_alerts(c: Cascade, now: datetime) -> list[dict[str, Any]]:
    """The cause's alerts as Alertmanager's ``GET /api/v2/alerts`` lists them while it holds them for
    Medic's receiver (``gettableAlert``, api/v2/openapi.yaml)."""
    out: dict[str, dict[str, Any]] = {}
    for d in c.deliveries:
        if d.body["groupLabels"]["service"] != c.root:
            continue
        for a in d.body["alerts"]:
            fingerprint = label_fingerprint(a["labels"])
            out[fingerprint] = {
                "labels": a["labels"],
                "annotations": a["annotations"],
                "startsAt": a["startsAt"],
                "endsAt": _iso(now + timedelta(hours=1)),
                "updatedAt": _iso(now),
                "fingerprint": fingerprint,
                "receivers": [{"name": "medic"}],
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
                "generatorURL": a["generatorURL"],
            }
    return list(out.values())


def _cascade_of(text: str) -> int | None:
    found = _SUFFIX.search(text)
    return int(found.group(1)) if found else None


def received(
    cascades: list[Cascade],
    *,
    slack: SlackDouble,
    channels: Iterable[str],
    pager: PagerDutyDouble,
    key_names: dict[str, str],
    jira: JiraDouble,
    started: dict[int, float],
    cause_started: dict[int, float],
    first_sent: dict[tuple[int, str], float],
    settle: float,
    priorities: dict[int, str],
    pd_services: set[str],
) -> list[dict[str, Any]]:
    """Per cascade, what people received (read from the doubles)."""
    triggers: dict[str, list[tuple[float, str]]] = {}
    for event in pager.events():
        if (
            event.event_action == "trigger"
            and event.outcome in ("created", "deduplicated")
            and event.dedup_key
        ):
            name = key_names.get(event.routing_key or "", event.routing_key or "?")
            triggers.setdefault(event.dedup_key, []).append((event.received_at, name))
    open_alerts = {a.dedup_key for a in pager.alerts() if a.status != "resolved"}
    messages: dict[int, list[Any]] = {}
    for channel in channels:
        for message in slack.messages(channel):
            index = _cascade_of(message.text) if not message.is_reply else None
            unrelated = cascades[index].background if index is not None and index < len(cascades) else None
            if unrelated is not None and f"on {unrelated}" in message.text:
                continue  # the unrelated incident's own message, not the cascade's
            if index is not None:
                messages.setdefault(index, []).append(message)
    issues: dict[int, list[Any]] = {}
    for issue in jira.issues():
        index = next((_cascade_of(label) for label in issue.labels if label.startswith("incident-")), None)
        if index is not None:
            issues.setdefault(index, []).append(issue)
    rows = []
    for c in cascades:
        root_id = c.incident(c.root)
        background = {c.incident(c.background)} if c.background else set()
        mine = {c.incident(s) for s in [c.root, *c.symptoms]} | background
        cause_pages = triggers.get(root_id, [])
        symptom_pages = [(key, at) for key in c.symptom_incidents for at, _ in triggers.get(key, [])]
        # A symptom that fired more than the settle period before its cause could not know of it: it
        # pages its own team, and the page is closed out once the cause absorbs it (by design). A page
        # from a symptom whose cause was already firing, or came within the settle period, is a miss.
        early = {
            s
            for s in c.symptoms
            if first_sent.get((c.index, s), float("inf")) + settle < cause_started.get(c.index, float("inf"))
        }
        missed = [key for key, _ in symptom_pages if key.removeprefix("incident-") not in early]
        pages_by_team: dict[str, int] = {}
        for key in mine - background:
            for _, team in triggers.get(key, []):
                pages_by_team[team] = pages_by_team.get(team, 0) + 1
        medic_pages = sum(pages_by_team.values())
        baseline = sum(1 for _, service in c.groups if service in pd_services and service != c.background)
        stale_messages = [
            m
            for m in messages.get(c.index, [])
            if "[resolved]" not in m.text and "[merged into" not in m.text
        ]
        replies = sum(len(slack.thread(m.channel, m.ts)) - 1 for m in messages.get(c.index, []))
        rows.append(
            {
                "cascade": c.index,
                "order": c.order,
                "services": 1 + len(c.symptoms),
                "cause_priority": priorities.get(c.index, "?"),
                # The shipped routing pages P1 and P2, through the cause's catalog PagerDuty route.
                "cause_pageable": priorities.get(c.index) in ("P1", "P2") and c.root in pd_services,
                "cause_paged": bool(cause_pages),
                "symptom_paged": bool(symptom_pages),
                "symptom_paged_within_settle": bool(missed),
                "symptoms_earlier_than_settle": len(early),
                "pages": medic_pages,
                "pages_by_team": pages_by_team,
                "baseline_pages": baseline,
                "stale_pages": len((mine) & open_alerts),
                "stale_messages": len(stale_messages),
                "messages": len(messages.get(c.index, [])),
                "jira_issues": len(issues.get(c.index, [])),
                "jira_open": sum(1 for i in issues.get(c.index, []) if i.status != "Done"),
                "thread_replies": replies,
                "to_cause_page_s": (min(at for at, _ in cause_pages) - started[c.index])
                if cause_pages
                else None,
                "cause_alert_to_page_s": (min(at for at, _ in cause_pages) - cause_started[c.index])
                if cause_pages
                else None,
                "cause_at_bottom": c.root_at_bottom,
                "background_apart": not (background & c.symptom_incidents),
            }
        )
    return rows


def _environment(
    raw: dict[str, Any], routing: dict[str, Any]
) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """Slack channels (name -> id), the services that page, and PagerDuty key names by key."""
    channels = {routing.get("fallback_slack_channel", "#incidents")}
    names: set[str] = set()
    pd_services: set[str] = set()
    for s in raw["services"]:
        r = s.get("routing", {})
        if "slack_channel" in r:
            channels.add(r["slack_channel"])
        if "pagerduty" in r:
            names.add(r["pagerduty"])
            pd_services.add(s["name"])
    for rule in routing.get("rules", []):
        channels.update(rule.get("slack_channels", []))
    for levels in routing.get("escalations", {}).values():
        for level in levels:
            channels.update(level.get("slack_channels", []))
    for roles in routing.get("teams", {}).values():
        names.update(roles.values())
    ids = {c: f"C{i:08d}" for i, c in enumerate(sorted(channels))}
    return ids, pd_services, {hashlib.sha256(name.encode()).hexdigest()[:32]: name for name in names}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raw = yaml.safe_load((REPO / "catalog.yaml").read_text())
    routing_text = (REPO / "routing.yaml").read_text()
    routing = yaml.safe_load(routing_text)
    channel_ids, pd_base, key_names = _environment(raw, routing)
    now = datetime.now(UTC).replace(microsecond=0)
    cascades = plan_cascades(
        raw, count=args.cascades, spread=args.spread, duplicates=0.2, seed=args.seed, now=now
    )
    pd_services = {f"{s}-c{c.index}" for c in cascades for s in pd_base}
    projects = {
        s["routing"]["jira_project"]: s["team"]
        for s in raw["services"]
        if "jira_project" in s.get("routing", {})
    }
    slack = SlackDouble(channels=channel_ids)
    pager = PagerDutyDouble(routing_keys=key_names)
    jira = JiraDouble(projects=projects)
    prometheus = PrometheusAlertsDouble()
    alertmanager = AlertmanagerDouble()
    # What Prometheus holds per cascade: its cause shows from pending_lead before the cascade's first
    # delivery (for the share --pending-visible of them), firing once delivered. Of those, the share
    # --cause-held already fires then: Alertmanager holds its alerts (group_wait, group_interval) and
    # delivers them at the cause's delivery time; the others are pending (their rule's `for:`).
    held: dict[int, dict[str, str]] = {}
    visible = random.Random(args.seed + 1)
    pending_seen = {c.index: visible.random() < args.pending_visible for c in cascades}
    firing_early = random.Random(args.seed + 2)
    cause_held = {c.index: firing_early.random() < args.cause_held for c in cascades}

    def show(c: Cascade, state: str | None) -> None:
        if state is None:
            held.pop(c.index, None)
            alertmanager.hold(str(c.index), [])
        else:
            held[c.index] = {"alertname": _root_alert(c.root), "service": c.root, "alertstate": state}
            if state == "firing":  # Alertmanager holds it from then on, delivered or not, until resolved
                alertmanager.hold(str(c.index), held_alerts(c, now))
        prometheus.set_alerts(list(held.values()))

    with (
        slack.serve() as slack_url,
        pager.serve() as pager_url,
        jira.serve() as jira_url,
        prometheus.serve() as prometheus_url,
        alertmanager.serve() as alertmanager_url,
    ):
        env = {
            "MEDIC_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "MEDIC_SLACK_BASE_URL": f"{slack_url}/api/",
            "MEDIC_PAGERDUTY_EVENTS_URL": f"{pager_url}/v2/enqueue",
            "MEDIC_PAGERDUTY_ROUTING_KEYS": json.dumps({name: key for key, name in key_names.items()}),
            "MEDIC_JIRA_URL": jira_url,
            "MEDIC_JIRA_USER": JIRA_USER,
            "MEDIC_JIRA_API_TOKEN": JIRA_API_TOKEN,
            "MEDIC_RESOLVE_QUIET_SECONDS": str(args.quiet),
            "MEDIC_SETTLE_SECONDS": str(args.settle),
            "MEDIC_ROUTING": "routing.yaml",
        }
        if args.prometheus:
            env["MEDIC_PROMETHEUS_URL"] = prometheus_url
            env["MEDIC_SETTLE_MAX_SECONDS"] = str(args.settle_max)
            env["MEDIC_ALERTMANAGER_URL"] = alertmanager_url  # its receiver: "medic", as the deliveries
        files = {
            "catalog.yaml": yaml.safe_dump(copy_catalog(raw, args.cascades)),
            "routing.yaml": routing_text,
        }
        async with bench_stack(env=env, files=files) as stack, stack.http(limits=32) as http:
            gate = asyncio.Semaphore(args.parallel)
            started: dict[int, float] = {}
            cause_started: dict[int, float] = {}
            first_sent: dict[tuple[int, str], float] = {}
            rejected = 0

            async def post(body: dict[str, Any]) -> None:
                nonlocal rejected
                for _ in range(20):
                    answer = await http.post("/webhooks/alertmanager", json=body)
                    if answer.status_code == 200:
                        return
                    await asyncio.sleep(0.5)  # as Alertmanager retries
                rejected += 1

            async def fires(c: Cascade, at: float) -> None:
                """A pending cause's `for:` passes at ``at``: Alertmanager holds it until its delivery."""
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                if held.get(c.index, {}).get("alertstate") == "pending":
                    show(c, "firing")

            async def play(c: Cascade) -> None:
                async with gate:
                    t0 = time.monotonic() + 12.0  # the background alert goes first
                    sends = []
                    first = min(d.at for d in c.deliveries if d.at >= 0)
                    cause_at = [d.at for d in c.deliveries if d.body["groupLabels"]["service"] == c.root]
                    if args.group_wait > 0 and cause_at and pending_seen[c.index] and not cause_held[c.index]:
                        # it fires group_wait before its delivery, not before it showed pending
                        at = max(min(cause_at) - args.group_wait, first - args.pending_lead + 1.0)
                        sends.append(asyncio.create_task(fires(c, t0 + at)))
                    for d in c.deliveries:
                        if (
                            pending_seen[c.index]
                            and held.get(c.index) is None
                            and d.at >= first - args.pending_lead
                        ):
                            # The cause broke before its symptoms' alerts were delivered (their own `for:` and
                            # group_wait): Prometheus holds it pending from pending_lead before the first one.
                            await asyncio.sleep(max(0.0, t0 + first - args.pending_lead - time.monotonic()))
                            show(c, "firing" if cause_held[c.index] else "pending")
                        await asyncio.sleep(max(0.0, t0 + d.at - time.monotonic()))
                        if d.at >= 0 and c.index not in started:
                            started[c.index] = time.monotonic()
                        if d.body["groupLabels"]["service"] == c.root and c.index not in cause_started:
                            cause_started[c.index] = time.monotonic()
                            show(c, "firing")
                        first_sent.setdefault((c.index, d.body["groupLabels"]["service"]), time.monotonic())
                        sends.append(asyncio.create_task(post(d.body)))
                    await asyncio.gather(*sends)
                    await asyncio.sleep(args.settle + 10)  # everyone told, escalations started
                    await asyncio.gather(*(post(body) for body in c.resolutions))
                    show(c, None)

            wall = time.monotonic()
            await asyncio.gather(*(play(c) for c in cascades))
            ids = {
                c.incident(s)
                for c in cascades
                for s in [c.root, *c.symptoms, *(x for x in [c.background] if x)]
            }
            deadline = time.monotonic() + args.quiet + 120
            while time.monotonic() < deadline:  # until every page is resolved, or the deadline
                if not {a.dedup_key for a in pager.alerts() if a.status != "resolved"} & ids:
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(5)  # the last message updates and postmortems
            priorities: dict[int, str] = {}
            for c in cascades:  # whether the routing policy pages for the cause's incident at all
                answer = await http.get(
                    f"/incidents/{c.incident(c.root)}", params={"alerts": 0, "timeline": 0}
                )
                priorities[c.index] = answer.json().get("priority", "?") if answer.status_code == 200 else "?"
            wall = time.monotonic() - wall
            cpu = stack.cpu()
    rows = received(
        cascades,
        slack=slack,
        channels=channel_ids,
        pager=pager,
        key_names=key_names,
        jira=jira,
        started=started,
        cause_started=cause_started,
        first_sent=first_sent,
        settle=args.settle,
        priorities=priorities,
        pd_services=pd_services,
    )
    if args.rows:
        for row in rows:
            print(json.dumps(row))
    latencies = [r["to_cause_page_s"] for r in rows if r["to_cause_page_s"] is not None]
    from_cause = [r["cause_alert_to_page_s"] for r in rows if r["cause_alert_to_page_s"] is not None]
    pages, baseline = sum(r["pages"] for r in rows), sum(r["baseline_pages"] for r in rows)
    return {
        "benchmark": "cascade_noise",
        "machine": machine(),
        "cascades": len(rows),
        "by_order": {
            o: sum(1 for r in rows if r["order"] == o)
            for o in ("cause-first", "symptom-first", "interleaved")
        },
        "settle_s": args.settle,
        "prometheus": (
            f"asked (settle max {args.settle_max:g} s; causes showing from {args.pending_lead:g} s before "
            f"the cascade's first delivery: {sum(pending_seen.values())}/{len(cascades)}, of those firing "
            f"and held by Alertmanager: {sum(cause_held[i] for i, seen in pending_seen.items() if seen)}; "
            f"the pending ones fire {args.group_wait:g} s before their delivery)"
            if args.prometheus
            else "not configured"
        ),
        "spread_max_s": args.spread,
        "deliveries": sum(len(c.deliveries) for c in cascades) + sum(len(c.resolutions) for c in cascades),
        "rejected_deliveries": rejected,
        "cause_paged": f"{sum(r['cause_paged'] for r in rows if r['cause_pageable'])}"
        f"/{sum(r['cause_pageable'] for r in rows)} (where the policy pages for the cause)",
        "no_symptom_team_paged": f"{sum(not r['symptom_paged'] for r in rows)}/{len(rows)}",
        "cascades_with_a_symptom_earlier_than_settle": sum(
            r["symptoms_earlier_than_settle"] > 0 for r in rows
        ),
        "no_symptom_paged_when_its_cause_was_within_settle": (
            f"{sum(not r['symptom_paged_within_settle'] for r in rows)}/{len(rows)}"
        ),
        "stale_pages": sum(r["stale_pages"] for r in rows),
        "stale_messages": sum(r["stale_messages"] for r in rows),
        "open_jira_issues": sum(r["jira_open"] for r in rows),
        "background_kept_apart": f"{sum(r['background_apart'] for r in rows)}/{len(rows)}",
        "pages_medic": pages,
        "pages_alertmanager_only": baseline,
        "page_reduction_pct": round(100 * (1 - pages / baseline), 1) if baseline else None,
        "messages_per_cascade_p50": percentile([r["messages"] for r in rows], 50),
        "jira_issues_per_cascade_max": max((r["jira_issues"] for r in rows), default=0),
        "thread_replies_per_cascade_p50": percentile([r["thread_replies"] for r in rows], 50),
        "first_alert_to_cause_page_s_p50": round(percentile(latencies, 50), 2) if latencies else None,
        "first_alert_to_cause_page_s_p99": round(percentile(latencies, 99), 2) if latencies else None,
        "cause_alert_to_cause_page_s_p50": round(percentile(from_cause, 50), 2) if from_cause else None,
        "cause_alert_to_cause_page_s_p99": round(percentile(from_cause, 99), 2) if from_cause else None,
        # Causes that call nothing never settle (nothing can absorb them); the others wait the settle period.
        **{
            f"cause_alert_to_cause_page_s_p50_{where}": round(percentile(split, 50), 2) if split else None
            for where, bottom in (("bottom_of_graph", True), ("mid_graph", False))
            for split in [
                [
                    r["cause_alert_to_page_s"]
                    for r in rows
                    if r["cause_alert_to_page_s"] is not None and r["cause_at_bottom"] is bottom
                ]
            ]
        },
        "wall_s": round(wall, 1),
        "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cascade_noise", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cascades", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=6, help="cascades under way at once")
    parser.add_argument("--spread", type=float, default=60.0, help="longest arrival spread of a cascade (s)")
    parser.add_argument("--settle", type=float, default=5.0, help="MEDIC_SETTLE_SECONDS")
    parser.add_argument("--quiet", type=float, default=10.0, help="MEDIC_RESOLVE_QUIET_SECONDS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="serve ALERTS from a Prometheus double (MEDIC_PROMETHEUS_URL): a settling incident asks it",
    )
    parser.add_argument(
        "--pending-visible",
        type=float,
        default=1.0,
        help="with --prometheus: the share of causes Prometheus shows pending from the cascade's first alert "
        "(the others only once their own alert is delivered)",
    )
    parser.add_argument(
        "--pending-lead",
        type=float,
        default=10.0,
        help="with --prometheus: how long before the cascade's first delivery its cause shows pending (s)",
    )
    parser.add_argument(
        "--cause-held",
        type=float,
        default=0.0,
        help="with --prometheus: of the causes showing before their delivery, the share already firing, "
        "held by Alertmanager until their delivery (group_wait, group_interval); the others are pending",
    )
    parser.add_argument(
        "--group-wait",
        type=float,
        default=0.0,
        help="with --prometheus: a pending cause fires this long before its delivery (group_wait, "
        "Alertmanager holding it meanwhile); 0: it fires when delivered",
    )
    parser.add_argument("--settle-max", type=float, default=60.0, help="MEDIC_SETTLE_MAX_SECONDS")
    parser.add_argument("--rows", action="store_true", help="print each cascade's figures too")
    print_result(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
