"""What Medic says at start about settings that leave it wide open (the worker, also under `medic dev`)."""

import logging

import pytest

from service.settings import Settings
from service.worker import warn_if_any_namespace


def test_any_namespace_is_said_loudly_naming_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.worker"):
        assert warn_if_any_namespace(Settings(_env_file=None))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "MEDIC_REMEDIATION_NAMESPACES" in record.getMessage() and "ANY namespace" in record.getMessage()


def test_an_allowlist_is_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.worker"):
        assert not warn_if_any_namespace(Settings(_env_file=None, remediation_namespaces=["shop"]))
    assert caplog.records == []
