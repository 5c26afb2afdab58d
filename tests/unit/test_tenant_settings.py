"""The tenant settings (Grafana Mimir, Cortex: ``X-Scope-OrgID``) refuse what Mimir refuses, at start,
with the reason; and a 401 ``no org id`` says what to change, whether the tenant is set or not."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr, ValidationError

from medic.ports import PermanentError
from service.prometheus import prometheus, tenant_warnings
from service.settings import Settings
from tests.doubles.prometheus import PrometheusAlertsDouble

if TYPE_CHECKING:
    from activities.adapters.alertmanager import AlertmanagerSilences


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **values)


async def _silence(silences: "AlertmanagerSilences") -> str:
    """A silence of an hour on service=cache."""
    from medic.feedback import Matcher  # noqa: PLC0415

    now = datetime.now(UTC)
    return await silences.create(
        [Matcher(name="service", value="cache")],
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        created_by="medic",
        comment="",
    )


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"prometheus_tenant": "team a"}, "tenant 'team a' holds ' ', which Mimir does not take"),
        ({"prometheus_tenant": "team-a|"}, "tenant 'team-a|' has an empty part between its '|'s"),
        ({"prometheus_tenant": "a/b"}, "holds '/'"),
        ({"prometheus_tenant": "x" * 151}, "is 151 characters long; Mimir takes 150 at most"),
        ({"prometheus_tenant": ".."}, "tenant '..' is not a tenant Mimir takes"),
        ({"prometheus_tenant": "a|__mimir_cluster"}, "tenant '__mimir_cluster' is not a tenant Mimir takes"),
        ({"alertmanager_tenant": "a|b"}, "(several tenants federate Prometheus queries only)"),
        ({"alertmanager_tenant": "team-a\r\nX-Evil: 1"}, "holds '\\n', '\\r', ' ', ':'"),
    ],
)
def test_a_tenant_mimir_refuses_is_refused_at_start(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(**values)
    assert complaint in str(refused.value)


def test_tenants_mimir_takes_and_empty_values_are_unset() -> None:
    taken = _settings(prometheus_tenant="team-a|Prod_(eu).1*'!", alertmanager_tenant="team-a")
    assert taken.prometheus_tenant == "team-a|Prod_(eu).1*'!" and taken.alertmanager_tenant == "team-a"
    unset = _settings(
        prometheus_tenant="",
        alertmanager_tenant="",
        prometheus_bearer_token_file="",
        alertmanager_ca_file="",
    )
    assert unset.prometheus_tenant is None and unset.alertmanager_tenant is None
    assert unset.prometheus_bearer_token_file is None and unset.alertmanager_ca_file is None


def test_no_org_id_says_what_to_change() -> None:
    """Without the tenant: set it. With it: something in between dropped the header (a proxy that
    passes only the headers it knows)."""
    double = PrometheusAlertsDouble()
    with double.serve() as url:
        for tenant, words in (
            (None, "set MEDIC_PROMETHEUS_TENANT (sent as X-Scope-OrgID)"),
            (
                "team-a",
                "MEDIC_PROMETHEUS_TENANT is set: a proxy in between may drop the X-Scope-OrgID header",
            ),
        ):
            double.faults.push("http_error", status=401, body="no org id\n")
            source = prometheus(_settings(prometheus_url=url, prometheus_tenant=tenant))
            assert source is not None
            with pytest.raises(PermanentError) as refused:
                source.query_range("up", start=0, end=60, step=60)
            said = str(refused.value)
            assert said.startswith("Prometheus refused to run a scan's range query (401): no org id; ")
            assert said.endswith(words)
        # Another 401 (a proxy's own) is said as it was: no word of tenants.
        assert source is not None
        double.faults.push("http_error", status=401, body="Unauthorized")
        with pytest.raises(PermanentError) as other:
            source.query_range("up", start=0, end=60, step=60)
        assert "tenant" not in str(other.value).lower() and "(401)" in str(other.value)
        sent = [r.headers.get("x-scope-orgid") for r in double.requests("GET /api/v1/query_range")]
        assert sent == [None, "team-a", "team-a"]


def test_a_bearer_token_file_holding_no_token_is_refused_without_quoting_it(tmp_path: Path) -> None:
    """Two lines, a space, a header's name: the HTTP client refused the header with the token in its
    words, which went to the scan's last_error and the logs, as a transient error retried for ever."""
    double = PrometheusAlertsDouble()
    token = tmp_path / "token"
    with double.serve() as url:
        source = prometheus(_settings(prometheus_url=url, prometheus_bearer_token_file=token))
        assert source is not None
        for text in ("SUPERSECRET-abc\nSUPERSECRET-def", "Bearer SUPERSECRET-abc", "SUPERSECRET abc", "\n"):
            token.write_text(text)
            with pytest.raises(PermanentError) as refused:
                source.query_range("up", start=0, end=60, step=60)
            assert "holds no bearer token" in str(refused.value) and "SUPERSECRET" not in str(refused.value)
        token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZWRpYyJ9.c2lnbmF0dXJl==\n")  # a JWT, as projected
        source.query_range("up", start=0, end=60, step=60)
        [sent] = double.requests("GET /api/v1/query_range")
        assert (
            sent.headers["authorization"] == "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZWRpYyJ9.c2lnbmF0dXJl=="
        )


