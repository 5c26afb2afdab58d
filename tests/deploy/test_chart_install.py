"""Findings of a first install, walked through from the docs (each verified by the tester), kept fixed:
the image, the README's receiver, the chart's rendered objects and the rules they ship."""

import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python
import pytest
import yaml
from fastapi.routing import APIRoute

from activities.postmortem import PostmortemWriter
from service.api import (
    anomalies,
    control,
    explain,
    heartbeats,
    incidents,
    insights,
    pagerduty,
    slack,
    webhooks,
)
from service.api.auth import require_document_reader, require_incident_reader
from service.settings import Settings
from tests.conftest import require_binary
from tests.deploy.test_helm_chart import (
    NAMESPACE,
    RELEASE,
    ROOT,
    expect,
    named,
    objects_of,
    prometheus_rule,
    render_templates,
    run,
    series,
    tool,
)
from tests.support.stack import running_dev_server


def test_the_image_installs_the_otel_extra_the_tracing_docs_need() -> None:
    """docs/deployment.md's traces need the OpenTelemetry SDK and exporter: without the extra in the
    published image, MEDIC_OTEL_ENDPOINT only logged that OpenTelemetry is not installed."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    installs = re.findall(r"pip install '?\.\[([a-z0-9_,-]+)\]'?", dockerfile)
    assert installs, "the image installs Medic with its extras"
    extras = {extra for found in installs for extra in found.split(",")}
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "otel" in extras and extras <= set(defined) - {"dev"}


def _readme_receiver() -> str:
    """The alertmanager.yml README.md gives under "Point Alertmanager at Medic"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Point Alertmanager at Medic", 1)[1]
    match = re.search(r"```yaml\n(# alertmanager\.yml\n.*?)```", section, re.DOTALL)
    assert match, "README.md's receiver"
    return match.group(1)


def _medic_hook(config: dict[str, Any]) -> dict[str, Any]:
    (receiver,) = [r for r in config["receivers"] if r["name"] == "medic"]
    (hook,) = receiver["webhook_configs"]
    assert isinstance(hook, dict)
    return hook


