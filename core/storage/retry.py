"""One retry policy for every provider: exponential backoff with full jitter, an attempt cap and a
total time budget (obstore's defaults: 10 attempts, 3 minutes).

It is applied in exactly one place, ``Backend.call``, once per HTTP request. SDK-internal retries are
switched off in every provider and ``ObjectStore`` does not retry, so attempts never multiply.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import StorageError

T = TypeVar("T")
log = logging.getLogger("circle.storage.retry")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 10
    total_timeout: float = 180.0  # seconds, across all attempts and sleeps
    initial_backoff: float = 0.1
    max_backoff: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, initial * 2**attempt)]."""
        return random.uniform(0.0, min(self.max_backoff, self.initial_backoff * (2**attempt)))

    def call(self, fn: Callable[[], T], *, retryable: bool = True) -> T:
        """Run ``fn``; retry ``StorageError``s marked retryable while attempts and budget remain."""
        started = self.clock()
        attempt = 0
        while True:
            try:
                return fn()
            except StorageError as exc:
                attempt += 1
                if not (retryable and exc.retryable) or attempt >= self.max_attempts:
                    raise
                delay = self.backoff(attempt - 1)
                if self.clock() - started + delay > self.total_timeout:
                    raise
                # one WARNING per retry, with the attempt and the cause, so a slow or unreachable endpoint
                # is visible while it is retried (the command line prints these lines)
                log.warning(
                    "retrying after a failed attempt",
                    extra={
                        "operation": exc.operation,
                        "attempt": attempt,
                        "max_attempts": self.max_attempts,
                        "error": type(exc).__name__,
                        "reason": exc.reason,
                        "delay_s": round(delay, 3),
                    },
                )
                self.sleep(delay)


NO_RETRY = RetryPolicy(max_attempts=1)
