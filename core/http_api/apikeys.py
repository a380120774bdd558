"""API keys for the HTTP API, HMAC-hashed at rest in the secrets store, and their rotator.

A caller presents ``<key_id>.<secret>`` (``Authorization: ApiKey ...`` or ``X-Api-Key``). The secret
named in ``[http] api_keys`` holds only ``{"kind": "http_api_key", "key_id", "salt", "digest"}`` with
``digest = HMAC-SHA256(salt, secret)``: reading the secrets store does not reveal a usable key. The
``current`` and ``previous`` versions are both accepted, so with the ``dual`` strategy the old key keeps
working until the next rotation. Comparison is constant-time (``hmac.compare_digest``).

Rotation (``rotator = "http_api_key"`` in ``[[rotation]]``): ``create`` mints a key and stores its
digest; the plaintext exists only in the rotator and is returned once by ``POST /admin/rotate/{secret}``
(a scheduled rotation cannot hand it to anyone: rotate API keys through the admin route).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as _random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .grants import Principal
from .types import ApiError

if TYPE_CHECKING:
    from core.secrets import SecretStore
    from core.secrets.rotation.rotators import Credential, RotatorContext

KIND = "http_api_key"
SECRET_BYTES = 32
MAX_PRESENTED = 256
log = logging.getLogger("circle.http.auth")


def digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def issue(key_id: str) -> tuple[str, dict[str, str]]:
    """A new key: (what the client presents, the document stored in the secrets store)."""
    if not key_id or "." in key_id or not key_id.isascii():
        raise ValueError("a key id is non-empty ASCII without '.'")
    secret = _random.token_urlsafe(SECRET_BYTES)
    salt = _random.token_hex(16)
    return f"{key_id}.{secret}", {"kind": KIND, "key_id": key_id, "salt": salt, "digest": digest(salt, secret)}


class ApiKeys:
    """The accepted key digests, read from the secrets store and cached for ``max_age`` seconds (so a key
    retired by the next rotation stops working within a minute); an unknown key re-reads them at most
    once per ``refresh_seconds`` (a key rotated a moment ago works)."""

    def __init__(
        self,
        secrets: Callable[[], SecretStore | None],
        names: Sequence[str],
        *,
        max_age: float = 60.0,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secrets = secrets
        self._names = tuple(names)
        self._max_age = max_age
        self._refresh = refresh_seconds
        self._clock = clock
        self._docs: dict[str, list[dict[str, Any]]] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        from core.secrets.api import CURRENT, PREVIOUS

        store = self._secrets()
        if store is None:
            raise ApiError(503, "ServiceUnavailable", "API keys are configured but no secrets store is")
        docs: dict[str, list[dict[str, Any]]] = {}
        for name in self._names:
            store.invalidate(name)
            for stage in (CURRENT, PREVIOUS):
                try:
                    doc = store.get_json(name, stage=stage)
                except Exception as exc:  # a missing stage (no previous yet) or an unreadable version
                    if stage == CURRENT:
                        log.warning(
                            "API key secret unreadable", extra={"secret_name": name, "error": type(exc).__name__}
                        )
                    continue
                if doc.get("kind") == KIND and isinstance(doc.get("key_id"), str):
                    docs.setdefault(doc["key_id"], []).append(doc)
        self._docs = docs
        self._loaded_at = self._clock()

    def _candidates(self, key_id: str, *, refresh: bool) -> list[dict[str, Any]]:
        with self._lock:
            now = self._clock()
            stale = self._loaded_at is None or now - self._loaded_at >= self._max_age
            if stale or (refresh and now - (self._loaded_at or 0) >= self._refresh):
                self._load()
            return list(self._docs.get(key_id, ()))

    def invalidate(self) -> None:
        """Forget the cached digests (after a rotation in this process)."""
        with self._lock:
            self._loaded_at = None

    def verify(self, presented: str) -> Principal:
        key_id, sep, secret = presented.strip().partition(".")
        if not sep or not key_id or not secret or len(presented) > MAX_PRESENTED:
            raise ApiError(401, "Unauthenticated", "malformed API key")
        for refresh in (False, True):
            ok = False
            for doc in self._candidates(key_id, refresh=refresh):
                try:
                    ok = hmac.compare_digest(digest(str(doc["salt"]), secret), str(doc["digest"])) or ok
                except (KeyError, ValueError):
                    continue
            if ok:
                return Principal(f"key:{key_id}", (), "api_key")
        raise ApiError(401, "Unauthenticated", "the API key is not valid")


class HttpApiKeyRotator:
    """Rotator for ``http_api_key`` secrets (see the module docstring). Params: ``key_id`` (or carried
    over from the current document)."""

    kind = KIND
    credential_fields = ("digest", "salt")

    def __init__(self, params: Mapping[str, Any]) -> None:
        unknown = set(params) - {"key_id"}
        if unknown:
            from core.secrets.errors import SecretsInvalidArgument

            raise SecretsInvalidArgument(f"{KIND}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.key_id = params.get("key_id")
        self.issued: str | None = None  # the plaintext of the key minted by create (never stored)

    def create(self, ctx: RotatorContext) -> Credential:
        from core.secrets.rotation.rotators import carry_over, require

        key_id = require({"key_id": self.key_id} if self.key_id else {}, "key_id", KIND, ctx.current)
        presented, doc = issue(key_id)
        self.issued = presented
        return carry_over(ctx.current, KIND, doc)

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        return None  # the API reads the digests from the secret: nothing to install

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        from core.secrets.rotation.errors import RotationTestFailed

        try:
            ok = len(bytes.fromhex(str(pending.get("salt")))) >= 16 and len(str(pending.get("digest"))) == 64
        except ValueError:
            ok = False
        if not ok:
            raise RotationTestFailed(f"{KIND}: the new document has no salt and digest")
        if ctx.current is not None and ctx.current.get("digest") == pending.get("digest"):
            raise RotationTestFailed(f"{KIND}: the new key equals the current one")

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        return None

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        return None
