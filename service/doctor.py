"""``medic doctor``: Medic's connections as configured, tried now, each said in a line: Temporal (the
namespace, Medic's search attributes), Prometheus (what answers, the tenant, a query), each anomaly
scan's query (its series now, the service label, native histograms) and Alertmanager (its version and
cluster, a route to Medic's receiver, silences readable).

It only reads: no search attribute is added, no silence made, no schedule touched. ``medic check``
validates the files without any connection (the chart's init container); this is for a person
setting Medic up, or finding why scans see nothing.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from medic.ports import PermanentError, TransientError
from medic.redact import redact
from medic.yamldoc import ConfigError
from service.config_files import load_anomaly_file
from service.prometheus import alertmanager_alerts, alertmanager_silences, prometheus, tenant_warnings
from service.settings import Settings
from service.temporal import TemporalConfigError, TemporalConnectError, connect
from service.temporal_tls import with_profile
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from activities.adapters.prometheus import PrometheusMetrics

__all__ = ["Finding", "diagnose"]

Level = Literal["ok", "warn", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    what: str
    said: str

    def __str__(self) -> str:
        return f"{self.level:<5} {self.what}: {redact(self.said)}"


async def diagnose(settings: Settings, *, timeout: float = 10.0) -> list[Finding]:
    """Every finding, in order: Temporal, Prometheus, the scans, Alertmanager."""
    found: list[Finding] = []
    found += await _temporal(settings, timeout)
    found += [Finding("warn", "settings", line) for line in tenant_warnings(settings, log_them=False)]
    source = prometheus(settings, timeout=timeout)
    found += await asyncio.to_thread(_prometheus, settings, source)
    found += await asyncio.to_thread(_scans, settings, source)
    found += await _alertmanager(settings)
    return found


async def _temporal(settings: Settings, timeout: float) -> list[Finding]:
    where = f"Temporal {settings.temporal_address}, namespace {settings.temporal_namespace}"
    try:
        settings = with_profile(settings)  # MEDIC_TEMPORAL_PROFILE, as the worker and the API read it
        client = await asyncio.wait_for(connect(settings), timeout)
        listed = await asyncio.wait_for(
            client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=settings.temporal_namespace)
            ),
            timeout,
        )
    except (TemporalConfigError, TemporalConnectError) as err:
        return [Finding("error", where, str(err))]
    except TimeoutError:
        return [Finding("error", where, f"no answer in {timeout:g} s")]
    except Exception as err:  # an RPC the server refused (permissions, no such namespace)
        return [Finding("error", where, f"{type(err).__name__}: {err}")]
    known = {**listed.system_attributes, **listed.custom_attributes}
    missing = sorted(key.name for key in SEARCH_ATTRIBUTES if key.name not in known)
    if missing:
        return [
            Finding(
                "warn",
                where,
                f"reachable; search attributes not registered: {', '.join(missing)} (the worker registers "
                "them at start where it may; else run `medic setup`)",
            )
        ]
    return [Finding("ok", where, f"reachable; Medic's {len(SEARCH_ATTRIBUTES)} search attributes registered")]


def _prometheus(settings: Settings, source: "PrometheusMetrics | None") -> list[Finding]:
    if source is None:
        return [Finding("warn", "Prometheus", "MEDIC_PROMETHEUS_URL is not set: no verification, no scans")]
    where = f"Prometheus {settings.prometheus_url}"
    out: list[Finding] = []
    try:
        info = source.build_info()
    except (PermanentError, TransientError) as err:
        info = {}
        out.append(Finding("warn", where, f"its version could not be read: {err}"))
    answers = info.get("application") or ("Prometheus" if info else "a Prometheus API")
    version = f" {info['version']}" if info.get("version") else ""
    tenant = settings.prometheus_tenant
    if "mimir" in answers.lower() and not tenant:
        out.append(
            Finding(
                "error",
                where,
                f"{answers}{version} answers, and MEDIC_PROMETHEUS_TENANT is not set: Mimir refuses ('no "
                "org id') or, behind its Helm chart's gateway, reads the tenant 'anonymous', where scans "
                "see no series",
            )
        )
        return out
    try:
        source.holds("vector(1)")
    except (PermanentError, TransientError) as err:
        out.append(Finding("error", where, f"{answers}{version} answers, but a query failed: {err}"))
        return out
    as_tenant = f", tenant {tenant}" if tenant else ""
    out.append(Finding("ok", where, f"{answers}{version} answers queries{as_tenant}"))
    return out


def _scans(settings: Settings, source: "PrometheusMetrics | None") -> list[Finding]:
    try:
        specs = load_anomaly_file(
            settings.anomaly_file, named_by="MEDIC_ANOMALY" if settings.anomaly else None
        )
    except ConfigError as err:
        return [Finding("error", "anomaly scans", f"{err} (`medic check` says more)")]
    if not specs:
        return []
    if source is None:
        return [Finding("error", "anomaly scans", f"{len(specs)} configured, and no MEDIC_PROMETHEUS_URL")]
    out: list[Finding] = []
    for spec in specs.values():
        what = f"scan {spec.name}"
        try:
            series = source.series_now(spec.query)
        except (PermanentError, TransientError) as err:
            out.append(Finding("error", what, str(err)))
            continue
        histograms = sum(1 for _, is_histogram in series if is_histogram)
        numbers = [labels for labels, is_histogram in series if not is_histogram]
        if not series:
            out.append(
                Finding(
                    "warn",
                    what,
                    "no series now: right for a query of something that has not happened (errors), else "
                    "check the metric's name, its labels and the tenant",
                )
            )
            continue
        notes = []
        if histograms:
            notes.append(
                f"{histograms} of native histograms, which no detector scores (ask for a number: "
                "histogram_quantile, histogram_count)"
            )
        if spec.service is None:
            unnamed = sum(1 for labels in numbers if not labels.get(spec.service_label))
            if unnamed:
                notes.append(
                    f"{unnamed} without the label {spec.service_label!r}, whose anomalies go to service "
                    "'unknown' (keep it in the query's by (...), or set service_label or service)"
                )
        level: Level = "warn" if notes else "ok"
        said = f"{len(series)} series now" + (": " + "; ".join(notes) if notes else "")
        out.append(Finding(level, what, said))
    return out


async def _alertmanager(settings: Settings) -> list[Finding]:
    if not settings.alertmanager_url:
        return [Finding("warn", "Alertmanager", "MEDIC_ALERTMANAGER_URL is not set: no silences from Slack")]
    where = f"Alertmanager {settings.alertmanager_url}"
    alerts = alertmanager_alerts(settings)
    silences = alertmanager_silences(settings)
    assert alerts is not None and silences is not None  # (a URL is set)
    out: list[Finding] = []
    try:
        status = await alerts.status()
        version = str((status.get("versionInfo") or {}).get("version") or "")
        cluster = str((status.get("cluster") or {}).get("status") or "")
        original = (status.get("config") or {}).get("original")
        config = _parsed(original)
        said = f"Alertmanager {version}".rstrip() + (f", cluster {cluster}" if cluster else "")
        out.append(Finding("ok", where, f"{said} answers"))
        if config is not None and not alerts.routes_to_receiver(config):
            out.append(
                Finding(
                    "warn",
                    where,
                    "no route sends to a receiver MEDIC_ALERTMANAGER_RECEIVER "
                    f"({settings.alertmanager_receiver!r}) matches: held alerts are never taken (set it to "
                    "the receiver that posts to Medic)",
                )
            )
        held = await silences.count()
        out.append(Finding("ok", f"{where} silences", f"readable ({held} held)"))
    except (PermanentError, TransientError) as err:
        out.append(Finding("error", where, str(err)))
    finally:
        for close in (alerts.aclose, silences.aclose):
            with contextlib.suppress(Exception):
                await close()
    return out


def _parsed(original: object) -> dict[str, object] | None:
    if not isinstance(original, str):
        return None
    with contextlib.suppress(yaml.YAMLError):
        loaded = yaml.safe_load(original)
        return loaded if isinstance(loaded, dict) else None
    return None
