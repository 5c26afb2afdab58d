"""Webhook throughput: how many Alertmanager deliveries per second Medic durably accepts.

What it measures
    A ``POST /webhooks/alertmanager`` is answered 200 only after signal-with-start has
    written the delivery into the incident's Temporal history, so the rate at which the API
    answers 200 is the rate at which Medic can *durably* take alerts. This benchmark posts
    N realistic Alertmanager v4 payloads (each a distinct group and service, so a distinct
    incident, with K alerts of distinct fingerprints and current timestamps) with bounded
    concurrency C and reports alerts/s, payloads/s, p50/p90/p99/max latency, errors by
    status and the number of distinct incidents the API answered with.

    It then measures, against the same dev server in the same run, the raw rate of the
    same Temporal call (``start_workflow`` of ``IncidentWorkflow`` with
    ``start_signal="alerts"``, an equivalent alert batch, the static summary and the RPC
    timeout that ``TemporalIncidentSink`` uses) made directly with the Temporal Python
    client, N times with the same concurrency and distinct workflow ids. The ratio of the
    two rates says what the HTTP layer (uvicorn, FastAPI, auth, JSON and pydantic parsing,
    normalisation, incident assignment) costs on top of Temporal itself.

    After each phase it also waits (bounded) until the worker has run every new incident's
    first workflow task, i.e. until the incidents show their status in visibility: an
    accepted alert is durable at once, but the incident is *live* only then. And it reports
    per-process CPU (from ``/proc/<pid>/stat``) and the bytes the dev server wrote to disk
    (``/proc/<pid>/io``) during each phase, to show what bounds the rate.

Why this shape
    ``medic api`` and ``medic worker`` run as separate subprocesses, as in production, so
    the load generator never shares an event loop (or a GIL) with the server; the worker
    runs throughout and competes for the same CPUs, as it would. Temporal is the dev
    server (``temporal server start-dev`` with a SQLite file), so absolute figures describe
    that set-up on this machine, not a production cluster. Warm-up requests (untimed) come
    before each phase, and the worker catches up before the next one starts, so neither
    phase pays for the other's backlog.

Hermetic and loopback only: every listener binds 127.0.0.1 on a free port, inherited
``MEDIC_*`` variables are dropped, the children run in a temporary directory (no ``.env``
is read) with remediation in dry-run, and every child process is stopped on exit, on
error, on Ctrl-C and on SIGTERM (and dies with this process if it is killed outright).
Every wait is bounded; nothing here asserts on timing, it only reports.

Run: ``python -m bench.webhook_throughput [--payloads N] [--concurrency C] [--alerts-per-payload K]``
(``make bench``). Put the dev server's SQLite file elsewhere with ``TMPDIR=...``.
"""

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from bench.harness import Child, Outcome, RawCall, cpu_seconds, percentile, raw_caller, tail
from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.incident import AlertBatch
from medic.keys import INCIDENT_PREFIX
from service.devserver import DevServer, DevServerError, find_binary
from service.ingest import summary_for
from service.settings import Settings
from service.temporal import connect
from tests.support.stack import free_port
from workflows import search_attributes as sa
from workflows.incident import IncidentWorkflow

__all__ = ["main"]

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 90.0
HTTP_TIMEOUT_S = 30.0

# Outcome of one call: a status key ("200", "503", "ok", "rpc:UNAVAILABLE", "ReadTimeout"...)
# and the number of alerts it durably delivered.

_SERVICES = (
    "checkout",
    "payments",
    "cart",
    "catalog",
    "search",
    "recommendations",
    "shipping",
    "auth",
    "inventory",
    "notifications",
)
_RULES = (
    ("HighErrorRate", "critical", "{svc} is failing more than 5% of requests"),
    ("HighLatencyP99", "warning", "{svc} p99 latency is above 1s"),
    ("PodCrashLooping", "critical", "a {svc} pod is crash looping"),
    ("SaturationCPU", "warning", "{svc} is using more than 90% of its CPU limit"),
    ("KafkaConsumerLag", "warning", "{svc} consumer lag is growing"),
)


# --------------------------------------------------------------------------- payloads


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_KUBE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters of generated names (k8s SafeEncodeString)


