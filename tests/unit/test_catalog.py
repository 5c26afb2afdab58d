"""The service catalog: schema, cross-checks with file:line, topology walks, `medic check`."""

import subprocess
from pathlib import Path

import pytest

from medic.catalog import load_catalog
from medic.yamldoc import ConfigError
from tests.conftest import require_binary
from tests.support.shop import SHOP_YAML, shop

REPO = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_catalog(text, source="cat.yaml")
    return [str(p) for p in err.value.problems]


def test_shipped_example_catalog_is_valid() -> None:
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    assert len(catalog.services) >= 12
    assert catalog.resolve("redis") == "cache"
    # The database behind orders is what checkout, payments, notifications and everything above them rely on.
    assert {"checkout", "payments", "notifications", "api-gateway", "web-frontend"} <= set(
        catalog.downstream("orders-db")
    )


def test_topology_walks_with_distances() -> None:
    catalog = shop()
    assert catalog.upstream("frontend") == {"checkout": 1, "payments": 2, "orders-db": 2}
    assert catalog.downstream("orders-db") == {"checkout": 1, "payments": 1, "frontend": 2}
    assert catalog.downstream("orders-db", depth=1) == {"checkout": 1, "payments": 1}
    assert catalog.resolve("payment-service") == "payments"
    assert catalog.resolve("nope") is None


def test_unknown_dependency_points_at_its_line() -> None:
    text = "services:\n  - name: a\n    team: t\n    calls:\n      - b\n"
    assert problems(text) == ["cat.yaml:5: services[0].calls[0]: unknown service 'b'"]


def test_schema_errors_point_at_their_lines() -> None:
    text = (
        "services:\n  - name: ok\n    team: t\n"
        "  - name: Bad_Name\n    team: t\n    tier: 7\n    colour: red\n"
    )
    found = problems(text)
    assert any(p.startswith("cat.yaml:4: services[1].name:") for p in found), found
    assert any(p.startswith("cat.yaml:6: services[1].tier:") for p in found), found
    assert any(p.startswith("cat.yaml:7: services[1].colour:") for p in found), found


def test_duplicates_and_self_calls_are_errors() -> None:
    text = "services:\n  - name: a\n    team: t\n    calls: [a]\n  - name: b\n    team: t\n    aliases: [a]\n"
    found = problems(text)
    assert "cat.yaml:4: services[0].calls[0]: a service cannot call itself" in found
    assert "cat.yaml:7: services[1].aliases[0]: 'a' is already used by services[0]" in found


def test_invalid_yaml_reports_its_line() -> None:
    (problem,) = problems("services:\n  - name: a\n   team: [\n")
    assert problem.startswith("cat.yaml:3:") and "not valid YAML" in problem


def medic_check(catalog: Path) -> "subprocess.CompletedProcess[str]":
    medic = str(require_binary("medic"))
    env = {"MEDIC_CATALOG": str(catalog), "PATH": "/usr/bin:/bin"}
    return subprocess.run([medic, "check"], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_medic_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SHOP_YAML)
    ok = medic_check(good)
    assert ok.returncode == 0, ok.stderr
    assert "5 services" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  - name: a\n    team: t\n    calls: [ghost]\n")
    failed = medic_check(bad)
    assert failed.returncode == 1
    assert f"{bad}:4: services[0].calls[0]: unknown service 'ghost'" in failed.stderr
    missing = medic_check(tmp_path / "none.yaml")
    assert missing.returncode == 1 and "file not found" in missing.stderr


def test_generated_schemas_are_current() -> None:
    """docs/schemas/ is generated from the models: `python -m service.schemas` after changing them."""
    from service.schemas import SCHEMAS, render  # noqa: PLC0415

    for name, model in SCHEMAS.items():
        assert (REPO / "docs" / "schemas" / name).read_text() == render(model), f"regenerate {name}"
