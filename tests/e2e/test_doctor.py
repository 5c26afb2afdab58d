"""``medic doctor`` against the real parts: the Temporal dev server, the real Prometheus scraping a test
target, the real Alertmanager, and Mimir's front door (tests/doubles/mimir.py) before that Prometheus.
It says what answers, each scan's series now and what is wrong with them, and exits 1 on an error."""

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.doctor import Finding, diagnose
from service.settings import Settings
from tests.conftest import require_binary
from tests.doubles.mimir import MimirGateway
from tests.support.promstack import metrics_target, running_alertmanager, running_prometheus
from tests.support.stack import running_dev_server, wait_until

pytestmark = pytest.mark.e2e

MEDIC = str(require_binary("medic"))
GAUGE = "medic_e2e_doctor_depth"
SCANS = f"""
scans:
  - name: depth
    query: '{GAUGE}'
  - name: summed
    query: 'sum({GAUGE})'
  - name: nothing-yet
    query: 'rate(medic_e2e_never_total[5m])'
"""


def _doctor(env: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """``medic doctor`` as a person runs it, with ``env`` for its settings."""
    return subprocess.run(
        [MEDIC, "doctor", "--timeout", "5"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _lines(found: list[Finding]) -> list[str]:
    return [str(f) for f in found]


async def test_doctor_says_what_answers_and_what_each_scan_sees(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "anomaly.yaml").write_text(SCANS)
    am_config: dict[str, Any] = {"route": {"receiver": "medic"}, "receivers": [{"name": "medic"}]}
    with metrics_target() as target:
        target.set(GAUGE, {"service": "checkout"}, 3.0)
        target.set(GAUGE, {"service": "cart"}, 5.0)
        prom_config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": "doctor", "static_configs": [{"targets": [target.address]}]}],
        }
        async with (
            running_dev_server(tmp_path / "temporal.db") as temporal,
            running_prometheus(prom_config) as prom,
            running_alertmanager(am_config) as am,
            httpx.AsyncClient(base_url=prom.url) as direct,
        ):

            async def scraped() -> bool:
                found = await direct.get("/api/v1/query", params={"query": GAUGE})
                return len(found.json()["data"]["result"]) == 2

            await wait_until(scraped, timeout=30, what="Prometheus to scrape the gauges")
            values: dict[str, Any] = {
                "temporal_address": f"127.0.0.1:{temporal.port}",
                "catalog": tmp_path / "catalog.yaml",
                "prometheus_url": prom.url,
                "alertmanager_url": am.url,
                "runbooks_dir": tmp_path / "no-runbooks",
            }
            (tmp_path / "no-runbooks").mkdir()
            said: list[Finding] = []
            found = await diagnose(
                Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **values), say=said.append
            )
            assert said == found  # each said as it was found
            lines = _lines(found)
            levels = ["ok", "ok", "ok", "warn", "warn", "ok", "ok", "warn", "warn", "warn", "ok"]
            assert [f.level for f in found] == levels, lines
            temporal_line, prom_line, depth, summed, nothing, am_line, silences, slack, pager, jira, kube = (
                lines
            )
            assert temporal_line == (
                f"ok    Temporal 127.0.0.1:{temporal.port}, namespace default, plain gRPC (no TLS): "
                "reachable; Medic's search attributes registered, with their types"
            )
            assert prom_line == f"ok    Prometheus {prom.url}: a Prometheus API 2.42.0+ds answers queries"
            assert depth == "ok    scan depth: 2 series now"
            assert summed.startswith("warn  scan summed: 1 series now: 1 without the label 'service'")
            assert nothing.startswith("warn  scan nothing-yet: no series now")
            assert am_line.startswith(f"ok    Alertmanager {am.url}: Alertmanager ") and "answers" in am_line
            assert silences == f"ok    Alertmanager {am.url} silences: readable (0 held)"
            assert slack == "warn  Slack: MEDIC_SLACK_BOT_TOKEN is not set: no Slack messages"
            assert pager.startswith("warn  Pager: no PagerDuty routing key or Opsgenie API key is set")
            assert jira == "warn  Jira: MEDIC_JIRA_URL is not set: no Jira issues"
            assert kube == "ok    Kubernetes: no runbooks: nothing to act with"

            # A scan query a run cannot ask (a range vector: an instant query takes it, a range refuses
            # it), credentials and a token in the URLs, a CA file that is none: each said, none shown.
            (tmp_path / "anomaly.yaml").write_text(f"scans:\n  - name: ranged\n    query: '{GAUGE}[5m]'\n")
            (tmp_path / "ca.pem").write_text("not a certificate\n")
            secret = "S3cretPassw0rd"
            hostile = {
                **values,
                "prometheus_url": prom.url.replace("http://", f"http://medic:{secret}@")
                + f"?token=tok{secret}",
                "alertmanager_url": am.url.replace("http://", f"http://medic:{secret}@"),
                "alertmanager_ca_file": tmp_path / "ca.pem",
            }
            found = await diagnose(Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **hostile))
            lines = _lines(found)
            assert not [line for line in lines if secret in line], lines
            [ranged] = [line for line in lines if line.startswith("error scan ranged")]
            assert "invalid expression type" in ranged and "range vector" in ranged, ranged
            assert lines[1].startswith(f"ok    Prometheus {prom.url} (and its query): a Prometheus API")
            [broken] = [line for line in lines if line.startswith("error Alertmanager")]
            assert broken.startswith(f"error Alertmanager {am.url}: cannot be set up: SSLError")

            # A receiver no route sends to; Mimir behind its chart's gateway without the tenant (every
            # query succeeds, on 'anonymous'); the command's own output and exit status.
            (tmp_path / "anomaly.yaml").write_text(SCANS)
            chart = MimirGateway(prometheus=prom.url, tenants=("team-a",), default_tenant="anonymous")
            plain = MimirGateway(prometheus=prom.url, tenants=("team-a",))
            with chart.serve() as url, plain.serve() as plain_url:
                mimir = {**values, "prometheus_url": f"{url}/prometheus", "alertmanager_receiver": "medic-x"}
                found = await diagnose(Settings(_env_file=None, webhook_token=SecretStr("t" * 32), **mimir))
                told = _lines(found)
                [mimir_line] = [
                    line for line in told if line.startswith(f"warn  Prometheus {url}/prometheus")
                ]
                assert "Grafana Mimir 2.15.0 answers queries without MEDIC_PROMETHEUS_TENANT" in mimir_line
                assert "behind its Helm chart's gateway, queries read the tenant 'anonymous'" in mimir_line
                assert any(
                    "no route sends to a receiver MEDIC_ALERTMANAGER_RECEIVER ('medic-x')" in s for s in told
                )
                # the scans see nothing through 'anonymous'
                assert [s.split(":")[0] for s in told if s.startswith("warn  scan")] == [
                    "warn  scan depth",
                    "warn  scan summed",
                    "warn  scan nothing-yet",
                ]
                env = {
                    **os.environ,
                    "MEDIC_WEBHOOK_TOKEN": "t" * 32,
                    "MEDIC_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal.port}",
                    "MEDIC_CATALOG": str(tmp_path / "catalog.yaml"),
                    "MEDIC_PROMETHEUS_URL": f"{url}/prometheus",
                    "MEDIC_PROMETHEUS_TENANT": "team-a",
                    "MEDIC_ALERTMANAGER_URL": am.url,
                    "MEDIC_LOG_JSON": "false",
                    "MEDIC_RUNBOOKS_DIR": str(tmp_path / "no-runbooks"),
                }
                done = _doctor(env)
                assert done.returncode == 0, done.stdout + done.stderr
                assert (
                    f"ok    Prometheus {url}/prometheus: Grafana Mimir 2.15.0 answers queries, tenant team-a"
                    in done.stdout
                )
                assert "ok    scan depth: 2 series now" in done.stdout
                # the scans' two, the Alertmanager without a tenant beside a Prometheus with one, no Slack,
                # no Jira
                assert done.stdout.rstrip().endswith("0 error(s), 6 warning(s)")  # the pager's among them
                assert (
                    "warn  settings: MEDIC_PROMETHEUS_TENANT is set and MEDIC_ALERTMANAGER_TENANT"
                    in done.stdout
                )
                assert "WARNING" not in done.stderr  # said once, in its line
                # A Mimir with no gateway in front refuses without the tenant: an error, exit 1.
                env["MEDIC_PROMETHEUS_TENANT"] = ""
                env["MEDIC_PROMETHEUS_URL"] = f"{plain_url}/prometheus"
                failed = _doctor(env)
                assert failed.returncode == 1, failed.stdout + failed.stderr
                [refused] = [
                    line for line in failed.stdout.splitlines() if line.startswith("error Prometheus")
                ]
                assert "Grafana Mimir 2.15.0 answers, but a query failed" in refused
                assert "(401): no org id; " in refused and "set MEDIC_PROMETHEUS_TENANT" in refused
                # its scans fail the same way, each on its line
                assert failed.stdout.count("error scan ") == 3
