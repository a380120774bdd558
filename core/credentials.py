"""Where stores get ``secret://`` option values from, without ``core.storage`` importing ``core.secrets``.

A resolver turns option references (``{"secret_access_key": "secret://aws/s3-key#secret"}``) into values,
reading each secret once; ``refresh=True`` reads past any cache (a credential was just rejected).
``open_store(url, resolver=...)`` takes one explicitly; otherwise the installed one is used
(``install_resolver``, e.g. by the runtime), and by default the secrets package's own
``resolve_references``, loaded by name on first use. Neither storage nor secrets imports the other:
this module is the seam between them (and imports neither at module level).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Protocol


class Resolver(Protocol):
    """Resolve option references (option -> ``secret://...``) to their values."""

    def __call__(self, references: Mapping[str, str], *, refresh: bool = False) -> Mapping[str, str]: ...


PREFIX = "secret://"
DEFAULT_MODULE = "core.secrets"  # its ``resolve_references`` is the built-in resolver
_lock = threading.Lock()
_installed: Resolver | None = None


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def install_resolver(resolver: Resolver | None) -> Resolver | None:
    """Make ``resolver`` the default for stores opened without one; None restores the built-in default.
    Returns the resolver it replaces (so a test or a runtime can put it back)."""
    global _installed
    with _lock:
        previous, _installed = _installed, resolver
    return previous


def current_resolver() -> Resolver:
    """The installed resolver, or the built-in one (the secrets package, imported on first use)."""
    resolver = _installed
    if resolver is not None:
        return resolver
    module = importlib.import_module(DEFAULT_MODULE)
    builtin: Resolver = module.resolve_references
    return builtin


__all__ = ["PREFIX", "Resolver", "current_resolver", "install_resolver", "is_reference"]
