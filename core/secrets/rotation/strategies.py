"""Rotation strategies: which credential slot to replace and whether the old credential stays valid.

- ``dual``: two credentials live side by side (two IAM keys, key1/key2, two HMAC keys). A rotation
  replaces the one *not* in use and keeps the previous one valid until the next rotation, so a
  reader holding a cached credential never sees a failure it cannot cure by re-reading the secret.
- ``single``: one credential only. The previous one is revoked as soon as the new one is promoted
  (for slot-based systems the slot in use is replaced in place: expect a short window of failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SecretsInvalidArgument


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    #: keep the previous credential valid after ``finish`` (revoked only by the next rotation)
    keep_previous: bool

    def choose_slot(self, slots: Sequence[str], in_use: str | None) -> str:
        """The slot to regenerate: the one not in use (dual), or the one in use (single)."""
        if not slots:
            raise SecretsInvalidArgument("a slot-based rotator needs at least one slot")
        if in_use is None or in_use not in slots:
            return slots[0] if not self.keep_previous else slots[-1]
        if not self.keep_previous:
            return in_use
        index = list(slots).index(in_use)
        return slots[(index + 1) % len(slots)]


DUAL = Strategy("dual", keep_previous=True)
SINGLE = Strategy("single", keep_previous=False)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (DUAL, SINGLE)}


def strategy_for(name: str | Strategy) -> Strategy:
    """``"dual"``/``"single"`` (or a ``Strategy``) -> ``Strategy``; unknown names are a typed error."""
    if isinstance(name, Strategy):
        return name
    found = STRATEGIES.get(name) if isinstance(name, str) else None
    if found is None:
        raise SecretsInvalidArgument(
            f"unknown rotation strategy {name!r}; expected one of {', '.join(sorted(STRATEGIES))}"
        )
    return found