@pytest.mark.parametrize(
    ("values", "warned"),
    [
        (
            {"prometheus_url": "https://mimir-gateway/prometheus"},
            ["MEDIC_PROMETHEUS_URL ends in /prometheus"],
        ),
        ({"prometheus_url": "https://mimir-gateway/prometheus/", "prometheus_tenant": "a"}, []),
        ({"prometheus_url": "http://prometheus:9090"}, []),
        ({"prometheus_url": "https://thanos/prometheus-query"}, []),
        (
            {"alertmanager_url": "https://mimir-gateway/alertmanager"},
            ["MEDIC_ALERTMANAGER_URL ends in /alertmanager"],
        ),
        (
            {"alertmanager_url": "https://mimir-gateway/alertmanager", "alertmanager_tenant": "a"},
            ["MEDIC_ALERTMANAGER_TENANT is set and MEDIC_ALERTMANAGER_SILENCE_URL is not"],
        ),
        (
            {
                "alertmanager_url": "https://mimir-gateway/alertmanager",
                "alertmanager_tenant": "a",
                "alertmanager_silence_url": "https://grafana/alerting/silence/{id}/edit",
            },
            [],
        ),
        (
            {
                "prometheus_url": "https://mimir/api",
                "prometheus_tenant": "a",
                "alertmanager_url": "https://am",
            },
            ["MEDIC_PROMETHEUS_TENANT is set and MEDIC_ALERTMANAGER_TENANT is not"],
        ),
        ({"alertmanager_url": "http://alertmanager:9093"}, []),
    ],
)
def test_a_mimir_read_without_its_tenant_is_said_at_start(
    values: dict[str, Any], warned: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Mimir's Helm chart's gateway reads 'anonymous' for a call naming no tenant, and its Alertmanager
    has a fallback configuration: nothing refuses, so the worker and the API say it at start."""
    with caplog.at_level("WARNING", logger="service.prometheus"):
        said = tenant_warnings(_settings(**values))
    assert len(said) == len(warned) and all(s.startswith(w) for s, w in zip(said, warned, strict=True))
    assert [r.getMessage() for r in caplog.records] == said


async def test_mimirs_alertmanager_without_a_tenant_says_to_set_one() -> None:
    """The 404 Mimir's Alertmanager answers a tenant it has no configuration for, when no tenant was
    sent (a gateway that passes no tenant on, and no fallback configuration)."""
    from activities.adapters.alertmanager import AlertmanagerSilences  # noqa: PLC0415
    from tests.doubles.alertmanager import AlertmanagerDouble  # noqa: PLC0415

    double = AlertmanagerDouble()
    with double.serve() as url:
        silences = AlertmanagerSilences(url)
        double.faults.push("http_error", status=404, body="the Alertmanager is not configured\n")
        with pytest.raises(PermanentError) as refused:
            await _silence(silences)
        await silences.aclose()
    assert str(refused.value) == (
        "Alertmanager refused to create a silence (404): the Alertmanager is not configured: a Mimir "
        "Alertmanager, which needs the tenant whose alerts it holds: set MEDIC_ALERTMANAGER_TENANT"
    )


async def test_a_urls_own_query_is_sent_with_every_call() -> None:
    """OpenShift's thanos-querier and alertmanager-main take the namespace a tenant may read on their
    tenancy port (9092): ``https://thanos-querier.openshift-monitoring.svc:9092?namespace=shop``.
    httpx drops a base URL's query, so it was lost without a word; now every call carries it, Medic's
    own parameters win a clash, and the silence link people open carries neither it nor credentials."""
    from activities.adapters.alertmanager import AlertmanagerAlerts, AlertmanagerSilences  # noqa: PLC0415
    from tests.doubles.alertmanager import AlertmanagerDouble  # noqa: PLC0415

    prom = PrometheusAlertsDouble()
    with prom.serve() as url:
        source = prometheus(_settings(prometheus_url=f"{url}/?namespace=shop&query=ignored"))
        assert source is not None
        source.query_range("up", start=0, end=60, step=60)
        assert source.active_alerts() == []  # an instant query too
        for asked in prom.requests():
            pairs = asked.query.split("&")
            assert "namespace=shop" in pairs and "query=ignored" not in pairs
    am = AlertmanagerDouble()
    with am.serve() as url:
        silences = AlertmanagerSilences(f"http://user:pw@{url.removeprefix('http://')}?namespace=shop")
        made = await _silence(silences)
        assert silences.link(made) == f"{url}/#/silences/{made}"
        await silences.expire(made)
        await silences.aclose()
        held = AlertmanagerAlerts(f"{url}?namespace=shop", receiver="medic")
        await held.held(muted=True)
        await held.aclose()
        assert {r.route for r in am.requests()} >= {"POST /api/v2/silences", "GET /api/v2/alerts"}
        assert all("namespace=shop" in r.query.split("&") for r in am.requests())


def test_a_redirect_to_a_login_page_says_where_and_why() -> None:
    """OpenShift's oauth-proxy (thanos-querier's port 9091) or an SSO gateway answers a call without a
    token it takes with a redirect to its login page: its HTML body said nothing; where it sends does."""
    double = PrometheusAlertsDouble()
    with double.serve() as url:
        source = prometheus(_settings(prometheus_url=url))
        assert source is not None
        double.faults.push(
            "http_error",
            status=302,
            body='<a href="/oauth/start?rd=%2Fapi">Found</a>.',
            headers={"Location": "https://thanos-querier.example/oauth/start?rd=%2Fapi%2Fv1%2Fquery_range"},
        )
        with pytest.raises(PermanentError) as refused:
            source.query_range("up", start=0, end=60, step=60)
    assert str(refused.value) == (
        "Prometheus refused to run a scan's range query (302): redirected to "
        "https://thanos-querier.example/oauth/start: a login page in front (an oauth-proxy, an SSO "
        "gateway) took Medic's credentials for none: check the bearer token file or the URL's basic auth"
    )


async def test_silences_behind_a_login_page_say_so() -> None:
    """A silence asked of an Alertmanager behind a login page got its HTML page, and the JSON parse of
    it failed with a ValueError no one caught: now a PermanentError says where it was sent."""
    from activities.adapters.alertmanager import AlertmanagerSilences  # noqa: PLC0415
    from tests.doubles.alertmanager import AlertmanagerDouble  # noqa: PLC0415

    am = AlertmanagerDouble()
    with am.serve() as url:
        silences = AlertmanagerSilences(url)
        am.faults.push(
            "http_error", status=302, body="", headers={"Location": "https://sso.example/login?x=1"}
        )
        with pytest.raises(PermanentError) as refused:
            await _silence(silences)
        assert str(refused.value).startswith(
            "Alertmanager refused (302): redirected to https://sso.example/login: a login page in front"
        )
        made = await _silence(silences)
        await silences.expire(made)  # a delete answers no body
        assert (await silences.get(made)).state == "expired"
        await silences.aclose()


def test_a_url_medic_cannot_read_is_refused_at_start_without_quoting_it() -> None:
    """``http://u:pw@[bad`` raised from the start-up warnings and doctor (a traceback); a port over
    65535 from deep inside the Alertmanager client. Refused at start, in words, the URL not quoted."""
    from service.prometheus import _under  # noqa: PLC0415

    for setting, url in (
        ("prometheus_url", "http://medic:S3cret@[bad"),
        ("alertmanager_url", "http://127.0.0.1:99999"),
        ("loki_url", "http://medic:S3cret@loki:70000"),
    ):
        values: dict[str, Any] = {setting: url}
        with pytest.raises(ValidationError) as refused:
            Settings(_env_file=None, **values)
        said = [e["msg"] for e in refused.value.errors(include_input=False)]
        assert said and "is no URL Medic can read" in said[0] and "S3cret" not in said[0]
    assert _under("http://[bad/prometheus", "prometheus") is False  # (and the helper itself says no)
