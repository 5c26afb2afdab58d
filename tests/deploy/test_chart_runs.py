"""The chart's pods, run here: the rendered containers' commands, environment and mounted files
(ConfigMaps and the Secret laid out on disk where the volumes mount them), against the Temporal dev
server. The init container's `medic check` passes, the worker and the API answer the probes the chart
gives them, and an Alertmanager delivery through the API opens an incident."""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.deploy.test_helm_chart import RELEASE, ROOT, named, objects_of, render_templates
from tests.support.stack import free_port, running_dev_server, wait_until

pytestmark = pytest.mark.integration

TOKEN = "chart-test-webhook-token-0123456789"


class Pod:
    """One rendered pod spec, its files on disk under ``root`` and its environment resolved."""

    def __init__(self, objs: list[dict[str, Any]], deployment: str, root: Path) -> None:
        self.spec: dict[str, Any] = named(objs, "Deployment", deployment)["spec"]["template"]["spec"]
        self.objs, self.root = objs, root
        volumes = {v["name"]: v for v in self.spec["volumes"]}
        self.mounts: dict[str, Path] = {}
        for container in self.spec["initContainers"] + self.spec["containers"]:
            for mount in container["volumeMounts"]:
                path = mount["mountPath"]
                if path in self.mounts:
                    continue
                self.mounts[path] = target = root / path.lstrip("/")
                target.mkdir(parents=True, exist_ok=True)
                source = volumes[mount["name"]].get("configMap")
                if source is not None:
                    for key, text in named(objs, "ConfigMap", source["name"])["data"].items():
                        (target / key).write_text(text)

    def local(self, value: str) -> str:
        """A path inside the container -> the same file here (the longest mount that holds it)."""
        for mount in sorted(self.mounts, key=len, reverse=True):
            if value == mount or value.startswith(mount + "/"):
                return str(self.mounts[mount]) + value[len(mount) :]
        return value

    def env(self, container: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
        for source in container.get("envFrom", []):
            env.update(named(self.objs, "ConfigMap", source["configMapRef"]["name"])["data"])
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
                continue
            ref = entry["valueFrom"]["secretKeyRef"]
            data = named(self.objs, "Secret", ref["name"]).get("data", {})
            if ref["key"] in data:
                env[entry["name"]] = base64.b64decode(data[ref["key"]]).decode()
            else:
                assert ref.get("optional"), f"{entry['name']}: the Secret has no {ref['key']}"
        env = {k: self.local(v) if k.startswith("MEDIC_") else v for k, v in env.items()}
        # The pod's 0.0.0.0 is its own network; here, loopback only.
        env["MEDIC_API_HOST"] = "127.0.0.1"
        return env

    def command(self, container: dict[str, Any]) -> list[str]:
        return [str(Path(sys.executable).parent / "medic"), *container["args"]]  # the image's ENTRYPOINT

    def port(self, container: dict[str, Any], name: str | int) -> int:
        if isinstance(name, int):
            return name
        return int(next(p["containerPort"] for p in container["ports"] if p["name"] == name))


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_rendered_worker_and_api_run_with_the_charts_configuration(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    require_binary("temporal")
    async with running_dev_server(tmp_path / "temporal.db") as server:
        values = {
            "temporal": {"address": f"127.0.0.1:{server.port}", "namespace": "default"},
            "secret": {"values": {"MEDIC_WEBHOOK_TOKEN": TOKEN}},
            "api": {"port": free_port()},
            "worker": {"metricsPort": free_port()},
            "config": {
                "catalog": (ROOT / "catalog.yaml").read_text(),
                "routing": (ROOT / "routing.yaml").read_text(),
                "runbooks": {p.name: p.read_text() for p in sorted((ROOT / "runbooks").glob("*.yaml"))},
                "extra": {"MEDIC_SETTLE_SECONDS": "0"},
            },
        }
        objs = objects_of(render_templates(values))
        pods = {c: Pod(objs, f"{RELEASE}-{c}", tmp_path / c) for c in ("worker", "api")}
        for pod in pods.values():
            (check,) = pod.spec["initContainers"]
            result = subprocess.run(
                pod.command(check),
                env=pod.env(check),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"{len(values['config']['runbooks'])} runbooks" in result.stdout  # type: ignore[index]
        logs: dict[str, Path] = {}
        for name, pod in pods.items():
            (container,) = pod.spec["containers"]
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        pod.command(container),
                        env=pod.env(container),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=tmp_path,
                    )
                )

        async with httpx.AsyncClient(timeout=5) as http:
            for name, pod in pods.items():
                (container,) = pod.spec["containers"]
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    get = container[probe]["httpGet"]
                    url = f"http://127.0.0.1:{pod.port(container, get['port'])}{get['path']}"

                    async def answers(url: str = url) -> bool:
                        for proc in processes:
                            assert proc.poll() is None, "\n".join(p.read_text() for p in logs.values())
                        try:
                            return (await http.get(url)).status_code == 200
                        except httpx.HTTPError:
                            return False

                    await wait_until(answers, timeout=60, what=f"{name} {probe} {url}")

            api = pods["api"]
            (container,) = api.spec["containers"]
            fire = subprocess.run(
                api.command({"args": ["fire"]}),
                env=api.env(container),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=tmp_path,
            )
            assert fire.returncode == 0, fire.stdout + fire.stderr
            assert "accepted" in fire.stdout and "incident-" in fire.stdout
            port = api.port(container, "http")

            async def opened() -> bool:
                got = await http.get(
                    f"http://127.0.0.1:{port}/incidents", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                return got.status_code == 200 and len(got.json()) > 0

            await wait_until(opened, timeout=60, what="the incident in GET /incidents")
