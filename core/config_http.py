"""The ``[http]`` table of circle.toml: the HTTP API's authentication, grants and limits (issue 10).
Apart from ``core.config`` so that importing the configuration parser builds none of these dataclasses
(cold start); ``core.config`` re-exports the types and calls ``parse_http``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, _expect, _unknown_fields
from core.config_model import StoreConfig

# -- [http]: the HTTP API (auth, grants, limits) - owned by the http area ---------------------------------
HTTP_FIELDS = (
    "max_body_bytes",
    "redirect_above_bytes",
    "redirect_expires",
    "max_presign_seconds",
    "jwt",
    "api_keys",
    "grants",
)
JWT_FIELDS = ("issuer", "audience", "jwks_url", "algorithms", "groups_claim", "leeway_seconds", "refresh_seconds")
GRANT_FIELDS = ("principal", "stores", "prefixes", "actions")
HTTP_ACTIONS = ("read", "write", "delete", "presign", "admin")
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """Bearer JWTs from one OIDC issuer, verified against its JWKS (asymmetric algorithms only)."""

    issuer: str
    audience: str
    jwks_url: str | None = None  # None: discovered from {issuer}/.well-known/openid-configuration
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    groups_claim: str = "groups"
    leeway_seconds: int = 30
    refresh_seconds: float = 30.0  # an unknown kid refetches the JWKS at most this often


@dataclass(frozen=True, slots=True)
class Grant:
    """``principal`` (``sub:<subject>``, ``group:<group>``, ``key:<api key id>``) may do ``actions`` on keys
    under ``prefixes`` (each "" or ending in "/") of ``stores`` (``*``: every store)."""

    principal: str
    stores: tuple[str, ...]
    prefixes: tuple[str, ...] = ("",)
    actions: tuple[str, ...] = ("read",)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    max_body_bytes: int | None = None  # None: the adapter's platform limit
    redirect_above_bytes: int | None = None  # None: the adapter's platform limit
    redirect_expires: int = 300
    max_presign_seconds: int = 3600
    jwt: JwtSettings | None = None
    api_keys: tuple[str, ...] = ()  # secret names (in [secrets] url) holding hashed API keys
    grants: tuple[Grant, ...] = ()


def parse_http(raw: Any, stores: Mapping[str, StoreConfig]) -> HttpSettings | None:
    """The validated ``[http]`` table, or None when the file has none."""
    if raw is None:
        return None
    _expect(raw, dict, "http")
    _unknown_fields(raw, HTTP_FIELDS, "http")
    sizes = {}
    for name in ("max_body_bytes", "redirect_above_bytes", "redirect_expires", "max_presign_seconds"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"http.{name}: expected a positive integer")
        sizes[name] = value
    keys = raw.get("api_keys", [])
    _expect(keys, list, "http.api_keys")
    if not all(isinstance(k, str) and k for k in keys):
        raise ConfigError("http.api_keys: expected an array of secret names")
    raw_grants = raw.get("grants", [])
    _expect(raw_grants, list, "http.grants")
    return HttpSettings(
        max_body_bytes=sizes["max_body_bytes"],
        redirect_above_bytes=sizes["redirect_above_bytes"],
        redirect_expires=sizes["redirect_expires"] or 300,
        max_presign_seconds=sizes["max_presign_seconds"] or 3600,
        jwt=_parse_jwt(raw["jwt"]) if "jwt" in raw else None,
        api_keys=tuple(keys),
        grants=tuple(_parse_grant(i, g, stores) for i, g in enumerate(raw_grants)),
    )


def _parse_jwt(raw: Any) -> JwtSettings:
    _expect(raw, dict, "http.jwt")
    _unknown_fields(raw, JWT_FIELDS, "http.jwt")
    for name in ("issuer", "audience"):
        _expect(raw.get(name), str, f"http.jwt.{name}")
    jwks = raw.get("jwks_url")
    if jwks is not None and (not isinstance(jwks, str) or not jwks.startswith(("https://", "http://"))):
        raise ConfigError("http.jwt.jwks_url: expected an https:// URL")
    algorithms = raw.get("algorithms", ["RS256", "ES256"])
    _expect(algorithms, list, "http.jwt.algorithms")
    bad = [a for a in algorithms if a not in JWT_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(
            f"http.jwt.algorithms: {bad or 'empty'} not allowed; expected some of {', '.join(JWT_ALGORITHMS)} "
            "(never none, never a shared-secret HS* algorithm)"
        )
    groups = raw.get("groups_claim", "groups")
    _expect(groups, str, "http.jwt.groups_claim")
    leeway = raw.get("leeway_seconds", 30)
    refresh = raw.get("refresh_seconds", 30)
    if not isinstance(leeway, int) or isinstance(leeway, bool) or not 0 <= leeway <= 300:
        raise ConfigError("http.jwt.leeway_seconds: expected an integer from 0 to 300")
    if not isinstance(refresh, int | float) or isinstance(refresh, bool) or refresh < 0:
        raise ConfigError("http.jwt.refresh_seconds: expected a non-negative number")
    return JwtSettings(
        issuer=raw["issuer"],
        audience=raw["audience"],
        jwks_url=jwks,
        algorithms=tuple(algorithms),
        groups_claim=groups,
        leeway_seconds=leeway,
        refresh_seconds=float(refresh),
    )


def _parse_grant(index: int, raw: Any, stores: Mapping[str, StoreConfig]) -> Grant:
    where = f"http.grants[{index}]"
    _expect(raw, dict, where)
    _unknown_fields(raw, GRANT_FIELDS, where)
    principal = raw.get("principal")
    _expect(principal, str, f"{where}.principal")
    kind, _, name = principal.partition(":")
    if kind not in ("sub", "group", "key") or not name:
        raise ConfigError(f"{where}.principal: expected sub:<subject>, group:<group> or key:<api key id>")
    lists: dict[str, tuple[str, ...]] = {}
    for field_name, default in (("stores", None), ("prefixes", [""]), ("actions", None)):
        value = raw.get(field_name, default)
        _expect(value, list, f"{where}.{field_name}")
        if not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{field_name}: expected a non-empty array of strings")
        lists[field_name] = tuple(value)
    unknown_stores = [s for s in lists["stores"] if s != "*" and s not in stores]
    if unknown_stores:
        raise ConfigError(f"{where}.stores: unknown store(s) {', '.join(unknown_stores)}")
    bad_actions = [a for a in lists["actions"] if a not in HTTP_ACTIONS]
    if bad_actions:
        raise ConfigError(f"{where}.actions: unknown action(s) {', '.join(bad_actions)}; expected {HTTP_ACTIONS}")
    for prefix in lists["prefixes"]:
        if prefix and (
            not prefix.endswith("/")
            or prefix.startswith("/")
            or "\x00" in prefix
            or any(seg in (".", "..") for seg in prefix.split("/"))
        ):
            raise ConfigError(f"{where}.prefixes: {prefix!r} must be empty or a key prefix ending in / (no . or ..)")
    return Grant(principal=principal, stores=lists["stores"], prefixes=lists["prefixes"], actions=lists["actions"])
