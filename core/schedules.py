"""Schedule strings: one 5-field cron in the configuration (``[schedules]``), in each platform's form.

EventBridge Scheduler wants ``cron(min hour dom month dow year)`` with ``?`` in one of the day fields,
Azure Functions timers a 6-field NCRONTAB (seconds first), Cloud Scheduler unix cron as it is. Kept
apart from the job handlers so the configuration can validate schedules without importing them.
"""

from __future__ import annotations

import re

from core.errors import CircleError


class ScheduleError(CircleError, ValueError):
    """A schedule string that one of the platforms cannot run as written."""


_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?]+$")


def _fields(cron: str) -> list[str]:
    parts = cron.split()
    if len(parts) != 5 or not all(_FIELD.match(p) for p in parts):
        raise ScheduleError(f"{cron!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week)")
    return parts


def eventbridge_expression(cron: str) -> str:
    """``*/15 * * * *`` -> ``cron(*/15 * * * ? *)`` (EventBridge Scheduler: 6 fields, one of day-of-month
    and day-of-week must be ``?``); ``rate(...)``/``cron(...)`` pass through."""
    if cron.startswith(("rate(", "cron(", "at(")):
        return cron
    minute, hour, dom, month, dow = _fields(cron)
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    else:
        raise ScheduleError(f"{cron!r}: EventBridge cannot restrict both day-of-month and day-of-week")
    if dow not in ("?",) and dow.isdigit():
        dow = str(int(dow) % 7 + 1)  # cron 0=Sunday, EventBridge 1=Sunday
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def ncrontab_expression(cron: str) -> str:
    """``*/15 * * * *`` -> ``0 */15 * * * *`` (Azure Functions timer: seconds first)."""
    if cron.startswith(("rate(", "cron(", "at(")):
        raise ScheduleError(f"{cron!r}: Azure timers need a cron expression")
    return "0 " + " ".join(_fields(cron))


def cloud_scheduler_expression(cron: str) -> str:
    """Cloud Scheduler takes unix cron as it is (validated here)."""
    if cron.startswith(("rate(", "cron(", "at(")):
        raise ScheduleError(f"{cron!r}: Cloud Scheduler needs a unix cron expression")
    return " ".join(_fields(cron))
