"""In-process read cache with a maximum age, as Powertools' parameters utility does (300 s by default).

Serverless containers live for hours; caching keeps reads cheap, ``max_age`` bounds how long a rotated
credential can go unnoticed, and ``invalidate`` lets a caller that just saw a credential rejected read
the new one at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .api import SecretValue

DEFAULT_MAX_AGE = 300.0

CacheKey = tuple[str, str | None, str | None]  # (name, version, stage)


class SecretCache:
    """Thread-safe ``(name, version, stage) -> SecretValue`` map whose entries expire after ``max_age`` s."""

    def __init__(self, max_age: float = DEFAULT_MAX_AGE, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_age < 0:
            raise ValueError("max_age must be >= 0 (0 disables the cache)")
        self.max_age = float(max_age)
        self._clock = clock
        self._entries: dict[CacheKey, tuple[float, SecretValue]] = {}
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> SecretValue | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if self._clock() >= hit[0]:
                del self._entries[key]
                return None
            return hit[1]

    def put(self, key: CacheKey, value: SecretValue) -> None:
        if self.max_age <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.max_age, value)

    def invalidate(self, name: str | None = None) -> None:
        """Forget one secret's entries (every version and stage), or everything when ``name`` is None."""
        with self._lock:
            if name is None:
                self._entries.clear()
            else:
                for key in [k for k in self._entries if k[0] == name]:
                    del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
