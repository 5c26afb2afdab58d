"""The chart's anomaly-scan state (``scanState``): files when no scan can run, with no RBAC for it;
ConfigMaps when scans may run (``auto``, the default) or on request, with a Role in the release
namespace only and just the verbs the ConfigMap store uses (worker: get, create, update; API: get), a
service-account token for both pods, and the settings that select it; files refused for scans on more
than one worker."""

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from activities.adapters.scan_state import MAX_SHARDS, configmap_name
from service.settings import Settings
from tests.deploy.test_helm_chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    named,
    objects_of,
    of_kind,
    render_templates,
)

CONFIGMAP: dict[str, Any] = {"scanState": {"backend": "configmap"}}
VERBS = {"create", "get", "update"}  # activities/adapters/scan_state.py: read, create, PUT


def _objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    return objects_of(render_templates(values))


def _pod(objs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    spec: dict[str, Any] = named(objs, "Deployment", f"{RELEASE}-{component}")["spec"]["template"]["spec"]
    return spec


def _rules(role: dict[str, Any]) -> list[tuple[str, ...]]:
    """(group, resource, verbs, resourceNames) per rule, flattened."""
    return [
        (g, r, ",".join(rule["verbs"]), ",".join(rule.get("resourceNames", [])))
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    ]


def test_files_by_default_and_no_rbac_for_them() -> None:
    objs = _objects({})
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert env["MEDIC_SCAN_STATE"] == "file" and "MEDIC_SCAN_STATE_NAMESPACE" not in env
    assert not [r for r in of_kind(objs, "Role") if "scan-state" in r["metadata"]["name"]]
    assert _pod(objs, "worker")["automountServiceAccountToken"] is False
    assert _pod(objs, "api")["automountServiceAccountToken"] is False


ANOMALY = "scans:\n  - name: latency\n    query: latency\n"


def test_scans_keep_their_state_in_configmaps_by_default() -> None:
    """The chart's default was files with 2 workers: each pod kept its own state in its emptyDir, and
    a run on the other pod handed over anomalies the first had reported, again (a review, 2026-12-06)."""
    for values in ({"config": {"anomaly": ANOMALY}}, {"config": {"existingConfigMap": "mine"}}):
        objs = _objects(values)
        env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
        assert env["MEDIC_SCAN_STATE"] == "configmap" and env["MEDIC_SCAN_STATE_NAMESPACE"] == NAMESPACE
        assert named(objs, "Role", f"{RELEASE}-scan-state-worker")
        assert _pod(objs, "worker")["automountServiceAccountToken"] is True
    config = named(_objects({"config": {"anomaly": ANOMALY}}), "ConfigMap", f"{RELEASE}-config")["data"]
    assert config["anomaly.yaml"] == ANOMALY  # beside the catalog: MEDIC_ANOMALY's default


@pytest.mark.parametrize(
    "workers", [{"replicas": 2}, {"replicas": 1, "autoscaling": {"enabled": True, "maxReplicas": 3}}]
)
def test_files_for_scans_on_more_than_one_worker_are_refused(workers: dict[str, Any]) -> None:
    values = {"config": {"anomaly": ANOMALY}, "scanState": {"backend": "file"}, "worker": workers}
    with pytest.raises(helm_python.HelmError) as refused:
        render_templates(values)
    assert "scanState.backend: file" in str(refused.value) and "configmap" in str(refused.value)
    one = _objects({**values, "worker": {"replicas": 1}})  # one worker: its own files are all the state
    assert named(one, "ConfigMap", f"{RELEASE}-env")["data"]["MEDIC_SCAN_STATE"] == "file"
    pinned = {"replicas": 1, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 1}}
    assert _objects({**values, "worker": pinned})  # autoscaled, but to one pod at most
    # blank anomaly text ships no scans: files, and nothing refused
    blank = _objects({"config": {"anomaly": "  \n"}, "scanState": {"backend": "auto"}})
    assert named(blank, "ConfigMap", f"{RELEASE}-env")["data"]["MEDIC_SCAN_STATE"] == "file"
    # file chosen with a ConfigMap of your own: the chart cannot tell whether it holds scans, so it is
    # taken as chosen (an installation from before, with no scans, upgrades), with no token and no Role
    mine = _objects({"config": {"existingConfigMap": "mine"}, "scanState": {"backend": "file"}})
    assert named(mine, "ConfigMap", f"{RELEASE}-env")["data"]["MEDIC_SCAN_STATE"] == "file"
    assert not [r for r in of_kind(mine, "Role") if "scan-state" in r["metadata"]["name"]]


