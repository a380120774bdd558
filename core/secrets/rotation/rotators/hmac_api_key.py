"""HMAC API keys for Circle Core's own HTTP API: 32 random bytes, URL-safe base64.

Clients sign requests with the key; the API accepts a signature made with the ``current`` key or,
during the overlap the dual strategy keeps, the ``previous`` one. Nothing outside the secret needs to
change, so ``set`` is a no-op and ``cleanup`` has nothing to revoke (a discarded version is no longer
accepted because ``accepted_keys`` only reads ``current`` and ``previous``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _random
from collections.abc import Mapping
from typing import Any

from ...api import CURRENT, PREVIOUS
from ...errors import SecretNotFound, SecretsInvalidArgument
from ...store import SecretStore
from ..errors import RotationTestFailed
from . import Credential, RotatorContext, carry_over

KIND = "hmac_api_key"
KEY_BYTES = 32


def new_key() -> str:
    return _random.token_urlsafe(KEY_BYTES)


def _raw(key: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except (binascii.Error, ValueError):
        raise SecretsInvalidArgument("an HMAC API key is URL-safe base64") from None
    return raw


def sign(key: str, payload: bytes) -> str:
    """Hex HMAC-SHA256 of ``payload`` with ``key``."""
    return hmac.new(_raw(key), payload, hashlib.sha256).hexdigest()


def accepted_keys(store: SecretStore, name: str, *, include_previous: bool = True) -> list[tuple[str, str]]:
    """``[(key_id, key)]`` the API accepts now: current, then previous (while the strategy keeps it)."""
    stages = [CURRENT, PREVIOUS] if include_previous else [CURRENT]
    found: list[tuple[str, str]] = []
    for stage in stages:
        try:
            doc = json.loads(store.get(name, stage=stage))
        except (SecretNotFound, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("key"), str):
            found.append((str(doc.get("key_id", "")), doc["key"]))
    return found


def verify(store: SecretStore, name: str, payload: bytes, signature: str, *, key_id: str | None = None) -> bool:
    """Whether ``signature`` is a valid HMAC of ``payload`` under an accepted key (constant time)."""
    ok = False
    for kid, key in accepted_keys(store, name):
        if key_id is not None and kid != key_id:
            continue
        ok = hmac.compare_digest(sign(key, payload), signature) or ok
    return ok


class HmacApiKeyRotator:
    kind = KIND
    credential_fields = ("key", "key_id")

    def __init__(self, params: Mapping[str, Any]) -> None:
        unknown = set(params) - {"key_bytes"}
        if unknown:
            raise SecretsInvalidArgument(f"{KIND}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.key_bytes = int(params.get("key_bytes", KEY_BYTES))
        if self.key_bytes < 32:
            raise SecretsInvalidArgument(f"{KIND}: key_bytes must be at least 32")

    def create(self, ctx: RotatorContext) -> Credential:
        return carry_over(
            ctx.current, KIND, {"key_id": _random.token_hex(4), "key": _random.token_urlsafe(self.key_bytes)}
        )

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        return None  # the API reads its keys from the secret: nothing to install

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        key = pending.get("key")
        if not isinstance(key, str) or len(_raw(key)) < self.key_bytes:
            raise RotationTestFailed(f"{KIND}: the new key is not {self.key_bytes} random bytes")
        if ctx.current is not None and ctx.current.get("key") == key:
            raise RotationTestFailed(f"{KIND}: the new key equals the current one")

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        return None  # acceptance follows the stages; the engine discards ``previous`` for single

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        return None