def test_the_readme_receiver_is_the_shipped_one_and_passes_amtool(tmp_path: Path) -> None:
    """README's receiver lacked max_alerts: a group over MEDIC_MAX_ALERTS_PER_DELIVERY is refused with
    413, which Alertmanager does not retry. It hands alerts over as deploy/alertmanager/alertmanager.yml
    does (URL, resolved, the cap, the token file), and amtool accepts it."""
    text = _readme_receiver()
    readme, shipped = (
        yaml.safe_load(text),
        yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()),
    )
    assert _medic_hook(readme) == _medic_hook(shipped)
    assert _medic_hook(readme)["max_alerts"] <= Settings.model_fields["max_alerts_per_delivery"].default
    assert "service" in readme["route"]["group_by"]
    (tmp_path / "alertmanager.yml").write_text(text)
    result = run([tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_medic_down_alerts_fire_when_no_target_is_scraped_at_all(tmp_path: Path) -> None:
    """`sum(up{...}) == 0` sees no series when there is no target (pods Pending, workers scaled to 0):
    MedicApiDown and MedicWorkersDown said nothing then. They fire on no series of this release's jobs
    (the ServiceMonitors': the Services' names), whatever another namespace's Medic reports."""
    spec = prometheus_rule()["spec"]
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    api, worker = f"{RELEASE}-api", f"{RELEASE}-worker-metrics"
    down = {"severity": "critical", "namespace": NAMESPACE}
    elsewhere = [
        {"series": f'up{{namespace="other", job="{job}"}}', "values": "1x40"} for job in (api, worker)
    ]
    cases = [
        (elsewhere, [expect("MedicApiDown", down), expect("MedicWorkersDown", down)]),  # no target here
        ([series("up", api, "1x40"), series("up", worker, "0x40")], [expect("MedicWorkersDown", down)]),
        (
            [series("up", api, "1x40"), series("up", worker, "1x40", pod="w-1")],
            [expect("MedicApiDown"), expect("MedicWorkersDown")],
        ),
    ]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": given, "alert_rule_test": wanted} for given, wanted in cases
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = run([tool("promtool"), "test", "rules", "tests.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _setup_container(values: dict[str, Any]) -> dict[str, Any]:
    job = named(objects_of(render_templates(values)), "Job", f"{RELEASE}-setup")
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_the_setup_hook_connects_to_the_temporal_the_values_name_not_the_release_befores() -> None:
    """At pre-upgrade the env ConfigMap (not a hook) still holds the previous release's address and
    namespace: the hook Job took them from there (envFrom) while its TLS and API key came from the new
    values. Now the Job carries the whole connection inline, and nothing from the ConfigMap."""
    values = {
        "setup": {"enabled": True},
        "temporal": {
            "address": "medic.a1b2c.tmprl.cloud:7233",
            "namespace": "medic.a1b2c",
            "tls": {"enabled": True},
            "apiKey": {"existingSecret": "temporal-cloud", "key": "api-key"},
        },
        "config": {"extra": {"MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS": "20", "MEDIC_SETTLE_SECONDS": "3"}},
    }
    container = _setup_container(values)
    assert "envFrom" not in container
    env = {e["name"]: e for e in container["env"]}
    assert env["MEDIC_TEMPORAL_ADDRESS"]["value"] == "medic.a1b2c.tmprl.cloud:7233"
    assert env["MEDIC_TEMPORAL_NAMESPACE"]["value"] == "medic.a1b2c"
    assert env["MEDIC_TEMPORAL_TLS"]["value"] == "true"
    assert env["MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS"]["value"] == "20"
    assert env["MEDIC_TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "temporal-cloud",
        "key": "api-key",
        "optional": False,
    }
    # the Temporal connection only: no other secret, no setting setup has no use for
    assert not {name for name in env if not name.startswith(("MEDIC_TEMPORAL_", "MEDIC_LOG_"))}
    plain = {e["name"]: e for e in _setup_container({"setup": {"enabled": True}})["env"]}
    assert plain["MEDIC_TEMPORAL_ADDRESS"]["value"] == "temporal-frontend.temporal.svc:7233"
    assert "MEDIC_TEMPORAL_TLS" not in plain


@pytest.mark.integration
async def test_the_setup_hooks_environment_alone_runs_medic_setup(tmp_path: Path) -> None:
    """The Job's inline environment is all `medic setup` needs: run with it (and nothing of the env
    ConfigMap), it connects to the dev server's namespace and finds or registers the search attributes."""
    require_binary("temporal")
    async with running_dev_server(tmp_path / "temporal.db") as server:
        container = _setup_container(
            {"setup": {"enabled": True}, "temporal": {"address": f"127.0.0.1:{server.port}"}}
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
        env |= {e["name"]: e["value"] for e in container["env"] if "value" in e}
        medic = str(Path(sys.executable).parent / "medic")  # the image's ENTRYPOINT
        result = run([medic, *container["args"]], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "search attribute" in result.stdout  # registered, or found there (the helper's server has them)


def _ingress_paths(values: dict[str, Any]) -> list[str]:
    (ingress,) = [o for o in objects_of(render_templates(values)) if o["kind"] == "Ingress"]
    return [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def test_the_default_ingress_reaches_the_postmortem_links_medic_posts() -> None:
    """config.publicUrl is the base of the signed postmortem links posted to Slack and Jira
    (<base>/incidents/<id>/postmortem); the default Ingress routed only /webhooks and /slack, so each
    link answered the Ingress controller's 404."""
    paths = _ingress_paths({"ingress": {"enabled": True}})
    link = PostmortemWriter(Path("unused"), base_url="https://medic.example.com").url("incident-checkout")
    route = urlsplit(link).path
    assert any(route.startswith(p + "/") for p in paths), (route, paths)
    assert sorted(paths) == ["/incidents", "/slack", "/webhooks"]


def test_every_incident_route_the_ingress_exposes_asks_a_token_or_a_signed_link() -> None:
    """What makes /incidents safe to route from outside: each route under it asks the webhook, read or
    operator token (require_incident_reader), or takes a link Medic signed (require_document_reader)."""
    routers = [api.router for api in (webhooks, incidents, anomalies, insights, heartbeats, explain)]
    routers += [control.router, slack.router, pagerduty.router]
    checked = 0
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/incidents"):
                calls = {dep.call for dep in route.dependant.dependencies}
                assert calls & {require_incident_reader, require_document_reader}, route.path
                checked += 1
    assert checked >= 6


def test_an_ingress_to_the_incident_reads_is_refused_while_reads_are_open() -> None:
    """MEDIC_READS_OPEN serves the incident reads without credentials, for a network where every
    client may read them: routed from outside, that would be anyone."""
    opened = {"config": {"extra": {"MEDIC_READS_OPEN": "true"}}}
    for paths in (["/webhooks", "/slack", "/incidents"], ["/"], ["/incidents/incident-x"]):
        values = {
            **opened,
            "ingress": {"enabled": True, "hosts": [{"host": "medic.example.com", "paths": paths}]},
        }
        with pytest.raises(helm_python.HelmRenderError, match="MEDIC_READS_OPEN"):
            render_templates(values)
    inside = {
        **opened,
        "ingress": {"enabled": True, "hosts": [{"host": "m.example.com", "paths": ["/slack"]}]},
    }
    assert _ingress_paths(inside) == ["/slack"]


def _configmap_rules(values: dict[str, Any]) -> list[dict[str, Any]]:
    objs = objects_of(render_templates(values))
    role = named(
        [o for o in objs if o["metadata"].get("namespace") == "shop"], "Role", f"{RELEASE}-remediator"
    )
    return [r for r in role["rules"] if r["resources"] == ["configmaps"]]


def test_the_remediator_never_gets_every_configmap_of_a_namespace() -> None:
    """circuitBreakConfigMap is on by default, and with circuitBreakUpstreams empty the Role in each
    remediation namespace could get, patch and delete every ConfigMap there. The render now asks for the
    upstreams (or the flag off); create stays unnamed, as RBAC cannot name what does not exist yet."""
    shop = {"remediation": {"namespaces": ["shop"]}}
    with pytest.raises(helm_python.HelmRenderError, match=r"circuitBreakUpstreams.*medic-circuit-<upstream>"):
        render_templates(shop)
    listed = _configmap_rules(
        {"remediation": {"namespaces": ["shop"], "rbac": {"circuitBreakUpstreams": ["db"]}}}
    )
    assert [(r["verbs"], r.get("resourceNames")) for r in listed] == [
        (["create"], None),
        (["get", "patch", "delete"], ["medic-circuit-db"]),
    ]
    assert (
        _configmap_rules({"remediation": {"namespaces": ["shop"], "rbac": {"circuitBreakConfigMap": False}}})
        == []
    )
    # no namespace, or no Role to create: nothing is granted, nothing to refuse
    render_templates({})
    render_templates({"remediation": {"namespaces": ["shop"], "rbac": {"create": False}}})


def test_a_render_rolls_the_pods_only_for_given_secret_values_never_for_a_generated_token() -> None:
    """Outside `helm upgrade` (helm template, Argo CD, render.py) each render generates a new webhook
    token, which docs/deployment.md asks to set there. The pods' checksum covers the given values only:
    renders that differ by the generated token alone do not roll them, a changed given value does."""

    def annotations(values: dict[str, Any]) -> tuple[dict[str, str], str]:
        objs = objects_of(render_templates(values))
        pod = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["metadata"]["annotations"]
        token = named(objs, "Secret", RELEASE)["data"]["MEDIC_WEBHOOK_TOKEN"]
        return {k: v for k, v in pod.items() if k.startswith("checksum/")}, token

    (first, one), (second, other) = annotations({}), annotations({})
    assert one != other and first == second
    given = {"secret": {"values": {"MEDIC_WEBHOOK_TOKEN": "given-token-0123456789abcdef"}}}
    (kept, token), (again, same) = annotations(given), annotations(given)
    assert token == same and kept == again
    rotated = annotations({"secret": {"values": {"MEDIC_WEBHOOK_TOKEN": "rotated-token-0123456789abc"}}})
    assert rotated[0]["checksum/secret-values"] != kept["checksum/secret-values"]


def test_the_chart_the_image_and_the_package_carry_one_version() -> None:
    """Chart.yaml's version and appVersion (the image tag by default) and pyproject's version (which
    medic_build_info reports) move together, so docs/deployment.md's upgrade notes can name one."""
    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "medic" / "Chart.yaml").read_text())
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart["version"] == chart["appVersion"] == package
    assert f"ghcr.io/medic/medic:{package}" in (ROOT / "deploy" / "Dockerfile").read_text()
    upgrading = (ROOT / "docs" / "deployment.md").read_text().split("## Upgrading with incidents open")[1]
    assert f"from {package}" in upgrading