def test_configmaps_get_a_role_in_the_release_namespace_with_the_verbs_used() -> None:
    objs = _objects(CONFIGMAP)
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert env["MEDIC_SCAN_STATE"] == "configmap" and env["MEDIC_SCAN_STATE_NAMESPACE"] == NAMESPACE
    settings = Settings(_env_file=None, scan_state=env["MEDIC_SCAN_STATE"])  # a value the worker takes
    assert settings.scan_state == "configmap"
    roles = {r["metadata"]["name"]: r for r in of_kind(objs, "Role")}
    assert set(roles) == {f"{RELEASE}-scan-state-worker", f"{RELEASE}-scan-state-api"}
    assert {r["metadata"]["namespace"] for r in roles.values()} == {NAMESPACE}
    assert _rules(roles[f"{RELEASE}-scan-state-worker"]) == [
        ("", "configmaps", "create", ""),
        ("", "configmaps", "get,update", ""),
    ]
    assert _rules(roles[f"{RELEASE}-scan-state-api"]) == [("", "configmaps", "get", "")]
    for role in roles.values():
        for _, _, verbs, _ in _rules(role):
            assert set(verbs.split(",")) <= VERBS
    for component in ("worker", "api"):
        binding = named(objs, "RoleBinding", f"{RELEASE}-scan-state-{component}")
        assert binding["metadata"]["namespace"] == NAMESPACE
        assert binding["roleRef"]["name"] == f"{RELEASE}-scan-state-{component}"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{RELEASE}-{component}", "namespace": NAMESPACE}
        ]
        assert _pod(objs, component)["automountServiceAccountToken"] is True
    assert not of_kind(objs, "ClusterRole")  # nothing cluster-wide for it


def test_named_scans_limit_reads_and_writes_to_their_configmaps() -> None:
    """Each scan's ConfigMap and the shards a large state splits over (activities/adapters/scan_state.py)."""
    objs = _objects({"scanState": {"backend": "configmap", "scans": ["latency", "disk"]}})
    names = ",".join(
        configmap_name(scan, shard) for scan in ("latency", "disk") for shard in range(MAX_SHARDS)
    )
    assert names.startswith("medic-scan-latency,medic-scan-latency.1,") and "medic-scan-disk.7" in names
    worker = named(objs, "Role", f"{RELEASE}-scan-state-worker")
    assert _rules(worker) == [
        ("", "configmaps", "create", ""),  # create cannot be limited by name
        ("", "configmaps", "get,update", names),
    ]
    api = named(objs, "Role", f"{RELEASE}-scan-state-api")
    assert _rules(api) == [("", "configmaps", "get", names)]


def test_rbac_of_your_own_still_gets_the_pods_a_token() -> None:
    objs = _objects({"scanState": {"backend": "configmap", "rbac": {"create": False}}})
    assert not of_kind(objs, "Role") and not of_kind(objs, "RoleBinding")
    assert _pod(objs, "worker")["automountServiceAccountToken"] is True
    assert _pod(objs, "api")["automountServiceAccountToken"] is True


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_the_objects_are_valid_and_the_chart_lints_clean(kube_version: str) -> None:
    values = {"scanState": {"backend": "configmap", "scans": ["latency"]}}
    for obj in _objects(values):  # no prometheus-operator kinds by default: all in the bundled schemas
        kubernetes_validate.validate(obj, kube_version, strict=True)
    report = helm_python.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"scanState": {"backend": "etcd"}}, "backend"),
        ({"scanState": {"backend": "configmap", "scans": ["Not_A_Scan"]}}, "Not_A_Scan"),
    ],
)
def test_the_schema_refuses(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_templates(values)
    assert complaint in str(refused.value)


def _secret_mounted(objs: list[dict[str, Any]], volume_name: str, secret: str, path: str) -> None:
    """Both pods mount ``secret`` as ``volume_name`` read-only at ``path``, in every container."""
    for component in ("worker", "api"):
        pod = _pod(objs, component)
        [volume] = [v for v in pod["volumes"] if v["name"] == volume_name]
        assert volume["secret"]["secretName"] == secret
        mounts = [m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] == volume_name]
        assert mounts and all(m["readOnly"] and m["mountPath"] == path for m in mounts)


