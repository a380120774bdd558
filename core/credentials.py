"""Where stores get ``secret://`` option values from, without ``core.storage`` importing ``core.secrets``.

A resolver turns option references (``{"secret_access_key": "secret://aws/s3-key#secret"}``) into values,
reading each secret once; ``refresh=True`` reads past any cache (a credential was just rejected).

- ``open_store(url, resolver=...)`` takes one explicitly: the runtime (``core.runtime.Circle``) passes its
  own to every store it opens, bound to its own secrets registry.
- Otherwise the one installed with ``install_resolver`` (a test, a program that wants one for the
  process) is used,
- else the default installed with ``install_default_resolver``: ``core.secrets`` installs its process
  registry's ``resolve_references`` when it is imported, so a program that registers secrets stores
  gets them resolved.
- With none of these (``core.secrets`` never imported), a ``secret://`` option is a ``NoResolverError``
  that says what to do; the storage package raises it as its ``InvalidArgument``.

This module names no other package and imports nothing from the rest of core but ``core.errors``:
it is the seam between storage and secrets (tests/test_architecture.py checks both directions, string
imports through ``importlib`` included).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from core.errors import CircleError


class Resolver(Protocol):
    """Resolve option references (option -> ``secret://...``) to their values."""

    def __call__(self, references: Mapping[str, str], *, refresh: bool = False) -> Mapping[str, str]: ...


class NoResolverError(CircleError, LookupError):
    """A ``secret://`` value was given where no resolver is known."""


PREFIX = "secret://"
_lock = threading.Lock()
_installed: Resolver | None = None
_default: Resolver | None = None


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def install_resolver(resolver: Resolver | None) -> Resolver | None:
    """Make ``resolver`` the one for stores opened without one; None goes back to the default.
    Returns the resolver it replaces (so a test or a program can put it back)."""
    global _installed
    with _lock:
        previous, _installed = _installed, resolver
    return previous


def install_default_resolver(resolver: Resolver | None) -> Resolver | None:
    """The fallback behind ``install_resolver`` (``core.secrets`` installs its own on import). Returns
    the default it replaces."""
    global _default
    with _lock:
        previous, _default = _default, resolver
    return previous


def current_resolver() -> Resolver:
    """The installed resolver, else the default one; ``NoResolverError`` when there is neither."""
    resolver = _installed or _default
    if resolver is None:
        raise NoResolverError(
            "secret:// option values need a resolver: pass open_store(..., resolver=...), open the store "
            "through core.runtime.Circle, or import core.secrets (which installs its registry as the default)",
            operation="resolve",
        )
    return resolver


__all__ = [
    "PREFIX",
    "NoResolverError",
    "Resolver",
    "current_resolver",
    "install_default_resolver",
    "install_resolver",
    "is_reference",
]
