"""The `medic` command as a user runs it: `medic dev` (Ctrl-C leaves nothing behind, a restart
keeps every incident), `medic fire`, and `medic api` refusing to run without a token."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_binary
from tests.support.stack import free_port

pytestmark = pytest.mark.integration

MEDIC = str(require_binary("medic"))


def env_for(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_DATA_DIR=str(data_dir),
        MEDIC_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['grpc']}",
        MEDIC_DEV_UI_PORT=str(ports["ui"]),
        MEDIC_API_PORT=str(ports["api"]),
        MEDIC_RESOLVE_QUIET_SECONDS="600",
    )
    return env


def wait_http(url: str, *, timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"medic dev exited early: {proc.stdout.read() if proc.stdout else ''}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not answering after {timeout}s")


def leftover_processes(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@pytest.fixture
def dev_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    require_binary("temporal")
    ports = {"grpc": free_port(), "ui": free_port(), "api": free_port()}
    env = env_for(tmp_path / "data", ports)
    yield env
    for line in leftover_processes(str(tmp_path)):  # never leave a server behind, even on failure
        os.kill(int(line.split()[0]), signal.SIGKILL)


def start_dev(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [MEDIC, "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wait_http(f"http://127.0.0.1:{env['MEDIC_API_PORT']}/readyz", timeout=60, proc=proc)
    return proc


def _read(data_dir: str, url: str) -> httpx.Response:
    """Reads need credentials: dev mode's generated webhook token reads."""
    token = (Path(data_dir) / "webhook-token").read_text().strip()
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def test_dev_fire_ctrl_c_and_restart(dev_env: dict[str, str]) -> None:
    api = f"http://127.0.0.1:{dev_env['MEDIC_API_PORT']}"
    data_dir = dev_env["MEDIC_DATA_DIR"]
    proc = start_dev(dev_env)
    try:
        # The Web UI is served on MEDIC_DEV_UI_PORT.
        wait_http(f"http://127.0.0.1:{dev_env['MEDIC_DEV_UI_PORT']}/", timeout=30, proc=proc)
        fired = subprocess.run(
            [MEDIC, "fire"], env=dev_env, capture_output=True, text=True, timeout=60, check=False
        )
        assert fired.returncode == 0, fired.stderr
        assert "accepted 2 alert(s)" in fired.stdout
        incident_id = fired.stdout.split("into ")[1].split()[0]
        deadline = time.monotonic() + 30
        while incident_id not in {i["id"] for i in _read(data_dir, f"{api}/incidents").json()}:
            assert time.monotonic() < deadline, "incident never listed"
            time.sleep(0.3)
    finally:
        output = interrupt(proc)
    assert proc.returncode == 0, output
    assert "Webhook token" in output
    assert leftover_processes(data_dir) == [], "medic dev left processes behind"
    token_file = Path(data_dir) / "webhook-token"
    assert token_file.stat().st_mode & 0o077 == 0, "the token file must be private"
    # Its output went to a pipe, as to a log file: the token is printed on a terminal only.
    assert token_file.read_text().strip() not in output

    # A second `medic dev` finds the first one's data, and the same token.
    proc = start_dev(dev_env)
    try:
        assert httpx.get(f"{api}/incidents", timeout=30).status_code == 401
        incidents = _read(data_dir, f"{api}/incidents").json()
        assert [i["status"] for i in incidents if i["id"] == incident_id] == ["open"]
        detail = _read(data_dir, f"{api}/incidents/{incident_id}").json()
        assert detail["alert_count"] == 2
        again = subprocess.run(
            [MEDIC, "fire"], env=dev_env, capture_output=True, text=True, timeout=60, check=False
        )
        assert again.returncode == 0, again.stderr
    finally:
        interrupt(proc)
    assert leftover_processes(data_dir) == []


def test_api_refuses_to_start_without_token(tmp_path: Path) -> None:
    env = env_for(tmp_path, {"grpc": free_port(), "ui": free_port(), "api": free_port()})
    result = subprocess.run([MEDIC, "api"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "MEDIC_WEBHOOK_TOKEN" in result.stderr


def test_api_refuses_a_broken_catalog(tmp_path: Path) -> None:
    env = env_for(tmp_path, {"grpc": free_port(), "ui": free_port(), "api": free_port()})
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("services:\n  - name: a\n    team: t\n    calls: [ghost]\n")
    env.update(MEDIC_WEBHOOK_TOKEN="x", MEDIC_CATALOG=str(catalog))
    result = subprocess.run([MEDIC, "api"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"{catalog}:4: services[0].calls[0]: unknown service 'ghost'" in result.stderr


def test_fire_without_a_running_api_explains(tmp_path: Path) -> None:
    env = env_for(tmp_path, {"grpc": free_port(), "ui": free_port(), "api": free_port()})
    env["MEDIC_WEBHOOK_TOKEN"] = "x"
    result = subprocess.run([MEDIC, "fire"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "is `medic dev` running?" in result.stderr