def test_prometheus_behind_a_token_or_a_private_ca_from_a_secret_of_yours() -> None:
    """A Thanos querier behind oauth-proxy, a managed Prometheus: the token and the CA bundle are keys
    of a Secret mounted read-only, and the settings name the files (never the token itself)."""
    auth = {"existingSecret": "prom-auth", "tokenKey": "token", "caKey": "ca.crt"}
    objs = _objects({"config": {"prometheusUrl": "https://thanos:9091", "prometheusAuth": auth}})
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert env["MEDIC_PROMETHEUS_BEARER_TOKEN_FILE"] == "/etc/medic/prometheus/token"
    assert env["MEDIC_PROMETHEUS_CA_FILE"] == "/etc/medic/prometheus/ca.crt"
    assert env["MEDIC_PROMETHEUS_TIMEOUT_SECONDS"] == "10"
    _secret_mounted(objs, "prometheus-auth", "prom-auth", "/etc/medic/prometheus")
    plain = named(_objects({}), "ConfigMap", f"{RELEASE}-env")["data"]
    assert "MEDIC_PROMETHEUS_BEARER_TOKEN_FILE" not in plain and "MEDIC_PROMETHEUS_CA_FILE" not in plain
    Settings(
        _env_file=None,
        **{k[len("MEDIC_") :].lower(): v for k, v in env.items() if k.startswith("MEDIC_PROM")},
    )


