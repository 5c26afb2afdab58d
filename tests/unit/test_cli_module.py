"""`python -m service.cli` runs the same command as the console script `medic` (a field report: it
printed nothing and exited 0, the module having no __main__ guard)."""

import subprocess
import sys


def _module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_python_dash_m_runs_the_medic_command() -> None:
    shown = _module("--help")
    assert shown.returncode == 0, shown.stderr
    assert "Usage: medic" in shown.stdout and "setup" in shown.stdout
    unknown = _module("no-such-command")
    assert unknown.returncode != 0
    assert "no-such-command" in unknown.stderr
