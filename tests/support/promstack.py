"""Real Prometheus and Alertmanager (the Debian binaries) for the end-to-end tests, each on a free
loopback port with its own temp dir and log file, always killed on exit; plus a tiny /metrics target
whose gauges a test can flip."""

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.devserver import die_with_parent
from tests.support.stack import free_port

__all__ = [
    "MetricsTarget",
    "ServerProcess",
    "find_executable",
    "logs_of",
    "metrics_target",
    "running_alertmanager",
    "running_prometheus",
]

_PORT_ATTEMPTS = 3


def find_executable(*names: str) -> Path:
    """The first of ``names`` on PATH; a missing binary fails the test (never a skip)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    pytest.fail(
        f"none of {', '.join(names)} found on PATH: the e2e tests need Debian's prometheus and "
        "prometheus-alertmanager packages (apt-get install prometheus prometheus-alertmanager)"
    )


@dataclass
class ServerProcess:
    """A running Prometheus or Alertmanager: where it listens and where it logs."""

    name: str
    address: str  # host:port
    workdir: Path
    log_file: Path
    process: "subprocess.Popen[bytes]"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError as err:
            return f"(no log: {err})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()


def logs_of(*servers: ServerProcess, lines: int = 40) -> str:
    """The log tails of ``servers``, for assertion messages."""
    return "\n".join(
        f"\n----- {s.name} ({s.address}, exit {s.process.poll()}) last {lines} log lines -----\n"
        f"{s.log_tail(lines)}"
        for s in servers
    )


async def _wait_ready(server: ServerProcess, timeout: float) -> str | None:
    """None once ``/-/ready`` answers 200; otherwise why not (the process exited, or the bound passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer yet"
    async with httpx.AsyncClient(base_url=server.url, timeout=2.0) as http:
        while loop.time() < deadline:
            if server.process.poll() is not None:
                return f"{server.name} exited with {server.process.returncode}"
            try:
                response = await http.get("/-/ready")
                if response.status_code == 200:
                    return None
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as err:
                last = repr(err)
            await asyncio.sleep(0.1)
    return f"{server.name} not ready on {server.address} after {timeout:.0f}s: {last}"


@contextlib.asynccontextmanager
async def _running(
    name: str,
    binary: Path,
    config: dict[str, Any],
    args: list[str],
    *,
    files: dict[str, dict[str, Any]] | None = None,
    ready_timeout: float,
    port: int | None = None,
) -> AsyncIterator[ServerProcess]:
    """Write ``config`` (and ``files``) into a fresh temp dir and run ``binary`` on a free loopback
    port until exit.

    ``args`` may use ``{dir}``, ``{config}`` and ``{address}``. A port taken between choosing it and
    binding it is retried on another port, unless the caller chose the port.
    """
    with tempfile.TemporaryDirectory(prefix=f"medic-e2e-{name}-") as tmp:
        workdir = Path(tmp)
        config_file = workdir / f"{name}.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        for filename, content in (files or {}).items():
            (workdir / filename).write_text(yaml.safe_dump(content, sort_keys=False))
        failure = ""
        # A port the caller chose (others were told of it) is not moved: one attempt, and its failure.
        for attempt in range(1, (1 if port else _PORT_ATTEMPTS) + 1):
            address = f"127.0.0.1:{port or free_port()}"
            log_file = workdir / f"{name}-{attempt}.log"
            argv = [str(binary), *(a.format(dir=workdir, config=config_file, address=address) for a in args)]
            with log_file.open("wb") as log:
                process = subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=workdir,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
                )
            server = ServerProcess(name, address, workdir, log_file, process)
            try:
                problem = await _wait_ready(server, ready_timeout)
                if problem is None:
                    yield server
                    return
            finally:
                server.stop()
            failure = f"{problem}\ncommand: {' '.join(argv)}\n{logs_of(server)}"
            if "address already in use" not in server.log_tail(200):
                break
        pytest.fail(f"could not start {name}: {failure}")


@contextlib.asynccontextmanager
async def running_prometheus(
    config: dict[str, Any],
    *,
    rules: dict[str, Any] | None = None,
    ready_timeout: float = 30.0,
    port: int | None = None,
    flags: tuple[str, ...] = (),
) -> AsyncIterator[ServerProcess]:
    """Prometheus with ``config``; ``rules``, when given, becomes its only rule file; ``port`` when the
    caller must know the address before it starts; ``flags``: more command-line flags."""
    binary = find_executable("prometheus")
    files: dict[str, dict[str, Any]] = {}
    if rules is not None:
        # Prometheus resolves rule_files against the directory of its config file.
        config = {**config, "rule_files": ["rules.yml"]}
        files["rules.yml"] = rules
    args = [
        "--config.file={config}",
        "--storage.tsdb.path={dir}/data",
        "--web.listen-address={address}",
        "--web.external-url=http://{address}/",
        "--log.level=info",
        *flags,
    ]
    async with _running(
        "prometheus", binary, config, args, files=files, ready_timeout=ready_timeout, port=port
    ) as server:
        yield server


@contextlib.asynccontextmanager
async def running_alertmanager(
    config: dict[str, Any], *, ready_timeout: float = 30.0
) -> AsyncIterator[ServerProcess]:
    """A single, non-clustered Alertmanager with ``config``, logging at debug level (notify results)."""
    binary = find_executable("prometheus-alertmanager", "alertmanager")
    args = [
        "--config.file={config}",
        "--storage.path={dir}/data",
        "--web.listen-address={address}",
        "--web.external-url=http://{address}/",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    async with _running("alertmanager", binary, config, args, ready_timeout=ready_timeout) as server:
        yield server


class MetricsTarget:
    """Serves ``/metrics`` in the Prometheus text format; gauges change with :meth:`set`."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def set(self, name: str, labels: dict[str, str], value: float) -> None:
        with self._lock:
            self._gauges.setdefault(name, {})[tuple(sorted(labels.items()))] = value

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._gauges.items()):
                lines.append(f"# TYPE {name} gauge")
                for labels, value in sorted(series.items()):
                    text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{text}}} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@contextlib.contextmanager
def metrics_target() -> Iterator[MetricsTarget]:
    """A /metrics endpoint on 127.0.0.1 (a port the OS picks), served from a thread until exit."""
    holder: list[MetricsTarget] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = holder[0].render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would drown the test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(MetricsTarget(server))
    thread = threading.Thread(target=server.serve_forever, name="metrics-target", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
