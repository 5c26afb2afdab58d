"""`medic check` warns when Slack commands are on and remediations may act while nobody is named for
approving steps or the kill switch: left out, a command is open to the whole Slack workspace (a
first-install walk-through: `approve` mode, a signing secret, no `access:`, and the check said nothing)."""

from pathlib import Path

from pydantic import SecretStr

from service.config_files import check_all
from service.settings import Settings


def _warnings(tmp_path: Path, routing: str, **settings: object) -> list[str]:
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "routing.yaml").write_text(routing)
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    values = Settings(
        _env_file=None, catalog=tmp_path / "catalog.yaml", runbooks_dir=tmp_path / "runbooks"
    ).model_copy(update=settings)
    _, problems = check_all(values)
    return [str(p) for p in problems if p.warning and "access" in str(p)]


def test_open_approvals_are_said_when_remediations_may_act(tmp_path: Path) -> None:
    slack = {"slack_signing_secret": SecretStr("s" * 32), "remediation_mode": "approve"}
    (said,) = _warnings(tmp_path, "rules: [{name: all}]\n", **slack)
    assert "approve, kill_switch left out, so open to everyone in the Slack workspace" in said
    closed = "access: {approve: [U0SRE], kill_switch: []}\nrules: [{name: all}]\n"
    assert _warnings(tmp_path, closed, **slack) == []
    assert _warnings(tmp_path, "rules: [{name: all}]\n", slack_signing_secret=SecretStr("s" * 32)) == []
    assert _warnings(tmp_path, "rules: [{name: all}]\n", remediation_mode="auto") == []  # no Slack commands
