"""Bearer JWT verification against an OIDC issuer's JWKS (PyJWT, imported on first use).

Checked: signature with a key from the issuer's JWKS (by ``kid``), ``alg`` in the configured allow-list
(``none`` and HS* can never be configured), ``iss``, ``aud``, ``exp``, ``nbf`` (with leeway), and ``sub``
present. Keys are cached; a token naming an unknown ``kid`` refetches the JWKS at most once per
``refresh_seconds`` (a rotated signing key is picked up, a flood of forged kids is not amplified).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .grants import Principal
from .types import ApiError

if TYPE_CHECKING:
    from core.config_http import JwtSettings

log = logging.getLogger("circle.http.auth")
Fetch = Callable[[str], dict[str, Any]]
MAX_TOKEN_BYTES = 16 * 1024


def fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET a JSON document (the JWKS, the discovery document)."""
    import urllib.request  # only when keys are fetched

    if not url.startswith(("https://", "http://")):
        raise ValueError("JWKS URLs are http(s)")
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        doc = json.loads(resp.read(1 << 20))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "Unauthenticated", message, {"www-authenticate": 'Bearer error="invalid_token"'})


class JwtVerifier:
    def __init__(
        self, settings: JwtSettings, *, fetch: Fetch = fetch_json, clock: Callable[[], float] = time.monotonic
    ):
        self.settings = settings
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests, metrics)

    def _jwks_url(self) -> str:
        if self.settings.jwks_url:
            return self.settings.jwks_url
        discovery = self._fetch(self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
        url = discovery.get("jwks_uri")
        if not isinstance(url, str):
            raise ValueError("the issuer's discovery document has no jwks_uri")
        return url

    def _refresh(self) -> None:
        import jwt

        doc = self._fetch(self._jwks_url())
        keys: dict[str, Any] = {}
        for raw in doc.get("keys", []):
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
                continue
            try:
                keys[str(raw.get("kid", ""))] = jwt.PyJWK(raw)
            except jwt.PyJWTError:
                continue  # an algorithm or curve we cannot use: skip it, keep the others
        self._keys = keys
        self.fetches += 1
        log.info("JWKS fetched", extra={"keys": len(keys)})

    def _key(self, kid: str) -> Any:
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self.settings.refresh_seconds:
                self._fetched_at = now
                try:
                    self._refresh()
                except Exception as exc:
                    log.error("JWKS fetch failed", extra={"error": type(exc).__name__, "reason": str(exc)[:200]})
                    raise ApiError(503, "ServiceUnavailable", "the token issuer's keys cannot be fetched") from None
            key = self._keys.get(kid)
        if key is None:
            raise _unauthenticated("the token's signing key is unknown")
        return key

    def verify(self, token: str) -> Principal:
        import jwt

        if len(token) > MAX_TOKEN_BYTES:
            raise _unauthenticated("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthenticated("the token is not a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.algorithms:
            raise _unauthenticated("the token's algorithm is not allowed")
        kid = header.get("kid")
        key = self._key(kid if isinstance(kid, str) else "")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise _unauthenticated("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise _unauthenticated("the token is from another issuer") from None
        except jwt.PyJWTError:
            raise _unauthenticated("the token is invalid") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _unauthenticated("the token has no subject")
        raw_groups = claims.get(self.settings.groups_claim, [])
        groups = tuple(g for g in raw_groups if isinstance(g, str)) if isinstance(raw_groups, list) else ()
        return Principal(f"sub:{sub}", groups, "jwt", claims)
