"""The secrets port: value and version types, stage names, and the ``SecretBackend`` each provider implements.

A backend maps a handful of primitives onto one service. What is the same everywhere (name and token
validation, caching, JSON documents, stage names) lives once in ``SecretStore`` (``store.py``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

Stage = Literal["current", "pending", "previous"]
CURRENT: Final = "current"
PENDING: Final = "pending"
PREVIOUS: Final = "previous"
STAGES: Final[tuple[str, ...]] = (CURRENT, PENDING, PREVIOUS)


class SecretValue:
    """A secret string that never shows itself in ``repr``/``str``/f-strings; call ``reveal()``.

    Holding values in this wrapper inside the library means a stray log call, a traceback with locals
    or a pytest assertion message prints ``SecretValue(***)`` instead of the credential.
    """

    __slots__ = ("_value", "version")

    def __init__(self, value: str, version: str | None = None) -> None:
        self._value = value
        self.version = version

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue(***, version={self.version!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value and other.version == self.version

    def __hash__(self) -> int:
        return hash((self._value, self.version))


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret. ``stages`` uses the portable names ``current``/``pending``/``previous``."""

    id: str
    stages: tuple[str, ...] = ()
    created: datetime | None = None
    enabled: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False)


class SecretBackend(ABC):
    """What one secrets service must do. Methods receive validated names, tokens and stage names.

    Semantics every backend keeps (``docs/secrets.md`` has the per-cloud mapping):

    - ``read`` with neither version nor stage reads the ``current`` version.
    - ``write`` adds a version, makes it ``current`` and the old current ``previous`` (creating the secret).
    - ``put_pending`` adds a ``pending`` version to an existing secret; a second call with the same token
      returns the first call's version and writes nothing.
    - ``promote`` makes a version ``current``, the old current ``previous``, and clears ``pending`` from it.
    - ``discard`` clears ``pending``/``previous`` from a version and disables it where the service can;
      it refuses the ``current`` version.
    """

    provider: str = "?"
    #: names this service accepts; checked before any call so bad input changes nothing
    name_pattern: re.Pattern[str] = re.compile(r"^[A-Za-z0-9_.\-/]{1,255}$")
    max_value_bytes: int = 64 * 1024
    read_only: bool = False
    #: versions can carry an expiry (Key Vault's ``expires``); ``SecretStore`` refuses one otherwise
    supports_expiry: bool = False

    def describe(self) -> str:
        """``scheme://where`` for messages and reprs; never contains credentials."""
        return f"{self.provider}://"

    @abstractmethod
    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        """Return the value (with its version id) of one version, or of the version holding ``stage``."""

    @abstractmethod
    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        """Add a version that becomes ``current``; return its id."""

    @abstractmethod
    def list_versions(self, name: str) -> list[SecretVersion]:
        """Every version still known to the service, oldest first."""

    @abstractmethod
    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        """Add a ``pending`` version keyed by ``token`` (idempotent); return its id."""

    @abstractmethod
    def promote(self, name: str, version: str) -> None:
        """``version`` becomes ``current``; the old current becomes ``previous``."""

    @abstractmethod
    def discard(self, name: str, version: str) -> None:
        """Drop ``pending``/``previous`` from ``version`` and disable it where possible."""

    def stages(self, name: str) -> dict[str, str]:
        """Stage name -> version id for the stages that are set."""
        found: dict[str, str] = {}
        for v in self.list_versions(name):  # oldest first: a later version wins a (transient) tie
            for stage in v.stages:
                found[stage] = v.id
        return found

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections."""


def promote_stages(stages: dict[str, str], version: str) -> dict[str, str]:
    """The stage map after promoting ``version`` (for services that keep stages as one map)."""
    new = dict(stages)
    old = new.get(CURRENT)
    if old != version:
        new[CURRENT] = version
        if old is not None:
            new[PREVIOUS] = old
        elif new.get(PREVIOUS) == version:
            del new[PREVIOUS]
    if new.get(PENDING) == version:
        del new[PENDING]
    if new.get(PREVIOUS) == version:
        del new[PREVIOUS]
    return new


def discard_stages(stages: dict[str, str], version: str) -> dict[str, str]:
    """The stage map after discarding ``version`` (the caller has checked it is not current)."""
    return {stage: v for stage, v in stages.items() if v != version or stage == CURRENT}
