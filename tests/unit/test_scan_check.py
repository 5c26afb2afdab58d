"""``medic check`` on ``anomaly.yaml`` as a field review met it (2026-12-06): every problem in one
pass (a duplicate name was said only once every other error was mended, a scan's unknown detector
only once its misspelt keys were), a "did you mean" for misspelt keys, the name rule in words, and a
``service:`` the catalog does not know (its incidents landed as P5 in the default channel)."""

import pytest

from medic.catalog import load_catalog
from medic.scan import load_anomaly_config
from medic.yamldoc import ConfigError
from tests.support.shop import SHOP_YAML


def _problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_anomaly_config(text, source="anomaly.yaml", **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in err.value.problems]


def test_a_duplicate_name_is_said_with_the_other_errors() -> None:
    text = "scans:\n  - name: memory\n    query: up\n    threshold: 50\n  - name: memory\n    query: up\n"
    assert _problems(text) == [
        "anomaly.yaml:4: scans[0].threshold: Input should be less than 1",
        "anomaly.yaml:5: scans[1].name: scan 'memory' is defined twice",
    ]


def test_a_scans_cross_field_checks_beside_its_misspelt_keys() -> None:
    text = (
        "scans:\n"
        "  - name: a\n    query: up\n    step_second: 60\n    treshold: 0.5\n    detector: ensamble\n"
        "  - name: b\n    query: up\n    service_lable: app\n    capacity: 0.9\n"
    )
    assert _problems(text) == [
        "anomaly.yaml:4: scans[0].step_second: Extra inputs are not permitted (did you mean 'step_seconds'?)",
        "anomaly.yaml:5: scans[0].treshold: Extra inputs are not permitted (did you mean 'threshold'?)",
        "anomaly.yaml:6: scans[0].detector: unknown 'ensamble' (did you mean 'ensemble'?); known: change,"
        " ensemble, knn, level, rhythm, still",
        "anomaly.yaml:7: scans[1].horizon_seconds: capacity and horizon_seconds go together"
        " (a prediction needs both)",
        "anomaly.yaml:9: scans[1].service_lable: Extra inputs are not permitted"
        " (did you mean 'service_label'?)",
    ]


def test_the_name_rules_are_said_in_words() -> None:
    text = "scans:\n  - name: Request_Rate\n    query: up\n    service: Storage Team\n"
    found = _problems(text)
    assert found == [
        "anomaly.yaml:2: scans[0].name: 'Request_Rate' is not a scan name: 1 to 63 lower-case letters,"
        " digits and dashes, beginning and ending with a letter or digit (it names the scan's Temporal"
        " Schedule and its state)",
        "anomaly.yaml:4: scans[0].service: 'Storage Team' is not a service name: up to 128 letters,"
        " digits and _ . : / -, beginning with a letter or digit",
    ]
    assert not any("^" in p or "pattern" in p for p in found)


def test_a_service_the_catalog_does_not_know_is_a_warning() -> None:
    """A warning, not an error: the worker runs the scan, and `medic check` is the chart's init
    container, so an error stopped the rollout of a configuration that ran (an owner review)."""
    catalog = load_catalog(SHOP_YAML)
    text = "scans:\n  - name: disk\n    query: up\n    service: {}\n"
    assert _problems(text.format("checkuot"), catalog=catalog) == [
        "anomaly.yaml:4: scans[0].service: warning: service 'checkuot' is not in the catalog (did you mean"
        " 'checkout'?): its anomalies would open incidents outside it (no owner: priority P5, the"
        " default channel)"
    ]
    assert load_anomaly_config(text.format("checkout"), source="a", catalog=catalog).scans
    # without a catalog (the worker's own load, a catalog of its own making) not checked here
    assert load_anomaly_config(text.format("checkuot"), source="a").scans


def test_a_misspelt_key_of_the_catalog_gets_a_hint_too() -> None:
    """The README promised "did you mean" for every file; a misspelt key got none anywhere."""
    with pytest.raises(ConfigError) as err:
        load_catalog("services:\n  - name: a\n    team: t\n    tier: 1\n    calss: [b]\n")
    assert "services[0].calss: Extra inputs are not permitted (did you mean 'calls'?)" in str(err.value)
