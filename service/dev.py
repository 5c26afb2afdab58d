"""``medic dev``: Temporal dev server (with Web UI, persisted), worker and API in one process tree."""

import logging
import secrets
import sys

from pydantic import SecretStr

from service.devserver import DevServer
from service.loop import run as run_loop
from service.runner import run_until_stopped
from service.settings import Settings
from service.temporal import connect

__all__ = ["dev_token", "run_dev"]

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


async def run_dev(settings: Settings) -> None:
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
        await run_until_stopped(settings, client, api=True, worker=True, freeze_gc=True)
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
  Temporal gRPC  {settings.temporal_address}   data in {settings.data_dir}/
  Webhook token  {shown}   (stored in {settings.token_file})
Try it:          medic fire      then open the Temporal UI. Ctrl-C stops everything.
"""


def main(settings: Settings) -> None:
    run_loop(run_dev(settings))
