"""The ``medic`` command."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from service.logs import configure_logging
from service.loop import run as run_loop
from service.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Medic: self-healing incidents on Temporal.",
)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as err:
        # Never pydantic's own text: it quotes the input, and the input may be a secret.
        lines = [
            f"  MEDIC_{'_'.join(str(p) for p in e['loc'][:1]).upper()}"
            f"{''.join(f'[{p}]' for p in e['loc'][1:])}: {e['msg']}"
            for e in err.errors(include_url=False, include_input=False)
        ]
        typer.echo("invalid settings:\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from err
    except SettingsError as err:  # e.g. a JSON setting that is not JSON
        typer.echo(f"invalid settings: {err}", err=True)
        raise typer.Exit(2) from err
    configure_logging(settings.log_level, json_format=settings.log_json)
    return settings


def _valid_catalog(settings: Settings) -> None:
    """Refuse to start on a broken catalog, with the same file:line messages as `medic check`."""
    from medic.yamldoc import ConfigError  # noqa: PLC0415
    from service.config_files import load_catalog_file  # noqa: PLC0415

    try:
        load_catalog_file(settings.catalog)
    except ConfigError as err:
        typer.echo(f"refusing to start, the catalog has errors:\n{err}", err=True)
        raise typer.Exit(2) from err


@app.command()
def dev() -> None:
    """Temporal dev server (Web UI, persisted under MEDIC_DATA_DIR), worker and API, all in one."""
    from service.dev import main as dev_main  # noqa: PLC0415 - keep `medic --help` fast

    settings = _settings()
    _valid_catalog(settings)
    dev_main(settings)


@app.command()
def api() -> None:
    """The HTTP API, connected to an existing Temporal. Requires MEDIC_WEBHOOK_TOKEN."""
    settings = _settings()
    if settings.webhook_token is None or not settings.webhook_token.get_secret_value():
        typer.echo(
            "refusing to start: MEDIC_WEBHOOK_TOKEN is not set (webhooks would be open to anyone)", err=True
        )
        raise typer.Exit(2)
    _valid_catalog(settings)
    run_loop(_serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """The Temporal worker, connected to an existing Temporal."""
    run_loop(_serve(_settings(), api=False, worker=True))


async def _serve(settings: Settings, *, api: bool, worker: bool) -> None:
    from service.runner import run_until_stopped  # noqa: PLC0415
    from service.temporal import connect  # noqa: PLC0415

    # The API connects lazily so it can start, and answer 503, while Temporal is down.
    client = await connect(settings, lazy=api and not worker)
    await run_until_stopped(settings, client, api=api, worker=worker, freeze_gc=True)


@app.command()
def check() -> None:
    """Validate the service catalog (and routing policy and runbooks); file:line messages on errors."""
    from service.config_files import check_all  # noqa: PLC0415

    checked, problems = check_all(_settings())
    for line in checked:
        typer.echo(f"ok  {line}")
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)


@app.command()
def fire(
    file: Annotated[
        Path | None, typer.Argument(help="an Alertmanager webhook JSON file", exists=True)
    ] = None,
    resolve: Annotated[
        bool, typer.Option(help="send the alerts as resolved (the sample's, or each alert of FILE)")
    ] = False,
) -> None:
    """Send a sample (or the given) Alertmanager payload to the running API."""
    from service.fire import FireError, load_payload  # noqa: PLC0415
    from service.fire import fire as do_fire  # noqa: PLC0415

    settings = _settings()
    try:
        answer = do_fire(settings, load_payload(file, resolve=resolve, state_dir=settings.data_dir))
    except (FireError, ValueError) as err:
        typer.echo(f"medic fire: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(
        f"accepted {answer['accepted']} alert(s) into {', '.join(answer['incidents']) or 'no incident'}"
    )
    for incident in answer["incidents"]:
        typer.echo(f"  API:         http://{settings.api_host}:{settings.api_port}/incidents/{incident}")
        typer.echo(f"  Temporal UI: {settings.workflow_url(incident)}")


def main() -> None:
    app(prog_name="medic")
    sys.exit(0)
