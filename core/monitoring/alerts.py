"""Alert webhooks: HMAC-signed JSON POSTs to the URLs ``[[monitoring.webhooks]]`` names.

Why sent at flush, inside the invocation, with a short total budget: a serverless platform freezes
the process between invocations, so a background thread would stall mid-request and resume minutes
later (or never). ``flush()`` runs at the end of each invocation and gives all webhooks together at
most ``alert_budget_seconds`` (default 3 s): each attempt's timeout is cut to what is left, retries back
off 0.2 s, 0.4 s, ... within it. What the budget does not cover stays queued (at most 100 alerts) and
is tried again at the next flush of a warm instance; nothing ever raises into the handler.

Dedupe: ``alert(kind, key, ...)`` queues at most one alert per ``(kind, key)`` per failure window
(``thresholds.window_seconds``, per instance: each warm instance has its own window).

Signature (verify it before trusting the body):

    X-Circle-Timestamp: <unix seconds>
    X-Circle-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>

Reject a timestamp more than five minutes old (replays). Without ``secret`` the body is sent unsigned.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .api import Alert
from .settings import Webhook

log = logging.getLogger("circle.monitoring")

MAX_QUEUED = 100
FIRST_BACKOFF = 0.2
Resolve = Callable[[str], str]
Post = Callable[[str, bytes, dict[str, str], float], int]  # url, body, headers, timeout -> status


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Circle-Signature`` value for ``body`` sent at ``timestamp``."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp: str, body: bytes, signature: str, *, now: float | None = None) -> bool:
    """What a receiver does: constant-time compare, and refuse timestamps older than five minutes."""
    import hmac

    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    return abs(age) <= 300 and hmac.compare_digest(sign(key, timestamp, body), signature)


def _urllib_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST with the standard library, loaded only when an alert is sent (not on the cold path)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Alerter:
    """Queues alerts (deduplicated per window) and delivers them within a time budget."""

    def __init__(
        self,
        webhooks: tuple[Webhook, ...],
        *,
        window: float = 300.0,
        budget: float = 3.0,
        resolve: Resolve | None = None,
        post: Post | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.webhooks = webhooks
        self.window = window
        self.budget = budget
        self._resolve = resolve
        self._post = post or _urllib_post
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}  # (kind, key) -> when its last alert was queued
        self._queue: deque[tuple[Alert, Webhook, int]] = deque()  # alert, hook, attempts so far
        self._keys: dict[str, bytes] = {}
        self.sent = 0
        self.failed = 0

    def alert(self, kind: str, key: str, message: str, fields: dict[str, Any]) -> bool:
        """Queue an alert unless one for ``(kind, key)`` was queued within the window. True if queued."""
        now = self._clock()
        last = self._last.get((kind, key))
        if last is not None and now - last < self.window:
            return False
        self._last[(kind, key)] = now
        alert = Alert(kind, key, message, dict(fields), time.time())
        log.warning(
            "alert",
            extra={"alert_kind": kind, "alert_key": key, "alert_message": message, "alert_fields": fields},
        )
        for hook in self.webhooks:
            if hook.wants(kind):
                if len(self._queue) >= MAX_QUEUED:
                    dropped = self._queue.popleft()
                    log.error("alert queue full: dropped the oldest", extra={"alert_kind": dropped[0].kind})
                self._queue.append((alert, hook, 0))
        return True

    @property
    def pending(self) -> int:
        return len(self._queue)

    def deliver(self) -> None:
        """Send what is queued within the budget; never raises."""
        if not self._queue:
            return
        end = self._clock() + self.budget
        backoff = FIRST_BACKOFF
        while self._queue:
            left = end - self._clock()
            if left <= 0.05:
                break
            alert, hook, attempts = self._queue.popleft()
            if self._send(alert, hook, timeout=min(left, 2.0)):
                self.sent += 1
                continue
            attempts += 1
            if attempts >= 5:
                self.failed += 1
                log.error(
                    "alert webhook gave up after 5 attempts", extra={"webhook": repr(hook), "alert_kind": alert.kind}
                )
                continue
            self._queue.append((alert, hook, attempts))
            pause = min(backoff, max(0.0, end - self._clock() - 0.05))
            if pause > 0:
                time.sleep(pause)
            backoff *= 2
        if self._queue:
            log.warning(
                "alert webhooks: some left for the next flush (time budget spent)",
                extra={"pending": len(self._queue), "budget_seconds": self.budget},
            )

    def _send(self, alert: Alert, hook: Webhook, *, timeout: float) -> bool:
        body = json.dumps(alert.as_dict(), sort_keys=True, separators=(",", ":"), default=str).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Circle-Timestamp": timestamp, "User-Agent": "circle-core"}
        try:
            if hook.secret:
                headers["X-Circle-Signature"] = sign(self._key(hook.secret), timestamp, body)
            status = self._post(hook.url, body, headers, timeout)
        except Exception as exc:  # unreachable host, timeout, unresolvable secret: retried, never raised
            log.warning("alert webhook failed", extra={"webhook": repr(hook), "error": type(exc).__name__})
            return False
        if 200 <= status < 300:
            return True
        log.warning("alert webhook answered an error", extra={"webhook": repr(hook), "status": status})
        return False

    def _key(self, reference: str) -> bytes:
        key = self._keys.get(reference)
        if key is None:
            if self._resolve is None:
                from core.credentials import current_resolver

                value = current_resolver()({"key": reference})["key"]
            else:
                value = self._resolve(reference)
            key = self._keys[reference] = value.encode()
        return key

    def __repr__(self) -> str:
        return f"Alerter(webhooks={list(self.webhooks)!r}, pending={self.pending})"
