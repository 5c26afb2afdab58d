"""Medic reading a multi-tenant Grafana Mimir: the real Prometheus and the real Alertmanager (Debian's)
behind a double of Mimir's front door (tests/doubles/mimir.py: its path prefixes, ``X-Scope-OrgID``,
its 401 ``no org id`` and its Alertmanager's 404 for a tenant it holds nothing for), over TLS signed by a
private CA, with an authenticating proxy's bearer token in front of Alertmanager. Everything is made
from the settings, as the worker and the API make it (service/prometheus.py)."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.feedback import Matcher
from medic.ports import PermanentError, TransientError
from service.prometheus import alertmanager_alerts, alertmanager_silences, prometheus, tenant_warnings
from service.settings import Settings
from tests.doubles.mimir import MimirGateway
from tests.support.promstack import metrics_target, running_alertmanager, running_prometheus
from tests.support.stack import wait_until
from tests.support.tlsproxy import make_pki

pytestmark = pytest.mark.e2e

GAUGE = "medic_e2e_queue_depth"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **values)


async def test_scans_and_verification_read_the_tenant_mimir_holds(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with metrics_target() as target:
        target.set(GAUGE, {"service": "checkout"}, 42.0)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": "mimir-e2e", "static_configs": [{"targets": [target.address]}]}],
        }
        async with running_prometheus(config) as prom, httpx.AsyncClient(base_url=prom.url) as direct:

            async def scraped() -> bool:
                found = await direct.get("/api/v1/query", params={"query": GAUGE})
                return bool(found.json()["data"]["result"])

            await wait_until(scraped, timeout=30, what="Prometheus to scrape the gauge")
            gateway = MimirGateway(prometheus=prom.url, tenants=("team-a",), federation=True)
            with gateway.serve(tls=(str(pki.server_cert), str(pki.server_key))) as url:
                base = {"prometheus_url": f"{url}/prometheus", "prometheus_ca_file": pki.ca}
                now = time.time()

                def read(**values: Any) -> list[Any]:
                    source = prometheus(_settings(**{**base, **values}))
                    assert source is not None
                    return source.query_range(GAUGE, start=now - 20, end=now, step=1)

                # No tenant: Mimir's own words, and what to set.
                with pytest.raises(PermanentError) as refused:
                    await asyncio.to_thread(read)
                said = str(refused.value)
                assert "Prometheus refused to run a scan's range query (401): no org id" in said
                assert "set MEDIC_PROMETHEUS_TENANT (sent as X-Scope-OrgID)" in said
                verify = prometheus(_settings(**base))
                assert verify is not None
                with pytest.raises(PermanentError, match=r"no org id; .*MEDIC_PROMETHEUS_TENANT"):
                    await asyncio.to_thread(verify.holds, f"{GAUGE} > 40")

                # The tenant: the real Prometheus's series through Mimir's prefix, as a scan reads it.
                [series] = await asyncio.to_thread(read, prometheus_tenant="team-a")
                assert series.labels["service"] == "checkout" and series.labels["job"] == "mimir-e2e"
                assert series.values and all(v == 42.0 for v in series.values)
                checked = prometheus(_settings(**base, prometheus_tenant="team-a"))
                assert checked is not None
                assert await asyncio.to_thread(checked.holds, f"{GAUGE} > 40") is True
                assert await asyncio.to_thread(checked.holds, f"{GAUGE} > 50") is False
                # Federated tenants (Mimir's tenant federation on): each series says its tenant, so a
                # scan's series keys change with it (docs/anomaly.md); a tenant holding nothing.
                [federated] = await asyncio.to_thread(read, prometheus_tenant="team-b|team-a")
                assert federated.labels == {**series.labels, "__tenant_id__": "team-a"}
                assert await asyncio.to_thread(read, prometheus_tenant="team-b") == []
                sent = [r.headers.get("x-scope-orgid") for r in gateway.requests()]
                assert sent == [None, None, "team-a", "team-a", "team-a", "team-b|team-a", "team-b"]
                assert all(r.path.startswith("/prometheus/api/v1/") for r in gateway.requests())

                # Federation off: several tenants are refused, and Medic says what to change.
                single = MimirGateway(prometheus=prom.url, tenants=("team-a",))
                with single.serve() as plain, pytest.raises(PermanentError) as several:
                    await asyncio.to_thread(
                        read, prometheus_url=f"{plain}/prometheus", prometheus_tenant="team-a|team-b"
                    )
                assert "(400): multiple org IDs present; MEDIC_PROMETHEUS_TENANT names several" in str(
                    several.value
                )
                assert "-tenant-federation.enabled=true" in str(several.value)
                # Mimir's Helm chart's gateway reads 'anonymous' for a call without a tenant: nothing is
                # refused and the scan sees no series, which Medic says at start of such a URL.
                chart = MimirGateway(prometheus=prom.url, tenants=("team-a",), default_tenant="anonymous")
                with chart.serve() as gateway_url:
                    settings = _settings(prometheus_url=f"{gateway_url}/prometheus")
                    assert await asyncio.to_thread(read, prometheus_url=settings.prometheus_url) == []
                    [warned] = tenant_warnings(settings)
                    assert (
                        "MEDIC_PROMETHEUS_TENANT is not set: a Mimir reads as the tenant 'anonymous'"
                        in warned
                    )
                    assert tenant_warnings(_settings(**base, prometheus_tenant="team-a")) == []

                # Without the private CA the certificate is refused: nothing is read.
                with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
                    await asyncio.to_thread(read, prometheus_ca_file=None, prometheus_tenant="team-a")


async def test_silences_and_held_alerts_through_mimirs_alertmanager(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    token = tmp_path / "token"
    token.write_text("proxy-secret\n")
    config: dict[str, Any] = {
        "route": {"receiver": "medic", "group_wait": "10m"},
        "receivers": [{"name": "medic"}],
    }
    async with running_alertmanager(config) as am, httpx.AsyncClient(base_url=am.url) as direct:
        gateway = MimirGateway(alertmanager=am.url, tenants=("team-a",), bearer="proxy-secret")
        with gateway.serve(tls=(str(pki.server_cert), str(pki.server_key))) as url:
            base = {
                "alertmanager_url": f"{url}/alertmanager",
                "alertmanager_ca_file": pki.ca,
                "alertmanager_bearer_token_file": token,
                "prometheus_url": "http://127.0.0.1:9",  # held alerts are asked for with Prometheus only
            }
            start, end = datetime.now(UTC), datetime.now(UTC) + timedelta(hours=1)

            async def silence(**values: Any) -> str:
                silences = alertmanager_silences(_settings(**{**base, **values}))
                assert silences is not None
                try:
                    return await silences.create(
                        [Matcher(name="service", value="cache")],
                        starts_at=start,
                        ends_at=end,
                        created_by="medic",
                        comment="from Slack",
                    )
                finally:
                    await silences.aclose()

            with pytest.raises(PermanentError) as refused:
                await silence()
            said = str(refused.value)
            assert "Alertmanager refused to create a silence (401): no org id" in said
            assert "set MEDIC_ALERTMANAGER_TENANT" in said
            with pytest.raises(
                PermanentError, match=r"not configured.*tenant 'team-b'.*MEDIC_ALERTMANAGER_TENANT"
            ):
                await silence(alertmanager_tenant="team-b")
            with pytest.raises(PermanentError, match="Unauthorized"):
                await silence(alertmanager_tenant="team-a", alertmanager_bearer_token_file=None)
            assert (await direct.get("/api/v2/silences")).json() == [], "nothing was made on the way"

            silence_id = await silence(alertmanager_tenant="team-a")
            [made] = (await direct.get("/api/v2/silences")).json()
            assert made["id"] == silence_id and made["createdBy"] == "medic"
            silences = alertmanager_silences(_settings(**base, alertmanager_tenant="team-a"))
            assert silences is not None
            assert (await silences.get(silence_id)).state == "active"
            await silences.expire(silence_id)
            assert (await silences.get(silence_id)).state == "expired"
            assert silences.link(silence_id).startswith(f"{url}/alertmanager/#/silences/")
            await silences.aclose()

            posted = await direct.post(
                "/api/v2/alerts",
                json=[{"labels": {"alertname": "QueueBacklog", "service": "checkout"}, "annotations": {}}],
            )
            assert posted.status_code == 200
            held = alertmanager_alerts(_settings(**base, alertmanager_tenant="team-a"))
            assert held is not None

            async def holds_one() -> bool:
                return len(await held.held()) == 1

            await wait_until(holds_one, timeout=15, what="Alertmanager to hold the alert for Medic")
            await held.aclose()
            seen = {
                (r.headers.get("x-scope-orgid"), r.headers.get("authorization")) for r in gateway.requests()
            }
            assert ("team-a", "Bearer proxy-secret") in seen and (None, "Bearer proxy-secret") in seen
