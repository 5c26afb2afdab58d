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

# `medic api` / `medic worker` stopped, cleanly, because its Temporal TLS files changed (a renewed client
# certificate, read only at start): EX_TEMPFAIL, so that a supervisor starts it again with them.
EXIT_TLS_RENEWED = 75

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


def _valid_config(settings: Settings) -> None:
    """Refuse to start on a path set on purpose that is not there, or a broken catalog, with the same
    file:line messages as `medic check`."""
    from medic.yamldoc import ConfigError  # noqa: PLC0415
    from service.config_files import load_catalog_file, missing_on_purpose  # noqa: PLC0415

    if missing := missing_on_purpose(settings):
        said = "\n".join(str(p) for p in missing)
        typer.echo(f"refusing to start, a file set on purpose cannot be read:\n{said}", err=True)
        raise typer.Exit(2)
    try:
        load_catalog_file(settings.catalog)
    except ConfigError as err:
        typer.echo(f"refusing to start, the catalog has errors:\n{err}", err=True)
        raise typer.Exit(2) from err


@app.command()
def dev() -> None:
    """Temporal dev server (Web UI, persisted under MEDIC_DATA_DIR), worker and API, all in one."""
    from service.dev import main as dev_main  # noqa: PLC0415 - keep `medic --help` fast
    from service.devserver import DevServerError  # noqa: PLC0415

    settings = _settings()
    _valid_config(settings)
    try:
        dev_main(settings)
    except DevServerError as err:
        typer.echo(f"medic dev: {err}", err=True)
        raise typer.Exit(1) from err


@app.command()
def api() -> None:
    """The HTTP API, connected to an existing Temporal. Requires MEDIC_WEBHOOK_TOKEN."""
    settings = _settings()
    if settings.webhook_token is None or not settings.webhook_token.get_secret_value():
        typer.echo(
            "refusing to start: MEDIC_WEBHOOK_TOKEN is not set (webhooks would be open to anyone)", err=True
        )
        raise typer.Exit(2)
    _valid_config(settings)
    run_loop(_serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """The Temporal worker, connected to an existing Temporal."""
    settings = _settings()
    _valid_config(settings)
    run_loop(_serve(settings, api=False, worker=True))


async def _serve(settings: Settings, *, api: bool, worker: bool) -> None:
    from service.runner import TLS_RENEWED, run_until_stopped  # noqa: PLC0415
    from service.temporal import TemporalConfigError, TemporalConnectError, connect  # noqa: PLC0415
    from service.temporal_tls import with_profile  # noqa: PLC0415

    try:
        settings = with_profile(settings)  # MEDIC_TEMPORAL_PROFILE, if set
        # The API connects lazily so it can start, and answer 503, while Temporal is down.
        client = await connect(settings, lazy=api and not worker)
    except TemporalConfigError as err:
        typer.echo(f"refusing to start: {err}", err=True)
        raise typer.Exit(2) from err
    except TemporalConnectError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err
    from service.setup import SetupError  # noqa: PLC0415

    try:
        stopped = await run_until_stopped(settings, client, api=api, worker=worker, freeze_gc=True)
    except SetupError as err:
        typer.echo(f"refusing to start the worker: {err}", err=True)
        raise typer.Exit(2) from err
    if stopped == TLS_RENEWED:
        # stopped cleanly, but to be started again: a supervisor restarting on failure only (systemd's
        # Restart=on-failure) would leave it stopped after an exit 0
        raise typer.Exit(EXIT_TLS_RENEWED)


@app.command()
def setup() -> None:
    """Register Medic's search attributes in an existing Temporal namespace; safe to run again.

    Same connection settings as `medic api` (MEDIC_TEMPORAL_*: TLS, mTLS, API key). On Temporal Cloud
    the key needs namespace admin rights, or add them with the `tcld` command it prints.
    """
    from service.setup import SetupError, setup_namespace  # noqa: PLC0415
    from service.temporal import TemporalConfigError, TemporalConnectError  # noqa: PLC0415

    try:
        lines = run_loop(setup_namespace(_settings()))
    except TemporalConfigError as err:
        typer.echo(f"medic setup: {err}", err=True)
        raise typer.Exit(2) from err
    except (TemporalConnectError, SetupError) as err:
        typer.echo(f"medic setup: {err}", err=True)
        raise typer.Exit(1) from err
    for line in lines:
        typer.echo(line)


@app.command()
def check(
    catalog: Annotated[
        Path | None, typer.Option(help="the service catalog (default: MEDIC_CATALOG, else catalog.yaml)")
    ] = None,
    routing: Annotated[
        Path | None,
        typer.Option(
            help="the routing policy (default: MEDIC_ROUTING, else routing.yaml beside the catalog)"
        ),
    ] = None,
    runbooks: Annotated[
        Path | None, typer.Option(help="the runbooks folder (default: MEDIC_RUNBOOKS_DIR, else runbooks/)")
    ] = None,
    anomaly: Annotated[
        Path | None,
        typer.Option(
            help="the anomaly scans (default: MEDIC_ANOMALY, else anomaly.yaml beside the catalog, if any)"
        ),
    ] = None,
) -> None:
    """Validate the catalog, routing policy, runbooks and anomaly scans; file:line messages on errors.

    Which files: the options given, else the settings MEDIC_CATALOG, MEDIC_ROUTING, MEDIC_RUNBOOKS_DIR,
    MEDIC_ANOMALY (environment or .env), else catalog.yaml, routing.yaml beside it, runbooks/ and
    anomaly.yaml beside the catalog (none there: no scans). A file named by an option or a setting
    that does not exist is an error.
    """
    from service.config_files import check_all  # noqa: PLC0415

    chosen = {"catalog": catalog, "routing": routing, "runbooks_dir": runbooks, "anomaly": anomaly}
    given = {k: v for k, v in chosen.items() if v is not None}
    settings = _settings().model_copy(update=given)
    options = {
        "catalog": "--catalog",
        "routing": "--routing",
        "runbooks_dir": "--runbooks",
        "anomaly": "--anomaly",
    }
    checked, problems = check_all(settings, options={k: options[k] for k in given})
    for line in checked:
        typer.echo(f"ok  {line}")
    for problem in problems:
        typer.echo(str(problem), err=True)
    errors = [p for p in problems if not p.warning]
    if len(errors) < len(problems):
        typer.echo(f"{len(problems) - len(errors)} warning(s)", err=True)
    if errors:
        typer.echo(f"{len(errors)} problem(s) found", err=True)
        raise typer.Exit(1)


@app.command()
def doctor(
    timeout: Annotated[float, typer.Option(help="seconds each connection may take")] = 10.0,
) -> None:
    """Try Medic's connections as configured, now, and say what each answers; reads only.

    Temporal (the namespace, Medic's search attributes), Prometheus (what answers, the tenant, a query),
    each anomaly scan's query (its series now, the service label, native histograms), Alertmanager
    (version, a route to Medic's receiver, silences), Slack (who the token is), Jira (who Medic is,
    MEDIC_JIRA_PROJECT) and Kubernetes (what the runbooks may do there, and whether Argo CD's or Flux's
    resources may be read). Nothing is posted or filed. Exits 1 when something is wrong (an `error` line).
    """
    from service.doctor import diagnose  # noqa: PLC0415

    found = run_loop(diagnose(_settings(), timeout=timeout, say=lambda finding: typer.echo(str(finding))))
    errors = sum(1 for f in found if f.level == "error")
    warnings = sum(1 for f in found if f.level == "warn")
    typer.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)


