"""The rotation state machine: create a pending credential, set it, test it, promote it (finish).

Every step is keyed by a version token and is idempotent: the token is written into the credential
document (``rotation_token``), so the engine recognises its own pending or already-promoted version in
any store, without per-provider bookkeeping. The invariant between any two steps is that the
``current`` version holds a working credential:

- ``create`` only adds a ``pending`` version (the rotator mints a credential next to the current one);
- ``set``/``test`` never touch ``current``; a failed test revokes the pending credential and discards
  its version, leaving ``current`` as it was;
- ``finish`` promotes (old current -> ``previous``, kept valid by the dual strategy for rollback and for
  readers still holding it), then lets the rotator revoke what the strategy no longer keeps.

Where the store keys versions by the token (AWS: the version id *is* the ``ClientRequestToken``), the
pending version whose id is the token is the rotation's, even when the engine did not write it: Secrets
Manager itself creates one holding a copy of the current value (``RotateImmediatelyOnUpdate: false``
then runs only ``testSecret``). Such an *adopted* version follows the AWS rotation protocol: ``create``
keeps its value, ``test`` checks the credential it holds (a seed document holds none: nothing to test),
``finish`` promotes it; and the engine never revokes a credential it did not mint.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from ..api import CURRENT, PENDING, PREVIOUS
from ..errors import SecretNotFound, SecretsError
from ..store import SecretStore
from .errors import RotationConflict, RotationError, RotationRefused, RotationTestFailed
from .rotators import Credential, Rotator, RotatorContext, holds_credential, without_credential
from .strategies import DUAL, Strategy

log = logging.getLogger("circle.secrets.rotation")

TOKEN_FIELD = "rotation_token"
_TOKEN_NAMESPACE = uuid.UUID("6f1c3b52-8d0e-4f5e-9a51-6c6f7265726f")


def new_token() -> str:
    """A fresh rotation token (the same shape as Secrets Manager's ClientRequestToken)."""
    return str(uuid.uuid4())


def token_for(delivery_id: str) -> str:
    """A token derived from a delivery id (Event Grid event id, Pub/Sub message id): a redelivered
    event resumes the same rotation instead of starting a second one."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, delivery_id))


@dataclass(frozen=True, slots=True)
class RotationResult:
    name: str
    token: str
    version: str | None
    #: what the last step did: created, set, tested, finished, already-current, rolled-back
    outcome: str


@dataclass(frozen=True, slots=True)
class _Loaded:
    version: str
    doc: Credential | None  # None when the value is not a JSON object

    def __repr__(self) -> str:
        return f"_Loaded(version={self.version!r})"

    @property
    def token(self) -> str | None:
        return None if self.doc is None else self.doc.get(TOKEN_FIELD)


@dataclass(frozen=True, slots=True)
class _Pending:
    """The pending version of a token, the state around it, and whether the engine minted it."""

    loaded: _Loaded
    current: _Loaded | None
    previous: _Loaded | None
    #: created by the service for the token (AWS), not minted by the engine: never revoked by it
    adopted: bool

    @property
    def doc(self) -> Credential:
        assert self.loaded.doc is not None
        return self.loaded.doc

    def ctx(self, engine: RotationEngine, token: str) -> RotatorContext:
        return engine._ctx(token, self.current, self.previous)


class RotationEngine:
    """Rotate one secret with one rotator and one strategy. Thread-safe within a process."""

    def __init__(self, secrets: SecretStore, name: str, rotator: Rotator, strategy: Strategy = DUAL) -> None:
        self.secrets = secrets
        self.name = name
        self.rotator = rotator
        self.strategy = strategy
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"RotationEngine({self.secrets.url!r}, {self.name!r}, rotator={self.rotator.kind!r}, "
            f"strategy={self.strategy.name!r})"
        )

    # -- reading the secret's state ----------------------------------------------------------------------
    def _load(self, stage: str | None = None, version: str | None = None) -> _Loaded | None:
        try:
            value = self.secrets.get_secret(self.name, stage=stage, version=version)
        except SecretNotFound:
            return None
        except SecretsError as exc:
            if exc.code in {"ResourceNotFoundException", "SecretHasNoValueException"}:
                return None  # an AWSPENDING version Secrets Manager created without a value yet
            raise
        try:
            doc = json.loads(value.reveal())
        except ValueError:
            doc = None
        return _Loaded(str(value.version), doc if isinstance(doc, dict) else None)

    def _ctx(self, token: str, current: _Loaded | None, previous: _Loaded | None) -> RotatorContext:
        return RotatorContext(
            self.name, token, self.strategy, current.doc if current else None, previous.doc if previous else None
        )

    def _fresh(self) -> tuple[_Loaded | None, _Loaded | None, _Loaded | None]:
        self.secrets.invalidate(self.name)
        return self._load(CURRENT), self._load(PENDING), self._load(PREVIOUS)

    def _log(self, message: str, token: str, version: str | None = None, **extra: object) -> None:
        log.info(
            message,
            extra={
                "secret_name": self.name,
                "rotation_token": token,
                "secret_version": version,
                "rotator": self.rotator.kind,
                "strategy": self.strategy.name,
                **extra,
            },
        )

    def _error(self, cls: type[RotationError], message: str, operation: str) -> RotationError:
        return cls(message, provider=self.secrets.provider, operation=operation, name=self.name)

    @staticmethod
    def _is_current(current: _Loaded | None, token: str) -> bool:
        return current is not None and (current.token == token or current.version == token)

    def _pending_for(self, token: str, operation: str) -> _Pending | None:
        """The pending version of ``token``, or None when ``token`` is already current."""
        current, pending, previous = self._fresh()
        if self._is_current(current, token):
            return None
        if pending is not None and pending.doc is not None and pending.token == token:
            return _Pending(pending, current, previous, adopted=False)
        if pending is not None and pending.doc is not None and pending.version == token:
            return _Pending(pending, current, previous, adopted=True)  # the service created it (AWS)
        raise self._error(
            RotationConflict,
            f"no pending version for token {token!r} (create it first, or another rotation replaced it)",
            operation,
        )

    def _revocable(self, pending: _Loaded, current: _Loaded | None, previous: _Loaded | None) -> bool:
        """Whether a stale pending credential is one the engine minted and nobody else uses: a copy of
        ``current``/``previous`` (Secrets Manager's own pending version) or a foreign value is never."""
        if pending.doc is None or pending.token is None or pending.doc.get("kind") != self.rotator.kind:
            return False
        others = [x for x in (current, previous) if x is not None]
        return all(pending.token != x.token and pending.doc != x.doc for x in others)

    def _adopted_ctx(self, token: str, pending: _Pending) -> RotatorContext:
        """The context for testing a version the engine did not mint: the current document without its
        credential (user, account, kind), so a copy of the current credential is tested, not refused."""
        base = pending.current.doc if pending.current and pending.current.doc else pending.loaded.doc
        previous = pending.previous.doc if pending.previous else None
        return RotatorContext(self.name, token, self.strategy, without_credential(self.rotator, base), previous)

    # -- the four steps ----------------------------------------------------------------------------------
    def create(self, token: str, *, expires_on: datetime | None = None) -> RotationResult:
        """Mint a credential and store it as the ``pending`` version keyed by ``token`` (with an expiry
        where the store has one: Key Vault's SecretNearExpiry then fires one period later)."""
        with self._lock:
            current, pending, previous = self._fresh()
            if self._is_current(current, token):
                assert current is not None
                return RotationResult(self.name, token, current.version, "already-current")
            if pending is not None and pending.token == token:
                return RotationResult(self.name, token, pending.version, "created")
            if pending is not None and pending.version == token:
                # AWS protocol: the token's version already holds a value (Secrets Manager wrote it): keep it
                if pending.doc is None:
                    raise self._error(
                        RotationConflict,
                        "the pending version of this token holds a value that is not a JSON credential document",
                        "create",
                    )
                self._log("pending version kept (created by the service)", token, pending.version)
                return RotationResult(self.name, token, pending.version, "adopted")
            ctx = self._ctx(token, current, previous)
            if pending is not None and self._revocable(pending, current, previous):
                assert pending.doc is not None
                # an abandoned rotation left a pending credential: revoke it before minting another
                self.rotator.cleanup(ctx, pending.doc)
                self._log("stale pending credential revoked", token, pending.version)
            doc = self.rotator.create(ctx)
            doc[TOKEN_FIELD] = token
            try:
                version = self.secrets.put_pending(self.name, doc, token, expires_on=expires_on)
                stored = self._load(version=version)
                if stored is None or stored.token != token:
                    raise self._error(
                        RotationError, "the secrets store did not keep the pending value for this token", "create"
                    )
            except BaseException:
                self._quiet_cleanup(ctx, doc, token)
                raise
            self._log("pending credential created", token, version)
            return RotationResult(self.name, token, version, "created")

    def set(self, token: str) -> RotationResult:
        """Install the pending credential where it must be known (idempotent)."""
        with self._lock:
            found = self._pending_for(token, "set")
            if found is None:
                return RotationResult(self.name, token, None, "already-current")
            pending, doc = found.loaded, found.doc
            if found.adopted and not holds_credential(self.rotator, doc):
                self._log("pending version holds no credential yet: nothing to set", token, pending.version)
            else:
                ctx = self._adopted_ctx(token, found) if found.adopted else found.ctx(self, token)
                self.rotator.set(ctx, doc)
                self._log("pending credential set", token, pending.version)
            return RotationResult(self.name, token, pending.version, "set")

    def test(self, token: str) -> RotationResult:
        """Check the pending credential works; on failure revoke it, discard it and raise."""
        with self._lock:
            found = self._pending_for(token, "test")
            if found is None:
                return RotationResult(self.name, token, None, "already-current")
            pending, doc = found.loaded, found.doc
            if found.adopted and not holds_credential(self.rotator, doc):
                if self._loses_credential(found):
                    self._unstage(pending, token)
                    raise self._error(
                        RotationTestFailed,
                        "the pending version the service created holds no credential while the current one "
                        "does; promoting it would lose the credential. The current credential is untouched",
                        "test",
                    )
                # Secrets Manager testing the configuration on a copy of a seed document: there is no
                # credential to prove yet; the rotator and its parameters were built, which is the check
                self._log("pending version holds no credential yet: nothing to test", token, pending.version)
                return RotationResult(self.name, token, pending.version, "tested")
            ctx = self._adopted_ctx(token, found) if found.adopted else found.ctx(self, token)
            try:
                self.rotator.test(ctx, doc)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, SecretsError) else type(exc).__name__
                if found.adopted:  # not ours (it may be the current credential): unstage it, revoke nothing
                    self._unstage(pending, token)
                else:
                    self._abandon(ctx, pending, token)
                raise self._error(
                    RotationTestFailed,
                    f"the new credential failed its test ({reason}); the current credential is untouched",
                    "test",
                ) from None
            self._log("pending credential tested", token, pending.version)
            return RotationResult(self.name, token, pending.version, "tested")

    def finish(self, token: str) -> RotationResult:
        """Promote the pending version and revoke what the strategy no longer keeps (idempotent)."""
        with self._lock:
            found = self._pending_for(token, "finish")
            if found is None:  # promoted already (a redelivery, or a crash after promote): finish retiring
                current, _, previous = self._fresh()
                assert current is not None and current.doc is not None
                self._retire(self._ctx(token, current, previous), current, previous, token)
                return RotationResult(self.name, token, current.version, "already-current")
            pending, current = found.loaded, found.current
            if found.adopted and self._loses_credential(found):
                raise self._error(
                    RotationConflict,
                    "the pending version holds no credential while the current one does: not promoted",
                    "finish",
                )
            self.secrets.promote(self.name, pending.version)
            self._log("pending credential promoted", token, pending.version)
            self._retire(self._ctx(token, current, None), pending, current, token)
            return RotationResult(self.name, token, pending.version, "finished")

    def rotate(self, token: str | None = None, *, expires_on: datetime | None = None) -> RotationResult:
        """All four steps with one token (a fresh one unless given: pass one to resume)."""
        token = token or new_token()
        with self._lock:
            self.create(token, expires_on=expires_on)
            self.set(token)
            self.test(token)
            return self.finish(token)

    def rollback(self) -> RotationResult:
        """Make ``previous`` current again (dual strategy: it is still valid)."""
        with self._lock:
            _, _, previous = self._fresh()
            if previous is None:
                raise self._error(RotationConflict, "no previous version to roll back to", "rollback")
            self.secrets.promote(self.name, previous.version)
            token = previous.token or ""
            self._log("rolled back to previous credential", token, previous.version)
            return RotationResult(self.name, token, previous.version, "rolled-back")

    # -- helpers -------------------------------------------------------------------------------------------
    def _same_credential(self, a: Credential | None, b: Credential | None) -> bool:
        fields = getattr(self.rotator, "credential_fields", ()) or tuple(set(a or {}) | set(b or {}))
        return all((a or {}).get(f) == (b or {}).get(f) for f in fields)

    def _loses_credential(self, found: _Pending) -> bool:
        """Whether promoting ``found`` would replace a credential with a document holding none."""
        current = found.current.doc if found.current else None
        return not holds_credential(self.rotator, found.loaded.doc) and holds_credential(self.rotator, current)

    def _unstage(self, pending: _Loaded, token: str) -> None:
        try:
            self.secrets.discard(self.name, pending.version)
        except SecretsError as exc:
            self._log("pending version left staged", token, pending.version, error=exc.reason)
            return
        self._log("pending version unstaged (not minted here: nothing revoked)", token, pending.version)

    def _retire(self, ctx: RotatorContext, current: _Loaded, previous: _Loaded | None, token: str) -> None:
        ctx = RotatorContext(ctx.name, ctx.token, ctx.strategy, current.doc, previous.doc if previous else None)
        assert current.doc is not None
        if previous is not None and self._same_credential(current.doc, previous.doc):
            # a copy of the old credential was promoted (Secrets Manager's own pending version): nothing
            # new exists, so nothing is retired; the next real rotation makes room as usual
            self._log("promoted version holds the previous credential: nothing to retire", token, current.version)
            return
        self.rotator.finish(ctx, current.doc)
        if not self.strategy.keep_previous and previous is not None and previous.version != current.version:
            self.secrets.discard(self.name, previous.version)
            self._log("previous credential revoked", token, previous.version)

    def _abandon(self, ctx: RotatorContext, pending: _Loaded, token: str) -> None:
        assert pending.doc is not None
        self._quiet_cleanup(ctx, pending.doc, token)
        try:
            self.secrets.discard(self.name, pending.version)
        except SecretsError as exc:  # left pending: the next create revokes it
            self._log("pending version left for cleanup", token, pending.version, error=exc.reason)
            return
        self._log("pending credential discarded", token, pending.version)

    def _quiet_cleanup(self, ctx: RotatorContext, doc: Credential, token: str) -> None:
        try:
            self.rotator.cleanup(ctx, doc)
        except Exception as exc:  # the next create (or finish) retires it; never mask the first error
            reason = exc.reason if isinstance(exc, SecretsError) else type(exc).__name__
            log.warning(
                "pending credential cleanup failed",
                extra={"secret_name": self.name, "rotation_token": token, "error": reason},
            )


__all__ = [
    "RotationConflict",
    "RotationEngine",
    "RotationError",
    "RotationRefused",
    "RotationResult",
    "RotationTestFailed",
    "new_token",
    "token_for",
]
