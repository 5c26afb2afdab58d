"""The tenant settings (Grafana Mimir, Cortex: ``X-Scope-OrgID``) refuse what Mimir refuses, at start,
with the reason; and a 401 ``no org id`` says what to change, whether the tenant is set or not."""

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from medic.ports import PermanentError
from service.prometheus import prometheus
from service.settings import Settings
from tests.doubles.prometheus import PrometheusAlertsDouble


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **values)


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