def _kube_chars(seed: str, n: int) -> str:
    """``n`` characters of Kubernetes' name alphabet, fixed by ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_KUBE_ALPHABET[b % len(_KUBE_ALPHABET)] for b in digest[:n])


def alertmanager_payload(run: str, index: int, alerts_per_payload: int, now: datetime) -> dict[str, Any]:
    """One Alertmanager v4 group, ``alerts_per_payload`` pods firing.

    Distinct per (run, index) in its group *and* its service label (a service the catalog
    does not know), so it opens an incident of its own whether Medic keys incidents by
    Alertmanager group or by service.
    """
    base = _SERVICES[index % len(_SERVICES)]
    svc = f"{base}-{run}-{index:06d}"
    rule, severity, summary = _RULES[(index // len(_SERVICES)) % len(_RULES)]
    alertname = f"{base.title()}{rule}"
    group_labels = {"alertname": alertname, "service": svc}
    common = {**group_labels, "cluster": "prod-eu-1", "namespace": "shop", "severity": severity}
    text = summary.format(svc=base)
    started = now - timedelta(seconds=30 + index % 600)
    # pods of one Deployment named after the service, as Kubernetes names them (a ReplicaSet hash and
    # a suffix in its alphabet): the alerts' subject is that Deployment, one incident a payload (pods
    # named ``auth-c5e3eaf41-00000`` have no owner Medic can tell, and were an incident each: 3,000
    # incidents for 1,000 payloads from issue 14's subjects on, where this benchmark said 1,000)
    replica_set = _kube_chars(f"{run}/{index}", 10)
    alerts = []
    for j in range(alerts_per_payload):
        pod = f"{svc}-{replica_set}-{_kube_chars(f'{run}/{index}/{j}', 5)}"
        alerts.append(
            {
                "status": "firing",
                "labels": {**common, "pod": pod, "instance": f"10.{index % 250}.{j % 250}.17:8080"},
                "annotations": {
                    "summary": text,
                    "description": f"{text} on {pod} for the last 5 minutes.",
                    "runbook_url": f"https://runbooks.example.com/{base}/{rule.lower()}",
                },
                "startsAt": _rfc3339(started),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.monitoring:9090/graph?g0.expr=up%7Bjob%3D%22{base}%22%7D",
                "fingerprint": hashlib.sha256(f"{run}/{index}/{j}".encode()).hexdigest()[:16],
            }
        )
    selector = ", ".join(f'{k}="{v}"' for k, v in group_labels.items())
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"critical|warning"}}:{{{selector}}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": {"summary": text},
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": alerts,
    }


def raw_call_for(payload: dict[str, Any], received_at: datetime) -> RawCall:
    webhook = AlertmanagerWebhook.model_validate(payload)
    alerts = normalise_webhook(webhook, received_at=received_at)
    incident_id = f"{INCIDENT_PREFIX}{webhook.groupLabels['service']}"
    batch = AlertBatch(alerts=alerts, received_at=received_at, truncated=webhook.truncatedAlerts)
    return RawCall(incident_id=incident_id, batch=batch, summary=summary_for(incident_id, batch))


# --------------------------------------------------------------------------- load


@dataclass
class PhaseResult:
    name: str
    calls: int
    wall_s: float
    latencies_s: list[float]
    outcomes: Counter[str]
    delivered_alerts: int
    ok_key: str
    drain_s: float | None = None  # until the phase's incidents were all live
    settle_s: float | None = None  # then until the server and the worker were idle
    incidents: int = 0
    # CPU seconds per process and bytes the dev server wrote: during the phase, and during
    # the worker's catch-up after it.
    cpu_s: dict[str, float] = field(default_factory=dict)
    written: int | None = None
    catch_up_cpu_s: dict[str, float] = field(default_factory=dict)
    catch_up_written: int | None = None

    @property
    def ok(self) -> int:
        return self.outcomes[self.ok_key]

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.outcomes.items()) if k != self.ok_key}

    @property
    def calls_per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def alerts_per_s(self) -> float:
        return self.delivered_alerts / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def incidents_live_per_s(self) -> float | None:
        """New incidents per second counting until the worker had run every one's first task."""
        if self.drain_s is None or self.wall_s + self.drain_s <= 0:
            return None
        return self.ok / (self.wall_s + self.drain_s)

    def cpu_percent(self) -> dict[str, float]:
        """Each process's CPU during the phase, in % of one core."""
        return {k: round(100.0 * v / self.wall_s, 1) for k, v in self.cpu_s.items() if self.wall_s > 0}

    def cpu_ms_per_incident(self, proc: str) -> float | None:
        """CPU a process spent per new incident, phase, catch-up and settling together (None
        unless everything settled, since only then is all of the incidents' work inside)."""
        if self.settle_s is None or not self.incidents or proc not in self.cpu_s:
            return None
        return 1000.0 * (self.cpu_s[proc] + self.catch_up_cpu_s.get(proc, 0.0)) / self.incidents

    def cpu_ms_per_call(self, proc: str) -> float | None:
        """CPU a process spent per successful call during the phase."""
        if not self.ok or proc not in self.cpu_s:
            return None
        return 1000.0 * self.cpu_s[proc] / self.ok

    def written_kb_per_incident(self) -> float | None:
        if self.settle_s is None or not self.incidents or self.written is None:
            return None
        return (self.written + (self.catch_up_written or 0)) / 1e3 / self.incidents

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile over every call (errors included: a 503 after the RPC
        timeout is latency a sender sees)."""
        return percentile(self.latencies_s, q) * 1000.0


async def run_pool(
    name: str, n: int, concurrency: int, call: Callable[[int], Awaitable[Outcome]], ok_key: str
) -> PhaseResult:
    """Run ``call(0..n-1)`` with at most ``concurrency`` in flight, timing each call."""
    latencies = [0.0] * n
    outcomes: Counter[str] = Counter()
    delivered = 0
    indices: Iterator[int] = iter(range(n))

    async def lane() -> None:
        nonlocal delivered
        for i in indices:  # shared by every lane: each index runs exactly once
            started = time.perf_counter()
            key, alerts = await call(i)
            latencies[i] = time.perf_counter() - started
            outcomes[key] += 1
            delivered += alerts

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, max(n, 1)))))
    wall = time.perf_counter() - started
    return PhaseResult(name, n, wall, latencies, outcomes, delivered, ok_key)


def webhook_caller(
    http: httpx.AsyncClient, bodies: list[bytes], incidents: set[str]
) -> Callable[[int], Awaitable[Outcome]]:
    """POST one body; ``incidents`` collects the incident ids the API answers with."""

    async def post(i: int) -> Outcome:
        try:
            response = await http.post("/webhooks/alertmanager", content=bodies[i])
        except httpx.HTTPError as err:
            return type(err).__name__, 0
        if response.status_code != 200:
            return str(response.status_code), 0
        answer: dict[str, Any] = response.json()
        incidents.update(answer.get("incidents", []))
        accepted: int = answer["accepted"]
        return "200", accepted

    return post


# --------------------------------------------------------------------------- processes


def medic_env(
    temporal_address: str, api_port: int, token: str, task_queue: str, data_dir: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_TEMPORAL_ADDRESS=temporal_address,
        MEDIC_API_HOST=HOST,
        MEDIC_API_PORT=str(api_port),
        MEDIC_WEBHOOK_TOKEN=token,
        MEDIC_TASK_QUEUE=task_queue,
        MEDIC_LOG_LEVEL="WARNING",
        MEDIC_DATA_DIR=str(data_dir),
        MEDIC_RUNBOOKS_DIR=str(REPO / "runbooks"),
        MEDIC_REMEDIATION_MODE="dry-run",
    )
    if (REPO / "catalog.yaml").exists():
        # The example catalog, so the API does its usual lookups; the benchmark's services
        # are deliberately not in it (each payload must open an incident of its own).
        env["MEDIC_CATALOG"] = str(REPO / "catalog.yaml")
    return env


def written_bytes(pid: int | None) -> int | None:
    """Bytes a process caused to be written to storage (/proc/<pid>/io), None if unavailable."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "write_bytes":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _growth(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


