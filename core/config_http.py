"""The ``[http]`` table of circle.toml: the HTTP API's authentication, grants and limits (issue 10).
Apart from ``core.config`` so that importing the configuration parser builds none of these dataclasses
(cold start); ``core.config`` validates the table
(``parse_http``) and re-exports these types."""

from __future__ import annotations

from dataclasses import dataclass


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
    reconcile_seconds: int = 20  # POST /admin/reconcile's budget: under API Gateway's 29 s timeout
    jwt: JwtSettings | None = None
    api_keys: tuple[str, ...] = ()  # secret names (in [secrets] url) holding hashed API keys
    grants: tuple[Grant, ...] = ()