def test_mimir_tenants_and_alertmanager_behind_a_token_or_a_private_ca() -> None:
    """Grafana Mimir: the tenant of each (X-Scope-OrgID), Mimir's Alertmanager under its prefix; an
    Alertmanager behind oauth-proxy (OpenShift's alertmanager-main): its token and CA bundle are keys of
    a Secret of yours mounted read-only apart from Prometheus's."""
    auth = {"existingSecret": "am-auth", "tokenKey": "token", "caKey": "service-ca.crt"}
    config = {
        "prometheusUrl": "https://mimir-gateway/prometheus",
        "prometheusTenant": "team-a|team-b",
        "alertmanagerUrl": "https://mimir-gateway/alertmanager",
        "alertmanagerTenant": "team-a",
        "alertmanagerAuth": auth,
    }
    objs = _objects({"config": config})
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert env["MEDIC_PROMETHEUS_TENANT"] == "team-a|team-b"
    assert env["MEDIC_ALERTMANAGER_TENANT"] == "team-a"
    assert env["MEDIC_ALERTMANAGER_BEARER_TOKEN_FILE"] == "/etc/medic/alertmanager/token"
    assert env["MEDIC_ALERTMANAGER_CA_FILE"] == "/etc/medic/alertmanager/service-ca.crt"
    _secret_mounted(objs, "alertmanager-auth", "am-auth", "/etc/medic/alertmanager")
    plain = named(_objects({}), "ConfigMap", f"{RELEASE}-env")["data"]
    assert not {k for k in plain if "TENANT" in k or (k.startswith("MEDIC_ALERTMANAGER_") and "FILE" in k)}
    settings = Settings(
        _env_file=None,
        **{
            k[len("MEDIC_") :].lower(): v
            for k, v in env.items()
            if k.startswith(("MEDIC_PROM", "MEDIC_ALERT"))
        },
    )
    assert settings.prometheus_tenant == "team-a|team-b" and settings.alertmanager_tenant == "team-a"


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"prometheusTenant": "team a"}, "prometheusTenant"),
        ({"prometheusTenant": "a||b"}, "prometheusTenant"),
        ({"alertmanagerTenant": "a|b"}, "alertmanagerTenant"),
        ({"prometheusTenant": "."}, "prometheusTenant"),
        ({"alertmanagerTenant": ".."}, "alertmanagerTenant"),
        ({"prometheusTenant": "team-a|__mimir_cluster"}, "prometheusTenant"),
        ({"prometheusTenant": "x" * 151}, "prometheusTenant"),
        ({"alertmanagerAuth": {"existingSecret": "s", "tokenKey": "../token"}}, "tokenKey"),
        ({"lokiTenant": "a||b"}, "lokiTenant"),
        ({"lokiAuth": {"existingSecret": "s", "caKey": "../ca"}}, "caKey"),
    ],
)
def test_the_schema_refuses_a_tenant_mimir_would_refuse(config: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_templates({"config": config})
    assert complaint in str(refused.value)


@pytest.mark.parametrize(
    "key",
    [
        "MEDIC_SCAN_STATE",
        "MEDIC_PROMETHEUS_BEARER_TOKEN_FILE",
        "MEDIC_PROMETHEUS_TIMEOUT_SECONDS",
        "MEDIC_PROMETHEUS_TENANT",
        "MEDIC_ALERTMANAGER_CA_FILE",
        "MEDIC_LOKI_URL",
        "MEDIC_LOKI_TIMEOUT_SECONDS",
    ],
)
def test_settings_the_chart_sets_itself_are_refused_in_extra(key: str) -> None:
    """config.extra.MEDIC_SCAN_STATE=file went around the chart's refusal of per-pod scan state."""
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_templates({"config": {"extra": {key: "file"}}})
    assert f"invalid propertyName {key!r}" in str(refused.value)


@pytest.mark.parametrize("field", ["prometheusTenant", "alertmanagerTenant", "lokiTenant"])
def test_the_schema_and_the_settings_take_the_same_tenants(field: str) -> None:
    """A tenant the chart renders and the settings refuse would crash-loop the pods after a helm
    install that succeeded; one the settings take and the chart refuses could not be set at all."""
    setting = {"prometheusTenant": "prometheus_tenant", "alertmanagerTenant": "alertmanager_tenant"}.get(
        field, "loki_tenant"
    )
    for tenant in (
        "team-a", "Prod_(eu).1*'!", "a.b", "..a", "a..", "x" * 150, "x" * 151, ".", "..", "__mimir_cluster",
        "__mimir_cluster2", "a|b", "a||b", "|a", "a|", "a|.", "a b", "a/b", "ä", "a|__mimir_cluster",
    ):  # fmt: skip
        try:
            render_templates({"config": {field: tenant}})
            rendered = True
        except helm_python.HelmValuesError:
            rendered = False
        try:
            values: dict[str, Any] = {setting: tenant}
            Settings(_env_file=None, **values)
            taken = True
        except ValueError:
            taken = False
        assert rendered == taken, (
            f"{field}={tenant!r}: the chart renders it: {rendered}; settings take it: {taken}"
        )


def test_loki_for_scans_its_tenant_and_a_token_or_a_private_ca() -> None:
    """Loki for the scans whose source is loki: its URL, tenant and timeout, and its token and CA
    bundle as keys of a Secret of yours, mounted read-only apart from Prometheus's; the settings the
    pods read take them."""
    auth = {"existingSecret": "loki-auth", "tokenKey": "token", "caKey": "ca.crt"}
    config = {"lokiUrl": "https://loki-gateway.loki", "lokiTenant": "team-a|team-b", "lokiAuth": auth}
    objs = _objects({"config": config})
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert env["MEDIC_LOKI_URL"] == "https://loki-gateway.loki"
    assert env["MEDIC_LOKI_TENANT"] == "team-a|team-b"
    assert env["MEDIC_LOKI_BEARER_TOKEN_FILE"] == "/etc/medic/loki/token"
    assert env["MEDIC_LOKI_CA_FILE"] == "/etc/medic/loki/ca.crt"
    assert env["MEDIC_LOKI_TIMEOUT_SECONDS"] == "30"
    _secret_mounted(objs, "loki-auth", "loki-auth", "/etc/medic/loki")
    plain = named(_objects({}), "ConfigMap", f"{RELEASE}-env")["data"]
    assert not {k for k in plain if k.startswith("MEDIC_LOKI_") and k != "MEDIC_LOKI_TIMEOUT_SECONDS"}
    settings = Settings(
        _env_file=None,
        **{k[len("MEDIC_") :].lower(): v for k, v in env.items() if k.startswith("MEDIC_LOKI")},
    )
    assert settings.loki_tenant == "team-a|team-b" and settings.loki_timeout_seconds == 30.0


def test_helm_test_runs_medic_doctor_with_the_pods_own_settings_and_files() -> None:
    """`helm test <release>` runs `medic doctor` in the cluster: the same settings, Secret, token files
    and CAs as the worker and the API, read only (no service-account token); not in the plain
    manifests, where nothing would run it on request."""
    auth = {"existingSecret": "am-auth", "tokenKey": "token", "caKey": "ca.crt"}
    objs = _objects({"config": {"alertmanagerUrl": "https://am:9094", "alertmanagerAuth": auth}})
    doctor = named(objs, "Pod", f"{RELEASE}-doctor")
    assert doctor["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = doctor["spec"]
    [container] = spec["containers"]
    assert container["args"][:1] == ["doctor"] and spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    worker = _pod(objs, "worker")
    assert {v["name"] for v in spec["volumes"]} <= {v["name"] for v in worker["volumes"]}
    assert {"config", "alertmanager-auth"} <= {m["name"] for m in container["volumeMounts"]}
    worker_main = next(c for c in worker["containers"] if c["name"] == "worker")
    assert container["envFrom"] == worker_main["envFrom"]
    manifests = (Path(__file__).parents[2] / "deploy" / "kubernetes" / "medic.yaml").read_text()
    assert "doctor" not in manifests