class Meter:
    """CPU seconds per process, and bytes the dev server wrote, between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int | None], temporal_pid: int | None) -> None:
        self._pids, self._temporal = pids, temporal_pid
        self._cpu: dict[str, float | None] = {}
        self._written: int | None = None

    def start(self) -> None:
        self._cpu = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._written = written_bytes(self._temporal)

    def stop(self) -> tuple[dict[str, float], int | None]:
        used: dict[str, float] = {}
        for name, pid in self._pids.items():
            before, after = self._cpu.get(name), cpu_seconds(pid)
            if before is not None and after is not None:
                used[name] = after - before
        return used, _growth(self._written, written_bytes(self._temporal))


async def wait_ready(base_url: str, children: list[Child]) -> None:
    """Poll /readyz until 200 (Temporal reachable through the API), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0, trust_env=False) as http:
        while loop.time() < deadline:
            for child in children:
                child.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"medic api not ready at {base_url} after {STARTUP_TIMEOUT_S:.0f}s")


class CatchUp:
    """Waits, after a phase, for the work the phase left behind, in two steps (each bounded
    by ``timeout_s``; after one timeout it stops waiting, so a broken set-up costs at most
    one timeout):

    * ``live``: until the worker has run the first workflow task of every incident started
      so far, seen as its status search attribute being visible (what ``/incidents`` and
      the Temporal UI read): from then on the incident exists for people;
    * ``settle``: until the dev server and the worker are idle (each under
      ``IDLE_CORES`` of CPU over a second), so whatever else an incident does at first
      (activities, notifications...) is done and does not leak into the next phase.
    """

    IDLE_CORES = 0.15

    def __init__(
        self, client: Client, timeout_s: float, children: list[Child], busy: list[int | None]
    ) -> None:
        self._client, self._timeout, self._children, self._busy = client, timeout_s, children, busy
        self.started = 0  # incidents known to have been started (from the callers' answers)
        self.enabled = timeout_s > 0
        self._all = f'WorkflowType = "{IncidentWorkflow.__name__}"'
        self._published = f"{self._all} AND {sa.STATUS.name} IS NOT NULL"

    async def _count(self, query: str) -> int:
        return (await self._client.count_workflows(query)).count

    def _gave_up(self, what: str) -> None:
        print(f"{what} within {self._timeout:.0f}s; not waiting again", flush=True)
        self.enabled = False

    def _check_children(self) -> None:
        for child in self._children:
            child.check_alive()

    async def live(self) -> float | None:
        """Seconds until every incident is live; None if not within the timeout."""
        if not self.enabled:
            return None
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < self._timeout:
            self._check_children()
            with contextlib.suppress(RPCError):
                expected = max(self.started, await self._count(self._all))
                if await self._count(self._published) >= expected:
                    return loop.time() - started
            await asyncio.sleep(0.25)
        self._gave_up("the worker did not catch up")
        return None

    async def idle(self) -> None:
        await self.live()
        await self.settle()

    async def settle(self) -> float | None:
        """Seconds until the server and the worker are idle; None if not within the timeout."""
        if not self.enabled:
            return None
        loop = asyncio.get_running_loop()
        started = loop.time()
        before, at = [cpu_seconds(pid) for pid in self._busy], loop.time()
        while loop.time() - started < self._timeout:
            await asyncio.sleep(1.0)
            self._check_children()
            after, now = [cpu_seconds(pid) for pid in self._busy], loop.time()
            if all(
                b is not None and a is not None and (a - b) / (now - at) < self.IDLE_CORES
                for b, a in zip(before, after, strict=True)
            ):
                return now - started
            before, at = after, now
        self._gave_up("the server and the worker did not settle")
        return None


