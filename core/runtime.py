"""The runtime: ``Circle``, the one object adapters, a command line or a scheduled job build from the
configuration (stores, secrets, rules, dead-letter sink), and ``Delivery``, its answer to one delivery.

    from core.runtime import Circle
    circle = Circle.from_env()
    delivery = circle.handle_delivery(payload, deadline=seconds_left)

Defined in ``core.handlers.runtime`` (so the handlers' compatibility wrappers can build one without an
import cycle between ``core.handlers`` and ``core.runtime``); this module is its public name.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.handlers.dead_letter import DeadLetterSink, StoreDeadLetterSink
    from core.handlers.runtime import Circle, Deadline, Delivery, DeliveryStatus, with_budget

# Resolved on first access (PEP 562): ``import core.runtime`` costs nothing until a name is used.
_LAZY = {
    **dict.fromkeys(("Circle", "Deadline", "Delivery", "DeliveryStatus", "with_budget"), "core.handlers.runtime"),
    **dict.fromkeys(("DeadLetterSink", "StoreDeadLetterSink"), "core.handlers.dead_letter"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["Circle", "DeadLetterSink", "Deadline", "Delivery", "DeliveryStatus", "StoreDeadLetterSink", "with_budget"]
