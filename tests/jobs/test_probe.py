"""Health probe against the emulators: a private fake-gcs-server is stopped mid-test; the report shows that
store down and the others up, and the alert hook fires exactly once per failure window."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import parse_config
from core.handlers.probe import AlertWindow, probe
from core.runtime import Circle
from scripts.emulators import Emulators, _spawn, _wait_http, fake_gcs_binary, free_port
from tests.jobs.support import RecordingAlerts, bucket_name, store_table

pytestmark = pytest.mark.xdist_group("jobs-emulators")


@pytest.fixture
def private_gcs(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A fake-gcs-server of this test's own (it is stopped by the test)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path / "gcs.log"
    proc = _spawn(
        [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-public-host", f"127.0.0.1:{port}", "-external-url", endpoint, "-backend", "memory", "-log-level", "error"],
        log,
    )  # fmt: skip
    try:
        _wait_http(f"{endpoint}/storage/v1/b", proc, log)
        yield endpoint, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def test_a_stopped_store_is_reported_down_and_alerts_once_per_window(
    emulators: Emulators, private_gcs: tuple[str, Any]
) -> None:
    from tests.rigs.gcs import create_bucket

    endpoint, proc = private_gcs
    bucket = bucket_name("probe")
    emulators.create_buckets(bucket)
    create_bucket(endpoint, bucket)
    stores = store_table(emulators, bucket, via={"gs": endpoint})
    stores["gs"]["retry"] = {"max_attempts": 1}
    circle = Circle.from_config(parse_config({"stores": stores}))
    now = [1000.0]
    circle._probe_alert_window = AlertWindow(window=600, clock=lambda: now[0])  # type: ignore[attr-defined]
    alerts = RecordingAlerts()

    healthy = probe(circle, alert=alerts)
    assert healthy.ok and (healthy.up, healthy.down) == (3, 0)
    for s in healthy.stores:
        assert set(s.latency_ms) == {"write", "read", "list", "delete"}
        assert all(ms > 0 for ms in s.latency_ms.values())
    for name in ("s3", "az", "gs"):  # no canary left behind
        assert list(circle.store(name).list(".circle/")) == []
    assert alerts.calls == []

    os.killpg(proc.pid, signal.SIGTERM)  # the GCS emulator goes away
    proc.wait(10)
    down = probe(circle, alert=alerts)
    assert not down.ok and (down.up, down.down) == (2, 1)
    assert down.store("gs").status == "down" and down.store("gs").failed_operation == "write"
    assert down.store("s3").status == "up" and down.store("az").status == "up"
    assert down.as_dict()["stores"][1]["status"] == "down"  # sorted by name: az, gs, s3
    assert [(k, key) for k, key, _ in alerts.calls] == [("probe", "gs")]

    now[0] += 300  # same failure window: no second alert
    assert probe(circle, alert=alerts).down == 1
    assert len(alerts.calls) == 1
    now[0] += 400  # the window has passed: one more
    assert probe(circle, alert=alerts).alerts == 1
    assert len(alerts.calls) == 2


def test_probe_reports_secrets_readable_or_not_with_unknown_expiry(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from core.secrets import register_secret_store, unregister_secret_store

    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text('{"token": "s3cr3t-value"}')
    register_secret_store("probevault", f"file://{secrets_file}")
    refs = ("secret://probevault/token#field", "secret://probevault/token", "secret://probevault/missing")
    config = SimpleNamespace(stores={}, secret_references=lambda: refs)
    circle = SimpleNamespace(config=config, monitor=None)
    alerts = RecordingAlerts()
    try:
        report = probe(circle, alert=alerts)
    finally:
        unregister_secret_store("probevault")
    secrets = {s.reference: s.as_dict() for s in report.secrets}
    assert list(secrets) == ["secret://probevault/token", "secret://probevault/missing"]  # one per secret
    assert secrets["secret://probevault/token"]["readable"] is True
    assert secrets["secret://probevault/token"]["expiry"] == "unknown"  # the file store has no expiry
    assert secrets["secret://probevault/missing"]["readable"] is False
    assert not report.ok and report.alerts == 1
    assert [(k, key) for k, key, _ in alerts.calls] == [("probe-secret", "secret://probevault/missing")]
    assert "s3cr3t" not in repr(report.as_dict())
