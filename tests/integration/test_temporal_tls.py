"""Medic against a TLS-secured Temporal: the dev server behind Debian's nginx terminating TLS (mTLS with
a test CA, or an API key checked as Temporal Cloud's is sent: `authorization: Bearer <key>`). The real
connection code, the real worker and API, and `medic setup` as a user runs it."""

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from service.devserver import DevServer
from service.runner import run_until_stopped
from service.settings import Settings
from service.temporal import TemporalConnectError, connect
from tests.conftest import require_binary
from tests.integration.test_webhook_to_incident import fresh_payload
from tests.support.shop import SHOP_YAML
from tests.support.stack import TOKEN, free_port, running_dev_server, wait_until
from tests.support.tlsproxy import SERVER_NAME, Pki, TlsProxy, make_pki, tls_proxy
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    require_binary("temporal")
    async with running_dev_server(tmp_path_factory.mktemp("temporal") / "temporal.sqlite") as running:
        yield running


@pytest.fixture(scope="module")
def proxy(server: DevServer, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    with tls_proxy(server.address, pki, tmp_path_factory.mktemp("nginx")) as running:
        yield running


def mtls(proxy: TlsProxy, pki: Pki, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "temporal_address": proxy.mtls_address,
        "temporal_tls": True,
        "temporal_tls_server_name": SERVER_NAME,
        "temporal_tls_ca": pki.ca,
        "temporal_tls_cert": pki.client_cert,
        "temporal_tls_key": pki.client_key,
    }
    return Settings(_env_file=None, **{**base, **values})


async def reachable(client: Client) -> bool:
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    return await client.service_client.check_health()


async def test_mtls_both_ways(proxy: TlsProxy, pki: Pki) -> None:
    assert await reachable(await connect(mtls(proxy, pki)))


async def test_no_client_certificate_is_refused(proxy: TlsProxy, pki: Pki) -> None:
    with pytest.raises(TemporalConnectError) as refused:
        await connect(mtls(proxy, pki, temporal_tls_cert=None, temporal_tls_key=None))
    assert "refused the client certificate" in str(refused.value)
    assert proxy.mtls_address in str(refused.value)


async def test_unknown_client_certificate_is_refused(proxy: TlsProxy, pki: Pki) -> None:
    settings = mtls(
        proxy, pki, temporal_tls_cert=pki.rogue_client_cert, temporal_tls_key=pki.rogue_client_key
    )
    with pytest.raises(TemporalConnectError, match="refused the client certificate"):
        await connect(settings)

    async def nginx_says_why() -> bool:  # the proxy's own reason, for the record
        return "client SSL certificate verify error" in proxy.error_log.read_text()

    await wait_until(nginx_says_why, timeout=5, what="nginx to log the refused certificate")


async def test_server_signed_by_another_ca_is_refused(proxy: TlsProxy, pki: Pki) -> None:
    with pytest.raises(TemporalConnectError, match=r"not signed by a CA Medic trusts.*MEDIC_TEMPORAL_TLS_CA"):
        await connect(mtls(proxy, pki, temporal_tls_ca=pki.rogue_ca))


async def test_wrong_server_name_is_refused(proxy: TlsProxy, pki: Pki) -> None:
    with pytest.raises(TemporalConnectError, match="MEDIC_TEMPORAL_TLS_SERVER_NAME"):
        await connect(mtls(proxy, pki, temporal_tls_server_name="elsewhere.test"))


def api_key_settings(proxy: TlsProxy, pki: Pki, key: str) -> Settings:
    return Settings(
        _env_file=None,
        temporal_address=proxy.api_key_address,
        temporal_tls_server_name=SERVER_NAME,
        temporal_tls_ca=pki.ca,
        temporal_api_key=SecretStr(key),
    )


async def test_api_key_is_sent_as_a_bearer_header(proxy: TlsProxy, pki: Pki) -> None:
    assert await reachable(await connect(api_key_settings(proxy, pki, proxy.api_key)))


async def test_wrong_api_key_is_refused(proxy: TlsProxy, pki: Pki) -> None:
    with pytest.raises(
        TemporalConnectError, match=r"refused the credentials.*MEDIC_TEMPORAL_API_KEY"
    ) as refused:
        await connect(api_key_settings(proxy, pki, "not-the-key"))
    assert "not-the-key" not in str(refused.value)


async def test_plain_client_against_tls_is_told_to_turn_tls_on(proxy: TlsProxy) -> None:
    with pytest.raises(TemporalConnectError, match="MEDIC_TEMPORAL_TLS=true"):
        await connect(Settings(_env_file=None, temporal_address=proxy.mtls_address))


async def test_worker_and_api_through_mtls_open_an_incident(
    proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(SHOP_YAML)
    settings = mtls(
        proxy,
        pki,
        api_port=free_port(),
        task_queue="medic-tls-test",
        data_dir=tmp_path,
        webhook_token=SecretStr(TOKEN),
        catalog=catalog,
        resolve_quiet_seconds=600,
    )
    client = await connect(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(settings, client, api=True, worker=True, stop=stop))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=settings.api_url, headers=headers, timeout=30) as http:

            async def api_up() -> bool:
                if task.done():
                    task.result()
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(api_up, timeout=30, what="the API")
            assert (await http.get("/readyz")).status_code == 200
            response = await http.post("/webhooks/alertmanager", json=fresh_payload())
            assert response.status_code == 200, response.text
            (incident_id,) = response.json()["incidents"]

            async def incident_shown() -> bool:
                # The detail is the worker's answer to a query: it proves the worker's side too.
                detail = await http.get(f"/incidents/{incident_id}")
                return detail.status_code == 200 and bool(detail.json()["timeline"])

            await wait_until(incident_shown, timeout=60, what=f"{incident_id} through the TLS proxy")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


# `medic setup`, on a namespace without Medic's search attributes, through the same mTLS proxy.


@pytest.fixture(scope="module")
async def bare_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    require_binary("temporal")
    server = DevServer(
        host="127.0.0.1",
        port=free_port(),
        ui_port=None,
        db_file=None,
        namespace="medic-conflict",  # created besides `default`
        search_attributes=False,
    )
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bare_proxy(
    bare_server: DevServer, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsProxy]:
    with tls_proxy(bare_server.address, pki, tmp_path_factory.mktemp("nginx-bare")) as running:
        yield running


def medic_setup(
    proxy: TlsProxy, pki: Pki, cwd: Path, *, command: str = "setup", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIC_", "TEMPORAL_"))}
    environment.update(
        MEDIC_TEMPORAL_ADDRESS=proxy.mtls_address,
        MEDIC_TEMPORAL_TLS="true",
        MEDIC_TEMPORAL_TLS_SERVER_NAME=SERVER_NAME,
        MEDIC_TEMPORAL_TLS_CA=str(pki.ca),
        MEDIC_TEMPORAL_TLS_CERT=str(pki.client_cert),
        MEDIC_TEMPORAL_TLS_KEY=str(pki.client_key),
    )
    environment.update(env)
    return subprocess.run(
        [str(require_binary("medic")), command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_setup_registers_the_search_attributes_and_is_safe_to_rerun(
    bare_proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    first = medic_setup(bare_proxy, pki, tmp_path)
    assert first.returncode == 0, first.stderr
    for key in SEARCH_ATTRIBUTES:
        assert f"registered search attribute {key.name} in namespace default" in first.stdout
    client = await connect(mtls(bare_proxy, pki))
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in SEARCH_ATTRIBUTES:
        assert listed.custom_attributes[key.name] == key.indexed_value_type.value

    again = medic_setup(bare_proxy, pki, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "registered search attribute" not in again.stdout
    assert (
        f"{len(SEARCH_ATTRIBUTES)} search attribute(s) already registered with the right type" in again.stdout
    )


async def test_setup_refuses_a_search_attribute_of_another_type(
    bare_proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    client = await connect(mtls(bare_proxy, pki, temporal_namespace="medic-conflict"))
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="medic-conflict",
            search_attributes={"MedicImpact": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    done = medic_setup(bare_proxy, pki, tmp_path, MEDIC_TEMPORAL_NAMESPACE="medic-conflict")
    assert done.returncode == 1
    assert "MedicImpact is Keyword, Medic needs Double" in done.stderr
    assert "Traceback" not in done.stderr


def medic_worker(proxy: TlsProxy, pki: Pki, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``medic worker`` as a user starts it, expected to stop on its own before it polls."""
    repo = Path(__file__).resolve().parents[2]
    files = {
        "MEDIC_CATALOG": str(repo / "catalog.yaml"),
        "MEDIC_ROUTING": str(repo / "routing.yaml"),
        "MEDIC_RUNBOOKS_DIR": str(repo / "runbooks"),
        "MEDIC_DATA_DIR": str(cwd / "data"),
        "MEDIC_WORKER_METRICS_PORT": "0",
    }
    return medic_setup(proxy, pki, cwd, command="worker", **files, **env)


async def test_a_worker_does_not_start_on_a_search_attribute_it_cannot_write(
    bare_proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    """An upsert of a search attribute of another type (or a missing one) would fail every incident's
    workflow task, over and over: the worker says so and stops before it takes any."""
    client = await connect(mtls(bare_proxy, pki, temporal_namespace="medic-conflict"))
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="medic-conflict")
    )
    if "MedicImpact" not in listed.custom_attributes:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="medic-conflict",
                search_attributes={"MedicImpact": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            )
        )
    done = medic_worker(bare_proxy, pki, tmp_path, MEDIC_TEMPORAL_NAMESPACE="medic-conflict")
    assert done.returncode == 2, done.stderr
    assert "refusing to start the worker" in done.stderr
    assert "MedicImpact is Keyword, Medic needs Double" in done.stderr
    assert "Traceback" not in done.stderr


async def test_setup_names_a_missing_namespace(bare_proxy: TlsProxy, pki: Pki, tmp_path: Path) -> None:
    done = medic_setup(bare_proxy, pki, tmp_path, MEDIC_TEMPORAL_NAMESPACE="no-such-namespace")
    assert done.returncode == 1
    assert "'no-such-namespace' does not exist" in done.stderr
    assert "Traceback" not in done.stderr


async def test_setup_refuses_a_key_without_its_certificate(
    bare_proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    done = medic_setup(bare_proxy, pki, tmp_path, MEDIC_TEMPORAL_TLS_CERT="")
    assert done.returncode == 2, done.stderr
    assert "MEDIC_TEMPORAL_TLS_KEY is set without MEDIC_TEMPORAL_TLS_CERT" in done.stderr


async def test_setup_with_a_refused_certificate_says_so(
    bare_proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    done = medic_setup(
        bare_proxy,
        pki,
        tmp_path,
        MEDIC_TEMPORAL_TLS_CERT=str(pki.rogue_client_cert),
        MEDIC_TEMPORAL_TLS_KEY=str(pki.rogue_client_key),
    )
    assert done.returncode == 1
    assert "refused the client certificate" in done.stderr
    assert "Traceback" not in done.stderr


async def test_setup_from_a_temporal_cli_profile(proxy: TlsProxy, pki: Pki, tmp_path: Path) -> None:
    """MEDIC_TEMPORAL_PROFILE: the connection from temporal.toml, as the `temporal` CLI keeps it."""
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""[profile.medic]
address = "{proxy.api_key_address}"
namespace = "default"
api_key = "{proxy.api_key}"
[profile.medic.tls]
server_name = "{SERVER_NAME}"
server_ca_cert_path = "{pki.ca}"
"""
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIC_", "TEMPORAL_"))}
    environment.update(MEDIC_TEMPORAL_PROFILE="medic", TEMPORAL_CONFIG_FILE=str(config))
    done = subprocess.run(
        [str(require_binary("medic")), "setup"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "already registered with the right type" in done.stdout  # this dev server has them


# The Helm chart's own wiring: its TLS values, its Secret mounted where its settings point, its worker
# and setup Job commands, through the mTLS proxy.


async def test_the_charts_worker_and_setup_job_connect_through_mtls(
    proxy: TlsProxy, pki: Pki, tmp_path: Path
) -> None:
    from tests.deploy.test_chart_runs import Pod  # noqa: PLC0415 - needs the chart's test tooling
    from tests.deploy.test_helm_chart import RELEASE, ROOT, named, objects_of, render_templates  # noqa: PLC0415

    values = {
        "temporal": {
            "address": proxy.mtls_address,
            "namespace": "default",
            "tls": {"enabled": True, "serverName": SERVER_NAME, "existingSecret": "temporal-mtls"},
        },
        "secret": {"values": {"MEDIC_WEBHOOK_TOKEN": TOKEN}},
        "worker": {"metricsPort": free_port()},
        "setup": {"enabled": True},
        "config": {
            "catalog": (ROOT / "catalog.yaml").read_text(),
            "routing": (ROOT / "routing.yaml").read_text(),
        },
    }
    objs = objects_of(render_templates(values))
    worker = Pod(objs, f"{RELEASE}-worker", tmp_path / "worker")
    mounted = worker.mounts["/etc/medic/temporal-tls"]  # the Secret temporal-mtls, as Kubernetes lays it out
    for name, source in (("ca.crt", pki.ca), ("tls.crt", pki.client_cert), ("tls.key", pki.client_key)):
        (mounted / name).write_bytes(source.read_bytes())

    (job,) = named(objs, "Job", f"{RELEASE}-setup")["spec"]["template"]["spec"]["containers"]
    setup = subprocess.run(
        worker.command(job),
        env=worker.env(job),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "already registered with the right type" in setup.stdout  # the dev server has them

    (container,) = worker.spec["containers"]
    env = worker.env(container)
    assert env["MEDIC_TEMPORAL_TLS_CERT"] == str(mounted / "tls.crt")
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            worker.command(container), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        probe = container["readinessProbe"]["httpGet"]
        url = f"http://127.0.0.1:{worker.port(container, probe['port'])}{probe['path']}"
        async with httpx.AsyncClient(timeout=5) as http:

            async def ready() -> bool:
                assert proc.poll() is None, log.read_text()
                try:
                    return (await http.get(url)).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(ready, timeout=60, what="the chart's worker, connected through mTLS")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
