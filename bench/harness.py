"""A Medic stack for benchmarks: the Temporal dev server, `medic worker` and `medic api` as
separate processes (so the load generator never shares an event loop or a GIL with them), all
stopped on exit, loopback only."""

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from bench.loadgen import LeanClient, lean_client
from medic.incident import AlertBatch
from service.devserver import DevServer, die_with_parent, find_binary
from service.settings import Settings
from service.temporal import rpc_timeout
from tests.support.stack import free_port
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = [
    "BenchStack",
    "Child",
    "Outcome",
    "RawCall",
    "bench_stack",
    "cpu_seconds",
    "machine",
    "percentile",
    "raw_caller",
    "tail",
]

Outcome = tuple[str, int]  # (outcome, alerts accepted)

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 15.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    # ceil(q/100 * n) in exact arithmetic: in floats 99.9/100 * 1000 is 999.0000000000001, rank 1000.
    rank = max(1, min(len(ordered), math.ceil(Fraction(str(q)) * len(ordered) / 100)))
    return ordered[rank - 1]


def print_result(result: dict[str, Any]) -> None:
    """A readable key/value listing, then the same figures as one JSON line (for docs/BENCHMARKS.md)."""
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    print(json.dumps(result))


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model})"


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (from /proc), None if it is gone; ``None`` as the
    pid means this process (the load generator)."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchStack:
    base_url: str
    token: str
    temporal_address: str
    task_queue: str
    workdir: Path
    pids: dict[str, int]

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack (and by this one, the load generator)."""
        used = {name: round(cpu_seconds(pid) or 0.0, 2) for name, pid in self.pids.items()}
        used["load generator"] = round(cpu_seconds(None) or 0.0, 2)
        return used

    def lean(self, *, connections: int) -> contextlib.AbstractAsyncContextManager[LeanClient]:
        """The load generator's client: little CPU per request (bench.loadgen)."""
        url = httpx.URL(self.base_url)
        return lean_client(
            url.host,
            url.port or 80,
            headers={"Authorization": f"Bearer {self.token}"},
            connections=connections,
        )

    def http(self, *, limits: int = 64) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60.0,
            limits=httpx.Limits(max_connections=limits, max_keepalive_connections=limits),
            trust_env=False,
        )


class Child:
    """A ``medic`` subprocess in its own process group, logging to a file, dying with us."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_file: Path) -> None:
        self.name, self.log_file = name, log_file
        self._log: IO[bytes] = log_file.open("wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail(self.log_file)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _children() -> Iterator[list[Child]]:
    children: list[Child] = []
    try:
        yield children
    finally:
        for child in reversed(children):
            child.stop()


@contextlib.asynccontextmanager
async def bench_stack(
    *, env: dict[str, str] | None = None, files: dict[str, str] | None = None, worker_nice: int = 0
) -> AsyncIterator[BenchStack]:
    """Start everything; ``files`` are written into the work dir (catalog.yaml, routing.yaml)."""
    with tempfile.TemporaryDirectory(prefix="medic-bench-") as tmp, _children() as children:
        workdir = Path(tmp)
        for name, text in (files or {}).items():
            (workdir / name).write_text(text)
        server = DevServer(
            host=HOST,
            port=free_port(),
            ui_port=None,
            db_file=workdir / "temporal.sqlite",
            log_file=workdir / "temporal.log",
        )
        server.start()
        try:
            await server.wait_ready(timeout=90)
            token, port = secrets.token_urlsafe(16), free_port()
            child_env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
            child_env.update(
                MEDIC_TEMPORAL_ADDRESS=server.address,
                MEDIC_API_HOST=HOST,
                MEDIC_API_PORT=str(port),
                MEDIC_WEBHOOK_TOKEN=token,
                MEDIC_TASK_QUEUE="medic-bench",
                MEDIC_LOG_LEVEL="WARNING",
                MEDIC_DATA_DIR=str(workdir / "data"),
                MEDIC_CATALOG=str(workdir / "catalog.yaml"),
                MEDIC_RUNBOOKS_DIR=str(workdir / "runbooks"),  # none unless the benchmark writes some
                **(env or {}),
            )
            medic = str(find_binary("medic"))
            for role in ("worker", "api"):
                # --worker-nice: the worker yields the CPU to ingest, as it would on nodes of its own.
                prefix = ["nice", "-n", str(worker_nice)] if role == "worker" and worker_nice else []
                children.append(
                    Child(role, [*prefix, medic, role], child_env, workdir, workdir / f"{role}.log")
                )
            pids = {"temporal": server.pid, "worker": children[0].proc.pid, "api": children[1].proc.pid}
            stack = BenchStack(f"http://{HOST}:{port}", token, server.address, "medic-bench", workdir, pids)
            deadline = time.monotonic() + 90
            async with httpx.AsyncClient(base_url=stack.base_url, trust_env=False) as http:
                while True:
                    for child in children:
                        if child.proc.poll() is not None:
                            raise RuntimeError(
                                f"{child.log_file.name} exited:\n{child.log_file.read_text()[-2000:]}"
                            )
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the API never became ready")
                    await asyncio.sleep(0.2)
            yield stack
        finally:
            for child in reversed(children):
                child.stop()
            children.clear()
            server.stop()


@dataclass(frozen=True)
class RawCall:
    """The signal-with-start ``TemporalIncidentSink`` makes for one delivery, prepared ahead
    of time so the raw phase times nothing but the Temporal call."""

    incident_id: str
    batch: AlertBatch
    summary: str


def raw_caller(
    client: Client, settings: Settings, calls: list[RawCall]
) -> Callable[[int], Awaitable[Outcome]]:
    timeout = rpc_timeout(settings)

    async def signal_with_start(i: int) -> Outcome:
        call = calls[i]
        try:
            await client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(
                    incident_id=call.incident_id, quiet_period_seconds=settings.resolve_quiet_seconds
                ),
                id=call.incident_id,
                task_queue=settings.task_queue,
                start_signal=ALERTS_SIGNAL,
                start_signal_args=[call.batch],
                static_summary=call.summary,
                rpc_timeout=timeout,
            )
        except RPCError as err:
            return f"rpc:{err.status.name}", 0
        except RuntimeError as err:  # the client's own failures (e.g. not connected)
            return type(err).__name__, 0
        return "ok", len(call.batch.alerts)

    return signal_with_start
