"""The runtime: ``Circle``, the one object adapters, a command line or a scheduled job build from the
configuration (stores, secrets, rules, dead-letter sink), and ``Delivery``, its answer to one delivery.

    from core.runtime import Circle
    circle = Circle.from_env()
    delivery = circle.handle_delivery(payload, deadline=seconds_left)

Defined in ``core.handlers.runtime`` (so the handlers' compatibility wrappers can build one without an
import cycle between ``core.handlers`` and ``core.runtime``); this module is its public name.
"""

from __future__ import annotations

from core.handlers.dead_letter import DeadLetterSink, StoreDeadLetterSink
from core.handlers.runtime import Circle, Deadline, Delivery, DeliveryStatus, with_budget

__all__ = ["Circle", "DeadLetterSink", "Deadline", "Delivery", "DeliveryStatus", "StoreDeadLetterSink", "with_budget"]
