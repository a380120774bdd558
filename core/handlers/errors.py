"""``ReplicationFailed``, the exception adapters raise so the platform retries a delivery.

A module of its own (re-exported by ``core.handlers.storage_events``): adapters subclass it at import,
and on a platform that cannot cache bytecode (Lambda's read-only ``/var/task``) every module imported
at a cold start is compiled from source, so this one stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import EventResult


class ReplicationFailed(Exception):
    """Raised by adapters so the platform retries (or dead-letters) an event that did not converge."""

    def __init__(self, results: list[EventResult]) -> None:
        failed = [o for r in results if not r.dead_lettered for o in r.outcomes if o.failure is not None]
        super().__init__("; ".join(f"{o.target}/{o.key}: {o.reason}" for o in failed) or "replication failed")
        self.results = results


__all__ = ["ReplicationFailed"]
