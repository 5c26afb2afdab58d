"""Realistic alert storms with ground truth, over a catalog's topology.

A storm is a few *cascades* (a root service fails; the services that depend on it, up to a
depth, alert too, a little later and in larger numbers), unrelated *noise*, *flapping*
alerts and HA *duplicate* deliveries, shaped into Alertmanager webhook payloads grouped by
alertname and service. Ground truth says which cascade (or noise group) every alert belongs
to and what each cascade's root is. Used by the storm integration test and bench/storm.py.
"""

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client

from medic.catalog import Catalog
from medic.topology import NEIGHBOUR_DEPTH

__all__ = ["Storm", "StormAlert", "grouping", "make_storm", "notification", "pairwise_scores"]

_ROOT_ALERTS = {"db": ["PostgresDown", "PostgresReplicationLag"], "other": ["ServiceDown", "HighErrorRate"]}
_SYMPTOMS = ["HighErrorRate", "HighLatency", "UpstreamTimeouts", "PodNotReady"]
_NOISE = ["DiskAlmostFull", "CertificateExpiresSoon", "NodeClockSkew", "HighMemory"]


@dataclass
class StormAlert:
    fingerprint: str
    labels: dict[str, str]
    group: str  # ground truth: the cascade's root service, or "noise-<n>"
    starts_at: datetime


@dataclass
class Storm:
    payloads: list[dict[str, Any]]
    alerts: dict[str, StormAlert]
    roots: dict[str, str]  # cascade group -> its root service
    duplicates: int = 0
    flapping: list[str] = field(default_factory=list)

    @property
    def alert_count(self) -> int:
        return len(self.alerts)

    @property
    def expected_incidents(self) -> int:
        """Ground truth: one incident per cascade, noise group and flapping alert."""
        return len({a.group for a in self.alerts.values()})

    @property
    def delivered_alerts(self) -> int:
        return sum(len(p["alerts"]) for p in self.payloads)


def _pick_cascades(
    catalog: Catalog, rnd: random.Random, count: int, depth: int
) -> list[tuple[str, list[str]]]:
    """Roots whose alerting services (root + dependents within ``depth``) are out of each other's
    correlation reach, so the ground truth is unambiguous: when two cascades could both claim a
    symptom, which one gets it depends on who speaks first, and no truth could say otherwise."""
    taken: set[str] = set()

    def reach(service: str) -> set[str]:
        return (
            {service}
            | set(catalog.downstream(service, NEIGHBOUR_DEPTH))
            | set(catalog.upstream(service, NEIGHBOUR_DEPTH))
        )

    chosen: list[tuple[str, list[str]]] = []
    names = [s.name for s in catalog.services]
    rnd.shuffle(names)
    # Leaves first (databases, caches: where cascades usually start), then the widest.
    for name in sorted(names, key=lambda n: (bool(catalog.upstream(n)), -len(catalog.downstream(n, depth)))):
        affected = [name, *sorted(catalog.downstream(name, depth))]
        if len(affected) < 2 or any(taken & reach(s) for s in affected):
            continue
        taken |= set(affected)
        chosen.append((name, affected))
        if len(chosen) == count:
            break
    return chosen