# --------------------------------------------------------------------------- report


def _fmt_ms(value: float) -> str:
    return f"{value:,.1f}"


def _waited(seconds: float | None, args: argparse.Namespace) -> str:
    if args.drain_timeout <= 0:
        return "not measured"
    return "n/a (timed out)" if seconds is None else f"{seconds:.2f}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _num(value: float | None, spec: str = ",.1f") -> str:
    return "n/a" if value is None else format(value, spec)


def _live(phase: PhaseResult) -> str:
    live = phase.incidents_live_per_s
    return "n/a" if live is None else f"{live:,.1f}"


def code_version() -> str:
    """``git describe`` of the code under test (``-dirty`` when the working tree has changes)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def sqlite_pragmas(command: list[str]) -> list[str]:
    """The ``--sqlite-pragma`` values the dev server runs with (the SQLite defaults if none)."""
    return [value for flag, value in itertools.pairwise(command) if flag == "--sqlite-pragma"]


def report(args: argparse.Namespace, webhook: PhaseResult, raw: PhaseResult, setup: dict[str, Any]) -> None:
    ratio = webhook.calls_per_s / raw.calls_per_s if raw.calls_per_s > 0 else float("nan")
    rows: list[tuple[str, str, str]] = [
        ("calls", f"{webhook.calls:,}", f"{raw.calls:,}"),
        ("succeeded", f"{webhook.ok:,}", f"{raw.ok:,}"),
        ("accepted alerts", f"{webhook.delivered_alerts:,}", f"{raw.delivered_alerts:,}"),
        ("distinct incidents", f"{webhook.incidents:,}", f"{raw.incidents:,}"),
        ("wall time (s)", f"{webhook.wall_s:.2f}", f"{raw.wall_s:.2f}"),
        ("payloads (calls)/s", f"{webhook.calls_per_s:,.1f}", f"{raw.calls_per_s:,.1f}"),
        ("alerts/s", f"{webhook.alerts_per_s:,.1f}", f"{raw.alerts_per_s:,.1f}"),
        ("p50 latency (ms)", _fmt_ms(webhook.percentile_ms(50)), _fmt_ms(raw.percentile_ms(50))),
        ("p90 latency (ms)", _fmt_ms(webhook.percentile_ms(90)), _fmt_ms(raw.percentile_ms(90))),
        ("p99 latency (ms)", _fmt_ms(webhook.percentile_ms(99)), _fmt_ms(raw.percentile_ms(99))),
        ("max latency (ms)", _fmt_ms(webhook.percentile_ms(100)), _fmt_ms(raw.percentile_ms(100))),
        (
            "errors",
            ", ".join(f"{k}: {v}" for k, v in webhook.errors.items()) or "none",
            ", ".join(f"{k}: {v}" for k, v in raw.errors.items()) or "none",
        ),
        ("all incidents live after (s)", _waited(webhook.drain_s, args), _waited(raw.drain_s, args)),
        ("incidents live/s (incl. catch-up)", _live(webhook), _live(raw)),
        ("then all idle after (s)", _waited(webhook.settle_s, args), _waited(raw.settle_s, args)),
    ]
    webhook_cpu, raw_cpu = webhook.cpu_percent(), raw.cpu_percent()
    for proc in ("temporal", "api", "worker", "bench"):
        if proc in webhook_cpu or proc in raw_cpu:
            rows.append(
                (
                    f"CPU {proc}, phase (% of a core)",
                    _num(webhook_cpu.get(proc), ".0f"),
                    _num(raw_cpu.get(proc), ".0f"),
                )
            )
    rows.append(
        (
            "API CPU per payload (ms)",
            _num(webhook.cpu_ms_per_call("api"), ".2f"),
            "-",
        )
    )
    for proc in ("temporal", "worker"):
        rows.append(
            (
                f"{proc} CPU per incident (ms)*",
                _num(webhook.cpu_ms_per_incident(proc)),
                _num(raw.cpu_ms_per_incident(proc)),
            )
        )
    rows.append(
        (
            "Temporal disk writes per incident (KB)*",
            _num(webhook.written_kb_per_incident(), ",.0f"),
            _num(raw.written_kb_per_incident(), ",.0f"),
        )
    )
    head = ("", "webhook (HTTP -> API)", "raw signal-with-start")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    line = "-+-".join("-" * w for w in widths)
    print()
    print(
        f"Medic webhook throughput: {args.payloads} payloads x {args.alerts_per_payload} alerts, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs"
    )
    print(line)
    print(" | ".join([head[0].ljust(widths[0]), head[1].rjust(widths[1]), head[2].rjust(widths[2])]))
    print(line)
    for name, left, right in rows:
        print(" | ".join([name.ljust(widths[0]), left.rjust(widths[1]), right.rjust(widths[2])]))
    print(line)
    print(f"ratio webhook payloads/s : raw signal-with-start/s = {ratio:.2f}")
    print(
        f"code {setup['code']}; dev server SQLite pragmas: {', '.join(setup['sqlite_pragmas']) or 'defaults'}"
    )
    print(
        f"1-min load average before the run {args.loadavg_start:.2f} (anything else running skews "
        f"every figure), at the end {os.getloadavg()[0]:.2f} (this run's own processes included)"
    )
    print(
        "Latency percentiles include failed calls. CPU % is per process over the phase's wall time "
        f"({100 * (os.cpu_count() or 1)}% = every core). *: phase to idle, i.e. all the incidents' work."
    )

    def figures(phase: PhaseResult) -> dict[str, Any]:
        return {
            "calls": phase.calls,
            "succeeded": phase.ok,
            "accepted_alerts": phase.delivered_alerts,
            "incidents": phase.incidents,
            "wall_s": round(phase.wall_s, 3),
            "calls_per_s": round(phase.calls_per_s, 1),
            "alerts_per_s": round(phase.alerts_per_s, 1),
            "p50_ms": round(phase.percentile_ms(50), 1),
            "p90_ms": round(phase.percentile_ms(90), 1),
            "p99_ms": round(phase.percentile_ms(99), 1),
            "max_ms": round(phase.percentile_ms(100), 1),
            "errors": phase.errors,
            "all_live_after_s": _round(phase.drain_s, 2),
            "then_idle_after_s": _round(phase.settle_s, 2),
            "incidents_live_per_s": _round(phase.incidents_live_per_s, 1),
            "cpu_percent": phase.cpu_percent(),
            "cpu_ms_per_incident": {
                proc: _round(phase.cpu_ms_per_incident(proc), 2) for proc in ("temporal", "worker")
            },
            "temporal_disk_write_kb_per_incident": _round(phase.written_kb_per_incident(), 0),
        }

    summary = {
        "benchmark": "webhook_throughput",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "payloads": args.payloads,
        "concurrency": args.concurrency,
        "alerts_per_payload": args.alerts_per_payload,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1m_start": round(args.loadavg_start, 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "warmup": args.warmup,
        **setup,
        "webhook": {
            **figures(webhook),
            "payloads_per_s": round(webhook.calls_per_s, 1),
            "api_cpu_ms_per_payload": _round(webhook.cpu_ms_per_call("api"), 2),
        },
        "raw_signal_with_start": figures(raw),
        "ratio_webhook_to_raw": round(ratio, 3),
    }
    print(json.dumps(summary, sort_keys=False))


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_throughput",
        description="Alertmanager webhook -> Temporal signal-with-start throughput, and the raw rate.",
    )

    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    parser.add_argument("--payloads", "-n", type=positive, default=1000, help="payloads (and raw calls)")
    parser.add_argument("--concurrency", "-c", type=positive, default=32, help="requests in flight")
    parser.add_argument("--alerts-per-payload", "-k", type=positive, default=3, help="alerts per payload")
    parser.add_argument(
        "--warmup", type=int, default=100, help="untimed payloads (and raw calls) before each phase"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=90.0,
        help="bound on each wait, after each phase, for the incidents to go live and then for the "
        "server and worker to go idle (0: don't wait)",
    )
    args = parser.parse_args(argv)
    if args.alerts_per_payload > 1000:
        parser.error("--alerts-per-payload: at most 1000")
    args.warmup = max(args.warmup, 0)
    args.loadavg_start = os.getloadavg()[0]
    return args


async def measure_catch_up(phase: PhaseResult, catch_up: CatchUp, meter: Meter) -> None:
    """How long until the phase's incidents are live, and what they cost until all is idle."""
    if not catch_up.enabled:
        return
    print("waiting for the worker to catch up and everything to settle ...", flush=True)
    meter.start()
    phase.drain_s = await catch_up.live()
    phase.settle_s = await catch_up.settle()
    phase.catch_up_cpu_s, phase.catch_up_written = meter.stop()


