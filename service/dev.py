"""``medic dev``: Temporal dev server (with Web UI, persisted), worker and API in one process tree."""

import logging
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr

from service.devserver import DevServer, DevServerError, port_in_use
from service.loop import run as run_loop
from service.runner import run_until_stopped
from service.settings import Settings
from service.temporal import connect

__all__ = ["OPEN_INCIDENTS", "check_ports", "dev_token", "incident_list_url", "medic_command", "run_dev"]

log = logging.getLogger(__name__)


def dev_token(settings: Settings) -> SecretStr:
    """The webhook token: MEDIC_WEBHOOK_TOKEN, else the one stored in MEDIC_DATA_DIR, else a new one."""
    if settings.webhook_token is not None:
        return settings.webhook_token
    path = settings.token_file
    if path.exists():
        return SecretStr(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return SecretStr(token)


def check_ports(settings: Settings) -> None:
    """Refuse to start when a port of ours is taken: the dev server would fail to bind, and the worker
    and API would attach to whatever listens there (another ``medic dev``, another Temporal)."""
    host, _, port = settings.temporal_address.rpartition(":")
    wanted = [
        ("MEDIC_TEMPORAL_ADDRESS", "Temporal gRPC", host or "127.0.0.1", int(port)),
        ("MEDIC_DEV_UI_PORT", "Temporal Web UI", host or "127.0.0.1", settings.dev_ui_port),
        ("MEDIC_API_PORT", "Medic API", settings.api_host, settings.api_port),
    ]
    taken = [
        f"  {what} port {where}:{number} is already in use (set {setting} to a free one)"
        for setting, what, where, number in wanted
        if port_in_use(where, number)
    ]
    if taken:
        raise DevServerError(
            "cannot start: another program (another `medic dev`, a Temporal server?) listens on our ports:\n"
            + "\n".join(taken)
        )


async def run_dev(settings: Settings) -> None:
    if settings.temporal_tls or settings.temporal_api_key is not None:
        log.warning("medic dev ignores MEDIC_TEMPORAL_TLS* and MEDIC_TEMPORAL_API_KEY: its server is local")
    settings = settings.model_copy(
        update={
            "temporal_tls": None,
            "temporal_tls_server_name": None,
            "temporal_tls_ca": None,
            "temporal_tls_cert": None,
            "temporal_tls_key": None,
            "temporal_api_key": None,
            "api_drain_seconds": 0.0,  # no load balancer to wait for: Ctrl-C stops at once
        }
    )
    check_ports(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"webhook_token": dev_token(settings)})
    host, _, port = settings.temporal_address.rpartition(":")
    server = DevServer(
        host=host or "127.0.0.1",
        port=int(port),
        ui_port=settings.dev_ui_port,
        db_file=settings.data_dir / "temporal.sqlite",
        log_file=settings.data_dir / "temporal.log",
        namespace=settings.temporal_namespace,
    )
    server.start()
    try:
        await server.wait_ready()
        client = await connect(settings)
        # The token on a terminal only: redirected to a file (a log), the banner says where it is kept.
        print(_banner(settings, show_token=sys.stdout.isatty()), flush=True)
        await run_until_stopped(settings, client, api=True, worker=True, freeze_gc=True, quick_start=True)
    finally:
        server.stop()
        log.info("Temporal dev server stopped")


def _banner(settings: Settings, *, show_token: bool) -> str:
    shown = "(not shown off a terminal)"
    if show_token and settings.webhook_token is not None:
        shown = settings.webhook_token.get_secret_value()
    return f"""
Medic is running (dev mode: notifications go to the console, remediations are dry-run).
  API            http://{settings.api_host}:{settings.api_port}   (docs at /docs)
  Temporal UI    {settings.workflow_url()}
  Open incidents {incident_list_url(settings)}
  Temporal gRPC  {settings.temporal_address}   data in {settings.data_dir}/
  Webhook token  {shown}   (stored in {settings.token_file})
Try it:          {medic_command()} fire      then open the Temporal UI. Ctrl-C stops everything.
"""


# The Web UI keeps a list's query in its URL: this link opens the workflow list as an incident list.
OPEN_INCIDENTS = "WorkflowType='IncidentWorkflow' AND MedicStatus!='resolved'"


def incident_list_url(settings: Settings, query: str = OPEN_INCIDENTS) -> str:
    return f"{settings.workflow_url()}?query={quote(query, safe='')}"


def medic_command(argv0: str | None = None) -> str:
    """The ``medic`` command as this process was started, so the banner's hint works when pasted:
    ``medic`` when it came from PATH, else the path as invoked (``.venv/bin/medic`` after `make run`)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if Path(argv0).name == "medic" and os.sep in argv0:
        return shlex.quote(argv0)
    if Path(argv0).name == "medic" or shutil.which("medic"):
        return "medic"
    beside = Path(sys.executable).parent / "medic"  # started another way (python -m, a test)
    return shlex.quote(str(beside)) if beside.exists() else "medic"


def main(settings: Settings) -> None:
    run_loop(run_dev(settings))
