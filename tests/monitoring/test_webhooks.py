"""Alert webhooks against a small HTTP server on loopback that verifies the HMAC signature the way a
receiver should (timestamp + "." + body, constant-time compare, five-minute window)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.monitoring import MonitoringSettings, Recorder, Thresholds, Webhook
from core.monitoring.alerts import Alerter, sign, verify
from core.monitoring.hooks import probe_result, rotation_step

KEY = "whsec-test-key-0123456789"


class Receiver:
    """Answers each POST with the next status in ``script`` (200 when exhausted); ``hold`` makes it wait
    on an event before answering (a hung endpoint)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.hold: threading.Event | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                stamp, signature = (
                    self.headers.get("X-Circle-Timestamp", ""),
                    self.headers.get("X-Circle-Signature", ""),
                )
                if not verify(KEY.encode(), stamp, body, signature):
                    receiver.rejected += 1
                    status = 401
                else:
                    status = receiver.script.pop(0) if receiver.script else 200
                    if status == 200:
                        receiver.received.append({"body": json.loads(body), "headers": dict(self.headers)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    if r.hold is not None:
        r.hold.set()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hmac_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``secret://hooks/alert-key`` resolved through the secrets interface (an env:// store)."""
    from core.secrets import register_secret_store, unregister_secret_store

    monkeypatch.setenv("HOOKS_alert-key", KEY)
    register_secret_store("hooks", "env://HOOKS_")
    yield "secret://hooks/alert-key"
    unregister_secret_store("hooks")


def _monitor(receiver: Receiver, secret: str, **settings: Any) -> Recorder:
    hooks = (Webhook(receiver.url, secret),)
    return Recorder(MonitoringSettings(webhooks=hooks, **settings))


def test_a_signed_alert_reaches_the_receiver_once_per_window(receiver: Receiver, hmac_secret: str) -> None:
    monitor = _monitor(receiver, hmac_secret)
    probe_result(monitor, "backup", "write", ok=False, seconds=0.2, error="TransientError: 503")
    probe_result(monitor, "backup", "read", ok=False, seconds=0.1, error="TransientError: 503")  # same window
    monitor.flush()
    [got] = receiver.received
    assert receiver.rejected == 0
    assert got["body"]["kind"] == "probe" and got["body"]["key"] == "backup"
    assert got["body"]["message"] == "probe of backup failed at write: TransientError: 503"
    assert got["body"]["fields"] == {"operation": "write", "error": "TransientError: 503"}
    assert got["headers"]["Content-Type"] == "application/json"
    assert abs(int(got["headers"]["X-Circle-Timestamp"]) - time.time()) < 60
    assert got["headers"]["X-Circle-Signature"].startswith("sha256=")
    probe_result(monitor, "primary", "list", ok=False, seconds=0.1, error="x")  # another key: its own alert
    monitor.flush()
    assert [r["body"]["key"] for r in receiver.received] == ["backup", "primary"]


def test_a_wrong_key_is_rejected_by_the_receiver(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    alerter = Alerter((Webhook(receiver.url, "secret://x/y"),), budget=1.0, resolve=lambda ref: "not-the-key")
    alerter.alert("rotation", "db", "failed", {})
    alerter.deliver()
    assert receiver.received == [] and receiver.rejected >= 1  # retried, refused each time


def test_failures_are_retried_with_backoff_within_the_budget(receiver: Receiver, hmac_secret: str) -> None:
    receiver.script = [500, 503]
    monitor = _monitor(receiver, hmac_secret)
    rotation_step(monitor, "db-password", "test_secret", ok=False, seconds=1.0, error="login refused")
    started = time.monotonic()
    monitor.flush()
    took = time.monotonic() - started
    [got] = receiver.received
    assert got["body"]["kind"] == "rotation" and got["body"]["fields"]["step"] == "test_secret"
    assert 0.2 + 0.4 <= took < 3.0  # two pauses of the backoff, inside the 3 s budget


def test_a_hung_endpoint_costs_at_most_the_budget_and_the_alert_waits_for_the_next_flush(
    receiver: Receiver, hmac_secret: str
) -> None:
    receiver.hold = threading.Event()
    monitor = _monitor(receiver, hmac_secret, alert_budget_seconds=0.5)
    monitor.alert("replication", "mirror/dst", "failing")
    started = time.monotonic()
    monitor.flush()
    assert time.monotonic() - started < 1.0
    assert monitor.alerter.pending == 1  # kept, not dropped
    receiver.hold.set()
    receiver.hold = None
    monitor.alerter.budget = 3.0
    monitor.flush()
    assert monitor.alerter.pending == 0
    assert [r["body"]["key"] for r in receiver.received][-1] == "mirror/dst"


def test_webhook_kinds_filter_and_an_unreachable_url_never_raises(hmac_secret: str) -> None:
    hooks = (Webhook("http://127.0.0.1:9/none", hmac_secret, ("probe",)),)
    monitor = Recorder(MonitoringSettings(webhooks=hooks, alert_budget_seconds=0.3, thresholds=Thresholds()))
    monitor.alert("rotation", "db", "failed")
    assert monitor.alerter.pending == 0  # the only webhook wants probes
    monitor.alert("probe", "s", "down")
    monitor.flush()  # connection refused: logged, kept for the next flush, not raised
    assert monitor.alerter.pending == 1


def test_signature_rules() -> None:
    body = b'{"a":1}'
    now = 1_800_000_000
    good = sign(b"k", str(now), body)
    assert verify(b"k", str(now), body, good, now=now)
    assert not verify(b"k", str(now), body + b" ", good, now=now)
    assert not verify(b"other", str(now), body, good, now=now)
    assert not verify(b"k", str(now), body, good, now=now + 301)  # replayed too late
    assert not verify(b"k", "yesterday", body, good, now=now)
