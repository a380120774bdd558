"""What the storage-event handler answers for one event: ``EventResult`` (the outcome of each target).

Its own module so that adapters naming it (``core.handlers.storage_events.EventResult``) do not load
the replication engine at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.events import StorageEvent

    from .failures import FailureClass
    from .replication import Outcome

_SEVERITY: dict[FailureClass, int] = {"retryable": 1, "permanent": 2, "configuration": 3}


@dataclass
class EventResult:
    event: StorageEvent
    outcomes: list[Outcome] = field(default_factory=list)
    dead_lettered: bool = False

    @property
    def ok(self) -> bool:
        return all(o.failure is None for o in self.outcomes)

    @property
    def failure(self) -> FailureClass | None:
        """``retryable`` when any target may still converge by retrying, else the gravest class."""
        classes = {o.failure for o in self.outcomes if o.failure is not None}
        if not classes:
            return None
        if "retryable" in classes:
            return "retryable"
        return max(classes, key=lambda c: _SEVERITY[c])

    @property
    def reason(self) -> str:
        return "; ".join(f"{o.target}/{o.key}: {o.reason}" for o in self.outcomes if o.failure is not None)

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "event_id": e.event_id,
            "provider": e.provider,
            "kind": e.kind,
            "bucket": e.bucket,
            "key": e.key,
            "ok": self.ok,
            "failure": self.failure,
            "dead_lettered": self.dead_lettered,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


__all__ = ["EventResult"]
