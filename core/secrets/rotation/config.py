"""The ``[[rotation]]`` tables of the configuration, validated with errors that name the field.

    [[rotation]]
    secrets = "aws-sm://eu-west-1"     # a secrets URL, or the name of a registered store
    secret = "circle/replication"      # the secret's name in that store (an AWS ARN also matches)
    rotator = "aws_iam_access_key"     # see core.secrets.rotation.rotators.ROTATORS
    strategy = "dual"                  # or "single"
    [rotation.params]
    user_name = "circle-replicator"

``core.config`` reads the rest of the file; this parser takes the same dict (``data["rotation"]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.documents import ConfigError

from .rotators import ROTATORS
from .strategies import STRATEGIES

_FIELDS = {"secrets", "secret", "rotator", "strategy", "params", "expires_in_days"}


@dataclass(frozen=True, slots=True)
class RotationSpec:
    secrets: str
    secret: str
    rotator: str
    strategy: str = "dual"
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Key Vault: the expiry written on each new version (SecretNearExpiry fires 30 days before it)
    expires_in_days: int = 90

    def matches(self, name: str) -> bool:
        """Whether ``name`` (a secret name, or an AWS ARN ``...:secret:<name>-XXXXXX``) is this secret."""
        if name == self.secret:
            return True
        if ":secret:" in name:
            tail = name.rsplit(":secret:", 1)[1]
            return tail == self.secret or tail.rsplit("-", 1)[0] == self.secret
        return False


def parse_rotations(data: Mapping[str, Any]) -> tuple[RotationSpec, ...]:
    """Validate ``data["rotation"]`` (absent = no rotations)."""
    raw = data.get("rotation", [])
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError("rotation: expected an array of tables ([[rotation]])")
    specs = tuple(_parse(i, item) for i, item in enumerate(raw))
    seen: set[tuple[str, str]] = set()
    for i, spec in enumerate(specs):
        key = (spec.secrets, spec.secret)
        if key in seen:
            raise ConfigError(f"rotation[{i}].secret: {spec.secret!r} in {spec.secrets!r} is declared twice")
        seen.add(key)
    return specs


def _string(raw: Mapping[str, Any], where: str, name: str, *, default: str | None = None) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{name}: expected a non-empty string")
    return value


def _parse(index: int, raw: Any) -> RotationSpec:
    where = f"rotation[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    secrets = _string(raw, where, "secrets")
    secret = _string(raw, where, "secret")
    rotator = _string(raw, where, "rotator")
    if rotator not in ROTATORS:
        raise ConfigError(f"{where}.rotator: unknown rotator {rotator!r} (known: {', '.join(sorted(ROTATORS))})")
    strategy = _string(raw, where, "strategy", default="dual")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}.strategy: unknown strategy {strategy!r} (known: {', '.join(sorted(STRATEGIES))})")
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.params: expected a table")
    expires = raw.get("expires_in_days", 90)
    if not isinstance(expires, int) or isinstance(expires, bool) or not 31 <= expires <= 3650:
        raise ConfigError(
            f"{where}.expires_in_days: expected an integer from 31 to 3650 (Key Vault warns 30 days before expiry)"
        )
    return RotationSpec(
        secrets=secrets, secret=secret, rotator=rotator, strategy=strategy, params=dict(params), expires_in_days=expires
    )


def _store_host(url: str) -> tuple[str, str] | None:
    """(scheme, host) of a secrets URL such as ``keyvault://myvault`` (None for a registered store name)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    return scheme.lower(), rest.split("/", 1)[0].lower()


def find_forced(specs: Sequence[RotationSpec], scheme: str, store: str, name: str) -> RotationSpec | None:
    """The spec that allows forcing a rotation of secret ``name`` in store ``store`` of ``scheme``
    (``keyvault``: the vault name, or its host). Only secrets named in ``[[rotation]]`` are forceable:
    an HTTP trigger must not rotate whatever a caller names."""
    wanted = store.strip().lower()
    if not wanted:
        return None
    for spec in specs:
        where = _store_host(spec.secrets)
        if where is None or where[0] != scheme.lower():
            continue
        host = where[1]
        if (host == wanted or host.split(".", 1)[0] == wanted) and spec.secret == name:
            return spec
    return None


def find_spec(specs: Sequence[RotationSpec], name: str) -> RotationSpec | None:
    """The spec declared for secret ``name`` (or ARN), if any."""
    return next((s for s in specs if s.matches(name)), None)


def load_rotations(path: str | None = None) -> tuple[RotationSpec, ...]:
    """The ``[[rotation]]`` specs of the file ``path`` or ``CIRCLE_CONFIG`` (none when neither is set)."""
    import os

    from core.documents import read_document

    path = path or os.environ.get("CIRCLE_CONFIG")
    if not path:
        return ()
    data = read_document(path)
    return parse_rotations(data)
