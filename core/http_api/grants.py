"""Authorization: deny by default; a ``Grant`` lets a principal do actions under key prefixes of stores.

Prefixes compare on whole segments: every configured prefix ends in ``/`` (checked at load), so a grant
on ``reports/`` never reaches ``reports-old/``; a key with a ``.`` or ``..`` segment matches no prefix
grant at all (it could name something outside the prefix on a file store).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .types import ApiError


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``sub:<subject>`` or ``key:<api key id>``, plus ``group:<g>`` for each group."""

    id: str
    groups: tuple[str, ...] = ()
    scheme: str = "jwt"  # or "api_key"
    claims: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def names(self) -> set[str]:
        return {self.id, *(f"group:{g}" for g in self.groups)}


def _safe(key: str) -> bool:
    return not any(seg in (".", "..") for seg in key.split("/"))


def within(prefix: str, key: str) -> bool:
    """Whether ``key`` (an object key or a listing prefix) lies under the grant ``prefix``."""
    if not prefix:
        return True
    return key.startswith(prefix) and _safe(key)


class Grants:
    def __init__(self, grants: Sequence[object]) -> None:
        self._grants = list(grants)

    def _mine(self, principal: Principal) -> Iterable[object]:
        names = principal.names
        return (g for g in self._grants if getattr(g, "principal", None) in names)

    def allows(self, principal: Principal, action: str, store: str | None = None, key: str | None = None) -> bool:
        for grant in self._mine(principal):
            if action not in grant.actions:  # type: ignore[attr-defined]
                continue
            stores = grant.stores  # type: ignore[attr-defined]
            if store is not None and "*" not in stores and store not in stores:
                continue
            if key is None or any(within(p, key) for p in grant.prefixes):  # type: ignore[attr-defined]
                return True
        return False

    def require(self, principal: Principal, action: str, store: str | None = None, key: str | None = None) -> None:
        if not self.allows(principal, action, store, key):
            raise ApiError(403, "PermissionDenied", f"no grant allows {action} here")

    def stores_for(self, principal: Principal, configured: Iterable[str]) -> list[str]:
        """The configured stores the principal holds any grant on."""
        mine = list(self._mine(principal))
        return sorted(s for s in configured if any("*" in g.stores or s in g.stores for g in mine))  # type: ignore[attr-defined]
