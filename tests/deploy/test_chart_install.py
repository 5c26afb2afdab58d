"""Findings of a first install, walked through from the docs (each verified by the tester), kept fixed:
the image, the README's receiver, the chart's rendered objects and the rules they ship."""

import re
import tomllib

from tests.deploy.test_helm_chart import ROOT


def test_the_image_installs_the_otel_extra_the_tracing_docs_need() -> None:
    """docs/deployment.md's traces need the OpenTelemetry SDK and exporter: without the extra in the
    published image, MEDIC_OTEL_ENDPOINT only logged that OpenTelemetry is not installed."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    installs = re.findall(r"pip install '?\.\[([a-z0-9_,-]+)\]'?", dockerfile)
    assert installs, "the image installs Medic with its extras"
    extras = {extra for found in installs for extra in found.split(",")}
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "otel" in extras and extras <= set(defined) - {"dev"}