@app.command()
def fire(
    file: Annotated[
        Path | None, typer.Argument(help="an Alertmanager webhook JSON file", exists=True, dir_okay=False)
    ] = None,
    resolve: Annotated[
        bool, typer.Option(help="send the alerts as resolved (the sample's, or each alert of FILE)")
    ] = False,
) -> None:
    """Send a sample (or the given) Alertmanager payload to the running API."""
    from service.fire import FireError, forget_sample, load_payload  # noqa: PLC0415
    from service.fire import fire as do_fire  # noqa: PLC0415

    settings = _settings()
    try:
        answer = do_fire(settings, load_payload(file, resolve=resolve, state_dir=settings.data_dir))
    except (FireError, ValueError) as err:
        typer.echo(f"medic fire: {err}", err=True)
        raise typer.Exit(1) from err
    if resolve and file is None:  # after the send: one that failed is resolved again by a retry
        forget_sample(settings.data_dir)
    typer.echo(
        f"accepted {answer['accepted']} alert(s) into {', '.join(answer['incidents']) or 'no incident'}"
    )
    for incident in answer["incidents"]:
        typer.echo(f"  API:         http://{settings.api_host}:{settings.api_port}/incidents/{incident}")
        typer.echo(f"  Temporal UI: {settings.workflow_url(incident)}")


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="an Alertmanager or Grafana webhook JSON file", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Which incident each alert of FILE would join, and why, its score and runbooks; changes nothing.

    For each alert: the incident it would join, its service and the labels that decided, its score,
    and the runbooks and bindings that would run.
    """
    import json  # noqa: PLC0415

    from medic.yamldoc import ConfigError  # noqa: PLC0415
    from service.config_files import load_catalog_file, load_routing_file, load_runbooks  # noqa: PLC0415
    from service.explain import ExplainError, explain_payload, render  # noqa: PLC0415

    settings = _settings()
    try:
        catalog = load_catalog_file(settings.catalog)
        policy = load_routing_file(settings.routing_file, catalog)
        found = explain_payload(
            file,
            catalog=catalog,
            runbooks=load_runbooks(settings.runbooks_dir),
            heartbeats=policy.heartbeats,
            ignored=policy.ignore,
            queue=settings.task_queue,
            scope=settings.cluster_scope,
            per_cluster=settings.incident_cluster_label,
        )
    except (ConfigError, ExplainError) as err:
        typer.echo(f"medic explain: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(found, indent=2) if as_json else render(found))


def main() -> None:
    app(prog_name="medic")
    sys.exit(0)


if __name__ == "__main__":  # `python -m service.cli ...`, as the console script `medic`
    main()