async def bench(args: argparse.Namespace, workdir: Path) -> None:
    run = secrets.token_hex(3)
    token = secrets.token_urlsafe(24)
    task_queue = f"medic-bench-{run}"
    n, c, k, warm = args.payloads, args.concurrency, args.alerts_per_payload, args.warmup
    children: list[Child] = []
    server = DevServer(
        host=HOST,
        port=free_port(),
        ui_port=None,
        db_file=workdir / "temporal.sqlite",
        log_file=workdir / "temporal.log",
    )
    with contextlib.ExitStack() as cleanup:  # stops the API, then the worker, then Temporal
        print(f"starting Temporal dev server on {server.address} (SQLite under {workdir}) ...", flush=True)
        server.start()
        cleanup.callback(server.stop)
        try:
            await server.wait_ready(timeout=STARTUP_TIMEOUT_S)
        except DevServerError as err:
            raise DevServerError(f"{err}\n{tail(workdir / 'temporal.log')}") from err

        api_port = free_port()
        env = medic_env(server.address, api_port, token, task_queue, workdir / "medic")
        medic = str(find_binary("medic"))
        for name in ("worker", "api"):
            child = Child(name, [medic, name], env, workdir, workdir / f"medic-{name}.log")
            cleanup.callback(child.stop)
            children.append(child)
        worker, api = children
        base_url = f"http://{HOST}:{api_port}"
        print(f"started medic worker (pid {worker.pid}) and medic api (pid {api.pid}) ...", flush=True)
        await wait_ready(base_url, children)

        settings = Settings(_env_file=None, temporal_address=server.address, task_queue=task_queue)
        client = await connect(settings)
        temporal_pid = server.pid
        catch_up = CatchUp(client, args.drain_timeout, children, busy=[temporal_pid, worker.pid])
        meter = Meter(
            {"temporal": temporal_pid, "api": api.pid, "worker": worker.pid, "bench": None}, temporal_pid
        )
        incidents: set[str] = set()

        async with httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=HTTP_TIMEOUT_S,
            limits=httpx.Limits(max_connections=c, max_keepalive_connections=c),
            trust_env=False,
        ) as http:
            if warm:
                now = datetime.now(UTC)
                bodies = [
                    json.dumps(alertmanager_payload(f"{run}w", i, k, now)).encode() for i in range(warm)
                ]
                print(f"warming up: {warm} webhook payloads ...", flush=True)
                await run_pool("warmup", warm, c, webhook_caller(http, bodies, incidents), "200")
                catch_up.started = len(incidents)
                await catch_up.idle()

            now = datetime.now(UTC)
            bodies = [json.dumps(alertmanager_payload(f"{run}h", i, k, now)).encode() for i in range(n)]
            size = sum(len(b) for b in bodies) / n
            print(f"webhook phase: {n} payloads ({size:,.0f} bytes each), concurrency {c} ...", flush=True)
            before = len(incidents)
            meter.start()
            webhook = await run_pool("webhook", n, c, webhook_caller(http, bodies, incidents), "200")
            webhook.cpu_s, webhook.written = meter.stop()
            webhook.incidents = len(incidents) - before
        catch_up.started = len(incidents)
        await measure_catch_up(webhook, catch_up, meter)

        if warm:
            now = datetime.now(UTC)
            calls = [raw_call_for(alertmanager_payload(f"{run}v", i, k, now), now) for i in range(warm)]
            print(f"warming up: {warm} raw signal-with-start calls ...", flush=True)
            warmup = await run_pool("warmup", warm, c, raw_caller(client, settings, calls), "ok")
            catch_up.started += warmup.ok
            await catch_up.idle()
        now = datetime.now(UTC)
        calls = [raw_call_for(alertmanager_payload(f"{run}r", i, k, now), now) for i in range(n)]
        print(f"raw phase: {n} signal-with-start calls, concurrency {c} ...", flush=True)
        meter.start()
        raw = await run_pool("raw", n, c, raw_caller(client, settings, calls), "ok")
        raw.cpu_s, raw.written = meter.stop()
        raw.incidents = raw.ok
        catch_up.started += raw.ok
        await measure_catch_up(raw, catch_up, meter)

        for child in children:
            child.check_alive()
        setup = {
            "code": code_version(),
            "temporal": "temporal server start-dev, SQLite file, headless",
            "sqlite_pragmas": sqlite_pragmas(server.command()),
            "processes": "medic api, medic worker, dev server and load generator are separate processes",
        }
        report(args, webhook, raw, setup)


async def _main_task(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        # SIGTERM behaves like Ctrl-C: cancel, so every cleanup callback runs.
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="medic-bench-") as tmp:
        await bench(args, Path(tmp))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(_main_task(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every subprocess stopped", file=sys.stderr)
        return 130
    except Exception as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
