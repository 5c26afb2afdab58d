"""`medic dev` refuses to start, with a clear message, when one of its ports is taken or its Temporal
cannot start, instead of announcing "Medic is running" attached to whatever listens there."""

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.devserver import port_in_use
from tests.conftest import require_binary
from tests.integration.test_cli import env_for
from tests.support.stack import free_port

pytestmark = pytest.mark.integration


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture
def taken() -> Iterator[socket.socket]:
    with listener() as sock:
        yield sock


def test_port_in_use_sees_a_listener_only(taken: socket.socket) -> None:
    assert port_in_use("127.0.0.1", taken.getsockname()[1])
    assert not port_in_use("127.0.0.1", free_port())


def run_dev(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_binary("medic")), "dev"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("port", "setting"),
    [("grpc", "MEDIC_TEMPORAL_ADDRESS"), ("ui", "MEDIC_DEV_UI_PORT"), ("api", "MEDIC_API_PORT")],
)
def test_a_taken_port_stops_medic_dev(tmp_path: Path, taken: socket.socket, port: str, setting: str) -> None:
    require_binary("temporal")
    ports = {"grpc": free_port(), "ui": free_port(), "api": free_port(), port: taken.getsockname()[1]}
    done = run_dev(env_for(tmp_path / "data", ports), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"127.0.0.1:{ports[port]} is already in use (set {setting}" in done.stderr
    assert "Medic is running" not in done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "temporal.sqlite").exists()  # nothing was started


def test_a_temporal_that_cannot_start_stops_medic_dev(tmp_path: Path) -> None:
    require_binary("temporal")
    data = tmp_path / "data"
    (data / "temporal.sqlite").mkdir(parents=True)  # a database it cannot open
    env = env_for(data, {"grpc": free_port(), "ui": free_port(), "api": free_port()})
    done = run_dev(env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Temporal dev server exited" in done.stderr
    assert str(data / "temporal.log") in done.stderr
    assert "its log ends:" in done.stderr  # what the server said, even once its directory is gone
    assert "Medic is running" not in done.stdout
    assert "Traceback" not in done.stderr
    assert os.path.isdir(data / "temporal.sqlite")
