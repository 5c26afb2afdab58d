"""Running the API and/or the worker in one event loop until asked to stop."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Generator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server
from temporalio.client import Client

from medic.catalog import Catalog
from medic.redact import register_secrets
from medic.routing import RoutingPolicy
from service.api import create_app
from service.chat.authz import Authorizer
from service.chat.endpoint import SlackEndpoint
from service.chat.names import SlackNames
from service.chat.runner import ChatRunner
from service.chat.verify import SlackVerifier
from service.config_files import load_catalog_file, load_routing_file
from service.control import Controls
from service.heartbeats import HeartbeatSink, HeartbeatsReader, keep_retiring, retire_gone
from service.incidents import TemporalIncidentReader
from service.ingest import CoalescingSink, MergeRedirects, TemporalIncidentSink
from service.loop import freeze_startup_objects
from service.metrics import record_build_info
from service.owners import subject_lookup
from service.people import IncidentPeople
from service.postmortems import Postmortems
from service.prometheus import alertmanager_silences
from service.readiness import TemporalReadiness
from service.scans import ScansReader, start_scans
from service.settings import Settings, unknown_settings
from service.setup import ensure_search_attributes
from service.telemetry import SdkMetrics, sdk_metrics_url
from service.temporal_tls import tls_files, until_tls_files_change
from service.worker import build_worker, learning_loop

__all__ = ["TLS_RENEWED", "ApiServer", "build_api", "drain_api", "run_until_stopped"]

log = logging.getLogger(__name__)

TLS_RECHECK_SECONDS = 60.0  # how often the Temporal TLS files are looked at for a renewal
TLS_RENEWED = "tls-renewed"  # run_until_stopped's answer when a renewal stopped it


def build_api(
    settings: Settings,
    client: Client,
    catalog: Catalog | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    ready = TemporalReadiness(client, settings.temporal_namespace)
    register_secrets(settings.secret_values())
    sink = CoalescingSink(
        TemporalIncidentSink(
            client,
            settings,
            redirects=MergeRedirects(client, rpc_timeout=settings.temporal_rpc_timeout_seconds),
        ),
        window=settings.ingest_batch_window_ms / 1000,
        max_bytes=settings.max_signal_bytes,
        deadline=settings.temporal_rpc_timeout_seconds,
    )
    catalog = catalog if catalog is not None else load_catalog_file(settings.catalog)
    policy = load_routing_file(settings.routing_file, catalog)
    reader = TemporalIncidentReader(client, settings)
    controls = Controls(client, settings)
    postmortems = Postmortems(settings, reader)
    app = create_app(
        settings,
        catalog=catalog,
        sink=sink,
        reader=reader,
        ready=ready,
        registry=registry,
        controls=controls,
        postmortems=postmortems,
        people=IncidentPeople(client),
        owners=subject_lookup(settings),
        slack_endpoint=build_slack_endpoint(
            settings,
            client,
            catalog,
            reader=reader,
            controls=controls,
            postmortems=postmortems,
            policy=policy,
        ),
        learning=policy.learning,  # GET /insights says which demotions Medic applies
        beats=HeartbeatSink(client, settings),
        heartbeats=policy.heartbeats,
        ignored=policy.ignore,
    )
    app.state.scans = ScansReader(client, settings)  # GET /anomalies/scans: the schedules' next runs
    app.state.heartbeats = HeartbeatsReader(client, settings)  # GET /heartbeats
    return app


def build_slack_endpoint(
    settings: Settings,
    client: Client,
    catalog: Catalog,
    *,
    reader: TemporalIncidentReader,
    controls: Controls,
    postmortems: Postmortems,
    policy: RoutingPolicy | None = None,
) -> SlackEndpoint | None:
    """Slack commands and buttons, when a signing secret is configured."""
    if settings.slack_signing_secret is None:
        return None
    if policy is None:
        policy = load_routing_file(settings.routing_file, catalog)
    members = None
    names = SlackNames(None)  # without a token: the names Slack sends with each request
    if settings.slack_bot_token is not None:
        from activities.adapters.slack import SlackChat  # noqa: PLC0415

        token = settings.slack_bot_token.get_secret_value()
        members = SlackChat(token, base_url=settings.slack_base_url).usergroup_members
        # Who people are by name: asked briefly, never retried in place (the command does not wait on it).
        names = SlackNames(
            SlackChat(token, base_url=settings.slack_base_url, timeout=2, rate_limit_retries=0).display_name
        )
    silences = alertmanager_silences(settings)
    runner = ChatRunner(
        client=client,
        settings=settings,
        reader=reader,
        controls=controls,
        authorizer=Authorizer(policy.access, members=members),
        silences=silences,
        postmortem=postmortems.for_slack,
        services=[name for service in catalog.services for name in (service.name, *service.aliases)],
        learning=policy.learning,
        names=names,
    )
    return SlackEndpoint(
        verifier=SlackVerifier(settings.slack_signing_secret.get_secret_value()),
        runner=runner,
        inline_seconds=settings.slack_inline_seconds,
        response_url_prefixes=settings.slack_response_url_prefixes,
    )


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process's runner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def api_server(settings: Settings, app: FastAPI) -> ApiServer:
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    return ApiServer(config)


async def drain_api(ready: object, *, seconds: float, hurry: asyncio.Event) -> None:
    """Before the API stops listening: /readyz answers 503 and every request is still served, for
    ``seconds`` (or until ``hurry``). Kubernetes takes a terminating pod out of its Service's endpoints
    while the pod gets SIGTERM, not before; until every node's proxy and the Ingress have caught up, new
    connections still come here. uvicorn closed its socket at once: they were refused (Alertmanager
    retries, Grafana does not, nor does Slack a slash command)."""
    if seconds <= 0:
        return
    if isinstance(ready, TemporalReadiness):
        ready.stopping()
    log.info("stopping: /readyz answers 503, requests are still served for %gs (again to stop now)", seconds)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hurry.wait(), timeout=seconds)


async def _stop_on_renewal(files: list[Path], stop: asyncio.Event) -> None:
    changed = await until_tls_files_change(files, every=TLS_RECHECK_SECONDS)
    log.warning(
        "%s changed on disk (a renewed certificate?): stopping as on SIGTERM, to be started again with it "
        "(the Temporal connection reads its TLS files only at start)",
        changed,
    )
    stop.set()


async def run_until_stopped(
    settings: Settings,
    client: Client,
    *,
    api: bool,
    worker: bool,
    stop: asyncio.Event | None = None,
    freeze_gc: bool = False,
    quick_start: bool = False,
) -> str | None:
    """Serve until SIGINT/SIGTERM (or ``stop``), then drain: the API stops taking requests
    first, the worker finishes in-flight tasks. :data:`TLS_RENEWED` when it stopped because its Temporal
    TLS files changed (the CLI exits non-zero then, so any supervisor starts it again), else None."""
    stop = stop or asyncio.Event()
    hurry = asyncio.Event()  # a second signal: no more waiting for the API's drain
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tasks: list[asyncio.Task[None]] = []
    learner: asyncio.Task[None] | None = None
    janitor: asyncio.Task[None] | None = None  # retires heartbeats whose rule is gone (service.heartbeats)
    for line in unknown_settings(os.environ):
        log.warning("%s", line)
    registry = CollectorRegistry()  # one per process: the API's /metrics shows the worker's too
    record_build_info(registry)
    sdk_metrics = sdk_metrics_url(client)
    if sdk_metrics is not None:  # the Temporal SDK's own (service/telemetry.py)
        registry.register(SdkMetrics(sdk_metrics))
    app = build_api(settings, client, registry=registry) if api else None
    server = api_server(settings, app) if app is not None else None
    temporal_worker = None
    policy = None
    learning = None  # the worker's learning loop (service.insights), when a team opted in
    if worker:
        policy = load_routing_file(settings.routing_file, load_catalog_file(settings.catalog))
        learning = learning_loop(client, settings, policy)
        temporal_worker = build_worker(
            client, settings, registry=registry, policy=policy, learning=learning, quick_start=quick_start
        )
    if worker and not api and settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.api_host, registry=registry)
        log.info("worker metrics on http://%s:%s/metrics", settings.api_host, settings.worker_metrics_port)
    if freeze_gc:  # a process of its own (not a test run, whose objects come and go)
        freeze_startup_objects()
    if temporal_worker is not None:
        added = await ensure_search_attributes(client, settings)  # SetupError: the worker does not start
        if added:
            log.info("registered search attributes %s in %s", ", ".join(added), settings.temporal_namespace)
        await start_scans(client, settings)  # the anomaly scans' schedules, to match anomaly.yaml
        if policy is not None:  # heartbeats whose rule is gone would page as outages until forgotten
            await retire_gone(client, settings, policy)
            janitor = asyncio.create_task(keep_retiring(client, settings, policy), name="heartbeats")
        tasks.append(asyncio.create_task(temporal_worker.run(), name="worker"))
        if learning is not None:  # runs until the worker stops; it never ends by itself
            learner = asyncio.create_task(learning.run(), name="learning")
    if server is not None and app is not None:
        tasks.append(asyncio.create_task(server.serve(), name="api"))
        log.info("Medic API on http://%s:%s", settings.api_host, settings.api_port)
        with contextlib.suppress(Exception):  # said now, not at the first probe: a namespace not there
            await app.state.deps.ready()
    files = tls_files(settings)
    renewal = (  # a renewed client certificate is read only at start: stop, to be started again
        asyncio.create_task(_stop_on_renewal(files, stop), name="tls-files") if files else None
    )
    stopper = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and t.exception() is not None]
    if app is not None and not failed:
        await drain_api(app.state.deps.ready, seconds=settings.api_drain_seconds, hurry=hurry)
    if server is not None:
        server.should_exit = True
    slack = app.state.deps.slack if app is not None else None
    if slack is not None:
        # Slack was told "working on it": let those answers go out (the worker is still here for them).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slack.drain(), timeout=10)
    if temporal_worker is not None and temporal_worker.is_running:
        await temporal_worker.shutdown()
    stopper.cancel()
    background = [t for t in (learner, janitor, renewal) if t is not None]
    for task in background:
        task.cancel()
    await asyncio.gather(*tasks, *background, return_exceptions=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    if failed:
        raise failed[0].exception() or RuntimeError("a service stopped")
    renewed = renewal is not None and renewal.done() and not renewal.cancelled()
    return TLS_RENEWED if renewed else None
