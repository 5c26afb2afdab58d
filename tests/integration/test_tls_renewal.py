"""A renewed Temporal client certificate is taken up: the process stops as on SIGTERM when its TLS files
change on disk, and Kubernetes starts it again with them.

cert-manager renews the certificate in its Secret and the kubelet updates the mounted files, but the
Temporal connection reads them only at start: a worker kept the certificate it started with until that
expired, then every reconnection failed, and nothing restarted it (its probes ask /metrics, not
Temporal). The TLS handshake itself is covered by test_temporal_tls.py; here the files are only
watched, so the stack's own plain connection serves."""

import asyncio
import logging
from pathlib import Path

import pytest

from service import runner
from service.runner import TLS_RENEWED, run_until_stopped
from tests.integration.test_remediation_workers import pollers
from tests.support.stack import medic_stack, wait_until

pytestmark = pytest.mark.integration


async def test_a_renewed_client_certificate_stops_the_worker_to_be_started_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "TLS_RECHECK_SECONDS", 0.05, raising=False)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nfirst\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nfirst\n-----END PRIVATE KEY-----\n")
    async with medic_stack(worker=False) as stack:
        settings = stack.settings.model_copy(
            update={"temporal_tls_cert": cert, "temporal_tls_key": key, "worker_metrics_port": 0}
        )
        worker = asyncio.create_task(
            run_until_stopped(settings, stack.client, api=False, worker=True, stop=asyncio.Event())
        )
        try:

            async def polling() -> bool:
                if worker.done():
                    worker.result()
                return await pollers(stack) >= 1

            await wait_until(polling, timeout=120, what="the worker to poll")
            assert not worker.done()
            with caplog.at_level(logging.WARNING, logger="service.runner"):
                cert.write_text("-----BEGIN CERTIFICATE-----\nrenewed\n-----END CERTIFICATE-----\n")
                # stopped by itself, cleanly, saying why: the CLI exits 75 then, so that a supervisor
                # restarting on failure only starts it again (an exit 0 left it stopped)
                assert await asyncio.wait_for(worker, timeout=30) == TLS_RENEWED
        finally:
            worker.cancel()
    assert any("tls.crt changed on disk" in r.getMessage() for r in caplog.records), caplog.text