def make_storm(
    catalog: Catalog,
    *,
    alerts: int = 2000,
    cascades: int = 3,
    depth: int = 1,
    noise: int = 20,
    flapping: int = 3,
    duplicate_rate: float = 0.2,
    seed: int = 7,
    now: datetime | None = None,
    batch: int = 25,
) -> Storm:
    rnd = random.Random(seed)  # noqa: S311 - a reproducible storm, not a secret
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    picked = _pick_cascades(catalog, rnd, cascades, depth)
    if not picked:
        raise ValueError("the catalog has no service with dependents to cascade from")
    all_alerts: dict[str, StormAlert] = {}
    roots = {root: root for root, _ in picked}
    counter = itertools.count()

    def add(group: str, service: str, alertname: str, severity: str, at: datetime) -> None:
        n = next(counter)
        labels = {
            "alertname": alertname,
            "service": service,
            "severity": severity,
            "namespace": "shop",
            "pod": f"{service}-{n:05d}",
        }
        fp = f"{n:016x}"
        all_alerts[fp] = StormAlert(fp, labels, group, at)

    per_cascade = max((alerts - noise - flapping) // len(picked), 2)
    for root, affected in picked:
        root_share = max(per_cascade // (4 * len(affected)), 1)
        kind = "db" if root.endswith("-db") else "other"
        for i in range(root_share):
            add(
                root,
                root,
                _ROOT_ALERTS[kind][i % 2],
                "critical",
                start + timedelta(seconds=rnd.randint(0, 5)),
            )
        rest = per_cascade - root_share
        dependents = affected[1:]
        for i in range(rest):
            service = dependents[i % len(dependents)]
            add(
                root,
                service,
                rnd.choice(_SYMPTOMS),
                rnd.choice(["critical", "warning"]),
                start + timedelta(seconds=rnd.randint(3, 60)),
            )
    # Noise and flapping land on services outside the catalog, so topology cannot (rightly) pull them
    # into a cascade and the ground truth stays unambiguous.
    for i in range(noise):
        add(
            f"noise-{i}",
            f"legacy-{i}",
            rnd.choice(_NOISE),
            "warning",
            start + timedelta(seconds=rnd.randint(0, 60)),
        )
    flappers: list[str] = []
    for i in range(flapping):
        add(f"flap-{i}", f"flappy-{i}", "ProbeFlapping", "warning", start)
        flappers.append(list(all_alerts)[-1])

    # Payloads: one Alertmanager group per (alertname, service), in chunks, ordered by time with jitter.
    events: list[tuple[datetime, dict[str, Any]]] = []
    groups: dict[tuple[str, str], list[StormAlert]] = {}
    for alert in all_alerts.values():
        groups.setdefault((alert.labels["alertname"], alert.labels["service"]), []).append(alert)
    for (alertname, service), members in groups.items():
        members.sort(key=lambda a: a.starts_at)
        for chunk_start in range(0, len(members), batch):
            chunk = members[chunk_start : chunk_start + batch]
            body = notification(alertname, service, chunk, "firing")
            events.append((chunk[-1].starts_at, body))
    for fp in flappers:
        alert = all_alerts[fp]
        for episode in range(4):  # fires and resolves four times within minutes
            began = alert.starts_at + timedelta(minutes=2 * episode)
            again = StormAlert(fp, alert.labels, alert.group, began)
            events.append((began, notification("ProbeFlapping", alert.labels["service"], [again], "firing")))
            events.append(
                (
                    began + timedelta(seconds=30),
                    notification("ProbeFlapping", alert.labels["service"], [again], "resolved"),
                )
            )
    events.sort(key=lambda e: e[0])
    payloads = [body for _, body in events]
    duplicates = 0
    with_dupes: list[dict[str, Any]] = []
    for body in payloads:
        with_dupes.append(body)
        if body["status"] == "firing" and rnd.random() < duplicate_rate:
            with_dupes.append(body)  # the HA peer's copy
            duplicates += 1
    return Storm(
        payloads=with_dupes, alerts=all_alerts, roots=roots, duplicates=duplicates, flapping=flappers
    )


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def notification(alertname: str, service: str, alerts: list[StormAlert], status: str) -> dict[str, Any]:
    """An Alertmanager webhook for one group (alertname, service)."""
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "status": status,
        "receiver": "medic",
        "groupLabels": {"alertname": alertname, "service": service},
        "commonLabels": {"alertname": alertname, "service": service},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": a.labels,
                "annotations": {"summary": f"{alertname} on {service}"},
                "startsAt": _iso(a.starts_at),
                "endsAt": _iso(a.starts_at + timedelta(seconds=30))
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }


def pairwise_scores(truth: dict[str, str], found: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering ``found`` (alert -> incident) against
    ``truth`` (alert -> group), counted without enumerating pairs."""
    from collections import Counter  # noqa: PLC0415

    def pairs(counts: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    keys = [k for k in truth if k in found]
    both = pairs(Counter((truth[k], found[k]) for k in keys))
    predicted = pairs(Counter(found[k] for k in keys))
    actual = pairs(Counter(truth[k] for k in keys))
    precision = both / predicted if predicted else 1.0
    recall = both / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


async def grouping(
    http: httpx.AsyncClient, client: Client
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """What Medic made of a storm: alert fingerprint -> the standing incident holding it, and the standing
    (not merged) incidents' details. Fingerprints come from a compact workflow query, since a big
    incident's detail shows only its most recent alerts."""
    from workflows.incident import IncidentWorkflow  # noqa: PLC0415 - keeps the generator free of Temporal

    found: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for item in (await http.get("/incidents", params={"limit": 1000})).json():
        response = await http.get(f"/incidents/{item['id']}", params={"alerts": 0, "timeline": 10000})
        if response.status_code != 200:
            continue  # busy (503) right now: this look is incomplete, the caller looks again
        detail = response.json()
        if detail["merged_into"]:
            continue
        details[item["id"]] = detail
        for fingerprint in await client.get_workflow_handle(item["id"]).query(IncidentWorkflow.fingerprints):
            found[fingerprint] = item["id"]
    return found, details
