"""Circle Core's configuration: one TOML file (``CIRCLE_CONFIG``) with environment overlays
(``[env.<name>]`` selected by ``CIRCLE_ENV``), validated at start with errors that name the field.

    required_env = false                 # true: CIRCLE_ENV must name an [env.<name>] overlay

    [secrets]
    url = "aws-sm://eu-west-1"           # behind secret://vault/... (env CIRCLE_SECRETS_URL overrides)

    [dead_letter]
    store = "primary"                    # events that can never succeed are written here, one JSON each
    prefix = "dead-letter/"

    [stores.primary]
    url = "s3://incoming"
    region = "eu-west-1"

    [stores.backup]
    url = "az://replica"
    account = "backupacct"
    connection_string = "secret://vault/azure-connection"   # a reference, never the value

    [[replication]]
    source = "primary"
    prefix = "data/"
    targets = ["backup"]
    propagate_deletes = true

Every store's options are checked against its provider's options class (``core.storage.options``)
at load, so a misspelled option fails ``make bundle``. docs/configuration.md describes every field.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.documents import ConfigError, read_document

if TYPE_CHECKING:
    from core.config_http import Grant, HttpSettings, JwtSettings
    from core.config_model import Config, ReplicationRule, StoreConfig
    from core.schedules import Schedules

log = logging.getLogger("circle.config")

TOP_LEVEL: tuple[str, ...] = ("stores", "replication", "rotation", "env", "secrets", "dead_letter", "required_env")
# -- monitoring (monitor helper): the [monitoring] table, parsed by core.monitoring.settings ----------------
TOP_LEVEL += ("monitoring",)
# the [http] table (HTTP API auth, grants, limits) is parsed by core.config_http
TOP_LEVEL += ("http",)
# -- jobs: the [schedules] table (scheduled probes and reconciliation); the type is core.schedules.Schedules
TOP_LEVEL += ("schedules",)
RULE_FIELDS = ("name", "source", "targets", "prefix", "suffix", "glob", "target_prefix", "propagate_deletes", "verify")
DEFAULT_DEAD_LETTER_PREFIX = "dead-letter/"
ENV_SECRETS_URL = "CIRCLE_SECRETS_URL"
ENV_SECRETS_VAULT = "CIRCLE_SECRETS_VAULT"  # the older way to name the store behind secret://vault/...
CONDITIONAL_WRITES = {"write_with_if_none_match": "create-only", "write_with_if_match": "compare-and-swap"}
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


# The three configuration types (``StoreConfig``, ``ReplicationRule``, ``Config``) live in
# ``core.config_model`` and are re-exported here on first access (PEP 562), so ``import core.config``
# builds no dataclass and imports neither the storage registry nor ``dataclasses``/``inspect``
# (cold start); ``parse_config`` loads them when it runs.
_MODEL = ("StoreConfig", "ReplicationRule", "Config", "_azure_account")
_HTTP = ("HttpSettings", "JwtSettings", "Grant")  # core.config_http, likewise


def __getattr__(name: str) -> Any:
    if name in _MODEL:
        from core import config_model

        return getattr(config_model, name)
    if name in _HTTP:
        from core import config_http

        return getattr(config_http, name)
    if name == "Schedules":  # jobs: core.schedules, likewise
        from core.schedules import Schedules

        return Schedules
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_config(path: str | os.PathLike[str] | None = None, *, env: str | None = None) -> Config:
    """Read and validate the configuration named by ``path`` or ``CIRCLE_CONFIG``; ``CIRCLE_ENV``
    selects the overlay and ``CIRCLE_SECRETS_URL`` overrides ``[secrets] url``."""
    path = path or os.environ.get("CIRCLE_CONFIG")
    if not path:
        raise ConfigError("CIRCLE_CONFIG is not set: name the configuration file")
    data = read_document(path)
    return parse_config(data, env=env if env is not None else os.environ.get("CIRCLE_ENV") or None, environ=os.environ)


def parse_config(
    data: Mapping[str, Any], *, env: str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate a configuration document, applying the ``[env.<env>]`` overlay first. ``environ``
    (``os.environ`` in ``load_config``) supplies the ``CIRCLE_SECRETS_URL`` override; None: no overrides."""
    data = dict(data)
    overlays = data.pop("env", {})
    _expect(overlays, dict, "env")
    required = data.get("required_env", False)
    _expect(required, bool, "required_env")
    applied = _apply_overlay(data, overlays, env, required)
    if applied is not None:
        data = _deep_merge(data, overlays[applied])
        _expect(data.get("required_env", False), bool, f"env.{applied}.required_env")
    _unknown_fields(data, TOP_LEVEL, "")  # [[rotation]] is read by core.secrets.rotation.config
    stores = _parse_stores(data.get("stores", {}))
    raw_rules = data.get("replication", [])
    _expect(raw_rules, list, "replication")
    rules = tuple(_parse_rule(i, raw, stores) for i, raw in enumerate(raw_rules))
    _check_cycles(rules, stores)
    stores = _check_ambiguous_sources(rules, stores)
    degraded = _degraded_targets(rules, stores)
    from core.config_model import Config
    from core.monitoring.settings import parse_monitoring

    return Config(
        stores=stores,
        replication=rules,
        env=applied,
        secrets_url=_secrets_url(data.get("secrets"), environ),
        dead_letter=_dead_letter(data.get("dead_letter"), stores),
        required_env=required,
        degraded_targets=degraded,
        monitoring=parse_monitoring(data.get("monitoring")),
        http=parse_http(data.get("http"), stores),
        schedules=_schedules(data.get("schedules"), stores),  # jobs
    )


def _apply_overlay(data: Mapping[str, Any], overlays: Mapping[str, Any], env: str | None, required: bool) -> str | None:
    """The overlay to merge, or None for the base file (said once at INFO unless ``required_env``)."""
    if env and env in overlays:
        _expect(overlays[env], dict, f"env.{env}")
        return env
    if required:
        if not env:
            raise ConfigError("required_env: CIRCLE_ENV is not set, and this file requires an [env.<name>] overlay")
        raise ConfigError(f"env.{env}: CIRCLE_ENV names an environment the file does not define (required_env)")
    reason = "CIRCLE_ENV is not set" if not env else f"CIRCLE_ENV={env} names no [env.{env}] overlay"
    log.info("using the base configuration", extra={"reason": reason, "circle_env": env, "overlays": sorted(overlays)})
    return None


def _parse_stores(raw: Any) -> dict[str, StoreConfig]:
    from core.config_model import StoreConfig
    from core.storage.errors import InvalidArgument
    from core.storage.options import OptionError
    from core.storage.registry import lookup

    _expect(raw, dict, "stores")
    stores = {}
    for name, body in raw.items():
        where = f"stores.{name}"
        _expect(body, dict, where)
        url = body.get("url")
        _expect(url, str, f"{where}.url")
        if "://" not in url:
            raise ConfigError(f"{where}.url: {url!r} is not a store URL (scheme://bucket[/prefix])")
        try:
            spec = lookup(url.split("://", 1)[0], url)
            spec.split(url)  # a bucket/container where one is needed; file URLs are absolute paths
        except InvalidArgument as exc:
            raise ConfigError(f"{where}.url: {exc.reason}") from None
        options = {k: v for k, v in body.items() if k != "url"}
        try:
            spec.options.parse(options, from_toml=True)
        except OptionError as exc:
            raise ConfigError(f"{where}.{exc.option}: {exc.problem}") from None
        if spec.check_location is not None:
            try:
                spec.check_location(spec.split(url)[0], options)
            except InvalidArgument as exc:
                raise ConfigError(f"{where}.url: {exc.reason}") from None
        stores[name] = StoreConfig(name=name, url=url, options=options)
    return stores


def _parse_rule(index: int, raw: Any, stores: Mapping[str, StoreConfig]) -> ReplicationRule:
    from core.config_model import ReplicationRule

    where = f"replication[{index}]"
    _expect(raw, dict, where)
    _unknown_fields(raw, RULE_FIELDS, where)
    source = raw.get("source")
    _expect(source, str, f"{where}.source")
    if source not in stores:
        raise ConfigError(f"{where}.source: unknown store {source!r}")
    targets = raw.get("targets")
    _expect(targets, list, f"{where}.targets")
    if not targets:
        raise ConfigError(f"{where}.targets: name at least one target store")
    for i, target in enumerate(targets):
        _expect(target, str, f"{where}.targets[{i}]")
        if target not in stores:
            raise ConfigError(f"{where}.targets[{i}]: unknown store {target!r}")
        if target == source:
            raise ConfigError(f"{where}.targets[{i}]: a rule cannot replicate a store into itself")
    for text_field in ("name", "prefix", "suffix", "glob", "target_prefix"):
        if text_field in raw:
            _expect(raw[text_field], str, f"{where}.{text_field}")
    for flag in ("propagate_deletes", "verify"):
        if flag in raw:
            _expect(raw[flag], bool, f"{where}.{flag}")
    # Rule prefixes are key text (a TOML string holds any key as it is: "my data/"), while a store URL
    # must percent-encode what a URL cannot hold; both end up in the decoded form events carry. An
    # escape here is most likely copied from a URL: it matches a literal "%20", so say so.
    for text_field in ("prefix", "target_prefix"):
        if _ESCAPE.search(raw.get(text_field, "")):
            log.warning(
                "a rule prefix contains a percent-escape; rule prefixes are literal keys (only store URLs are decoded)",
                extra={"field": f"{where}.{text_field}", "value": raw[text_field]},
            )
    return ReplicationRule(
        name=raw.get("name", f"{source}->{','.join(targets)}"),
        source=source,
        targets=tuple(targets),
        prefix=raw.get("prefix", ""),
        suffix=raw.get("suffix", ""),
        glob=raw.get("glob"),
        target_prefix=raw.get("target_prefix", ""),
        propagate_deletes=raw.get("propagate_deletes", False),
        verify=raw.get("verify", True),
    )


def _secrets_url(raw: Any, environ: Mapping[str, str] | None) -> str | None:
    """``CIRCLE_SECRETS_URL``, else the older ``CIRCLE_SECRETS_VAULT``, else ``[secrets] url``."""
    url: str | None = None
    where = "secrets.url"
    if raw is not None:
        _expect(raw, dict, "secrets")
        _unknown_fields(raw, ("url",), "secrets")
        if "url" in raw:
            _expect(raw["url"], str, where)
            url = raw["url"]
    for name in (ENV_SECRETS_URL, ENV_SECRETS_VAULT):
        if environ is not None and environ.get(name):
            url, where = environ[name], name
            break
    if url is None:
        return None
    from core.secrets import PROVIDERS  # only when a secrets URL is configured

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in PROVIDERS:
        known = ", ".join(f"{s}://" for s in PROVIDERS)
        raise ConfigError(f"{where}: {url!r} is not a secrets URL; expected one of {known}")
    return url


def _dead_letter(raw: Any, stores: Mapping[str, StoreConfig]) -> tuple[str, str] | None:
    if raw is None:
        return None
    _expect(raw, dict, "dead_letter")
    _unknown_fields(raw, ("store", "prefix"), "dead_letter")
    store = raw.get("store")
    _expect(store, str, "dead_letter.store")
    if store not in stores:
        raise ConfigError(f"dead_letter.store: unknown store {store!r}")
    prefix = raw.get("prefix", DEFAULT_DEAD_LETTER_PREFIX)
    _expect(prefix, str, "dead_letter.prefix")
    return store, prefix


# -- sanity of the replication graph ---------------------------------------------------------------------
def _same_place(a: StoreConfig, b: StoreConfig) -> bool:
    """Whether two stores may be the same bucket/container (unknown accounts or endpoints count as
    possibly the same: conservative)."""
    if a.scheme != b.scheme or a.bucket != b.bucket or a.provider != b.provider:
        return False
    for side in ("account", "endpoint"):
        x, y = getattr(a, side), getattr(b, side)
        if x is not None and y is not None and x.lower() != y.lower():
            return False
    return True


def _overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _feeds(rule: ReplicationRule, other: ReplicationRule, stores: Mapping[str, StoreConfig]) -> str | None:
    """A target of ``rule`` through which its writes may trigger ``other`` (suffix and glob ignored)."""
    source = stores[other.source]
    reads = source.prefix + other.prefix
    for target in rule.targets:
        store = stores[target]
        writes = store.prefix + rule.target_prefix + rule.prefix
        if _same_place(store, source) and _overlap(writes, reads):
            return target
    return None


def _check_cycles(rules: tuple[ReplicationRule, ...], stores: Mapping[str, StoreConfig]) -> None:
    """Reject rules whose writes trigger each other forever (A->B plus B->A, longer loops, or a rule
    writing under its own source's prefix), naming the loop."""
    edges: dict[int, list[tuple[int, str]]] = {
        i: [(j, t) for j, other in enumerate(rules) if (t := _feeds(rule, other, stores)) is not None]
        for i, rule in enumerate(rules)
    }
    state: dict[int, int] = {}  # 1: on the DFS path, 2: done
    path: list[tuple[int, str]] = []

    def visit(i: int) -> None:
        state[i] = 1
        for j, via in edges[i]:
            path.append((i, via))
            if state.get(j) == 1:
                start = next(k for k, (node, _) in enumerate(path) if node == j)
                steps = [f"replication[{n}] ({rules[n].source} -> {v})" for n, v in path[start:]]
                raise ConfigError(
                    "replication: rules form a cycle, each copy would trigger the next forever: "
                    + " -> ".join(steps)
                    + f" -> replication[{j}]"
                )
            if j not in state:
                visit(j)
            path.pop()
        state[i] = 2

    for i in range(len(rules)):
        if i not in state:
            visit(i)


def _check_ambiguous_sources(
    rules: tuple[ReplicationRule, ...], stores: dict[str, StoreConfig]
) -> dict[str, StoreConfig]:
    """Two source stores that one event could match, but that are not known to be one place, are
    refused: events carry the provider, the bucket and sometimes the account (Azure, OCI) or the
    region (AWS), never an S3 endpoint. Two Azure stores on containers of the same name need their
    accounts (unknown when the connection string is a secret reference); two ``s3://`` buckets of one
    name on AWS and on another endpoint need different regions (or a profile for the other cloud).

    Returns the stores, with ``match_region`` set on the sources that only their region tells apart:
    their events are then matched by region too. Other stores' events are not (an S3 client works
    with a wrong ``region`` option through redirects, so checking it alone would drop events)."""
    from dataclasses import replace

    sources = sorted({r.source for r in rules})
    by_region: set[str] = set()
    for i, a in enumerate(sources):
        for b in sources[i + 1 :]:
            sa, sb = stores[a], stores[b]
            if sa.provider != sb.provider or sa.bucket != sb.bucket:
                continue  # an event names one provider and one bucket
            if sa.account and sb.account and sa.account != sb.account:
                continue  # events carry the account (Azure, OCI)
            if _known_same_place(sa, sb):
                continue  # one bucket seen twice (other prefixes, say): its events belong to both
            if sa.region and sb.region and sa.region != sb.region:
                by_region.update((a, b))  # AWS events carry the region
                continue
            raise ConfigError(_ambiguity(a, sa, b, sb))
    return {name: replace(store, match_region=True) if name in by_region else store for name, store in stores.items()}


def _known_same_place(a: StoreConfig, b: StoreConfig) -> bool:
    """Known to be one bucket: the same identity, with the Azure account known (or the same options)."""
    if a.identity != b.identity:
        return False
    return a.scheme != "az" or a.account is not None or a.options == b.options


def _ambiguity(a: str, sa: StoreConfig, b: str, sb: StoreConfig) -> str:
    if sa.scheme == "az":
        unknown = a if sa.account is None else b
        return (
            f"stores.{unknown}.account: stores.{a} and stores.{b} are both container {sa.bucket!r} and the "
            f'account of stores.{unknown} is not known; set account = "<storage account>" so events '
            "from each account reach the right store"
        )

    def place(store: StoreConfig) -> str:
        where = store.account or store.endpoint or f"{store.provider}'s own endpoint"
        return f"{where}, region {store.region}" if store.region else where

    hint = (
        'set region = "..." on both (a different one each: AWS events carry the region), or profile = "..." '
        "on the one that is not AWS"
        if sa.provider == "aws"
        else f"{sa.provider} events carry neither endpoint nor region: replicate from one of them per deployment"
    )
    return (
        f"stores.{b}: stores.{a} ({place(sa)}) and stores.{b} ({place(sb)}) are both bucket {sa.bucket!r} on "
        f"provider {sa.provider!r}, and an event names only the provider and the bucket, so it cannot tell "
        f"them apart; {hint}"
    )


def _degraded_targets(
    rules: tuple[ReplicationRule, ...], stores: Mapping[str, StoreConfig]
) -> dict[str, tuple[str, ...]]:
    """Targets lacking create-only or compare-and-swap writes (replication to them is best-effort),
    from the registry's capabilities (no store opened, no SDK imported); logged once."""
    degraded: dict[str, tuple[str, ...]] = {}
    for name in dict.fromkeys(t for r in rules for t in r.targets):
        store = stores[name]
        caps = store.spec.capabilities(store.options)
        missing = tuple(flag for flag in CONDITIONAL_WRITES if not getattr(caps, flag))
        if missing:
            degraded[name] = missing
    if degraded:
        described = "; ".join(
            f"stores.{n} ({stores[n].provider}: no {', no '.join(CONDITIONAL_WRITES[f] for f in m)} writes)"
            for n, m in degraded.items()
        )
        log.warning(
            "replication targets without conditional writes get best-effort consistency",
            extra={"described": described, "degraded_targets": {n: list(m) for n, m in degraded.items()}},
        )
    return degraded


# -- helpers ---------------------------------------------------------------------------------------------
def _is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith("secret://")


def _unknown_fields(raw: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = [k for k in raw if k not in known]
    if not unknown:
        return
    import difflib  # only on the error path

    hints = [f"{k} -> {m[0]}" for k in unknown if (m := difflib.get_close_matches(k, known, n=1))]
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    head = f"{where}: unknown field(s)" if where else "unknown top-level field(s)"
    raise ConfigError(f"{head} {', '.join(unknown)}{hint}; expected some of {', '.join(known)}")


def _expect(value: Any, kind: type, where: str) -> None:
    if value is None:
        raise ConfigError(f"{where}: missing")
    if not isinstance(value, kind):
        names = {dict: "a table", list: "an array", str: "a string", bool: "true or false"}
        raise ConfigError(f"{where}: expected {names.get(kind, kind.__name__)}, got {type(value).__name__}")


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# -- [http]: the HTTP API (auth, grants, limits); the types are in core.config_http ---------------------------------
HTTP_FIELDS = (
    "max_body_bytes",
    "redirect_above_bytes",
    "redirect_expires",
    "max_presign_seconds",
    "reconcile_seconds",
    "jwt",
    "api_keys",
    "grants",
)
JWT_FIELDS = ("issuer", "audience", "jwks_url", "algorithms", "groups_claim", "leeway_seconds", "refresh_seconds")
GRANT_FIELDS = ("principal", "stores", "prefixes", "actions")
HTTP_ACTIONS = ("read", "write", "delete", "presign", "admin")
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def parse_http(raw: Any, stores: Mapping[str, StoreConfig]) -> HttpSettings | None:
    """The validated ``[http]`` table, or None when the file has none."""
    if raw is None:
        return None
    from core.config_http import HttpSettings

    _expect(raw, dict, "http")
    _unknown_fields(raw, HTTP_FIELDS, "http")
    sizes = {}
    for name in (
        "max_body_bytes",
        "redirect_above_bytes",
        "redirect_expires",
        "max_presign_seconds",
        "reconcile_seconds",
    ):
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
        reconcile_seconds=sizes["reconcile_seconds"] or 20,
        jwt=_parse_jwt(raw["jwt"]) if "jwt" in raw else None,
        api_keys=tuple(keys),
        grants=tuple(_parse_grant(i, g, stores) for i, g in enumerate(raw_grants)),
    )


def _parse_jwt(raw: Any) -> JwtSettings:
    from core.config_http import JwtSettings

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
    from core.config_http import Grant

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


# -- [schedules] (jobs: scheduled probes and reconciliation; docs/jobs.md) ---------------------------------
SCHEDULE_FIELDS = ("reconcile", "probe", "checkpoint_store", "fanout_ranges", "parallel", "alert_window_seconds")


def _schedules(raw: Any, stores: Mapping[str, StoreConfig]) -> Schedules | None:
    if raw is None:
        return None
    from core.schedules import (  # the type and the converters load with a [schedules] table, not at import
        ScheduleError,
        Schedules,
        cloud_scheduler_expression,
        eventbridge_expression,
        ncrontab_expression,
    )

    _expect(raw, dict, "schedules")
    _unknown_fields(raw, SCHEDULE_FIELDS, "schedules")
    crons: dict[str, str | None] = {}
    for name in ("reconcile", "probe"):
        value = raw.get(name)
        if value is None or value == "":
            crons[name] = None
            continue
        _expect(value, str, f"schedules.{name}")
        try:
            for convert in (eventbridge_expression, ncrontab_expression, cloud_scheduler_expression):
                convert(value)
        except ScheduleError as exc:
            raise ConfigError(f"schedules.{name}: {exc}") from None
        crons[name] = value
    store = raw.get("checkpoint_store")
    if store is not None:
        _expect(store, str, "schedules.checkpoint_store")
        if store not in stores:
            raise ConfigError(f"schedules.checkpoint_store: unknown store {store!r}")
    numbers: dict[str, int] = {}
    for name, default, top in (
        ("fanout_ranges", 1, 1000),
        ("parallel", 8, 64),
        ("alert_window_seconds", 3600, 7 * 86400),
    ):
        value = raw.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ConfigError(f"schedules.{name}: expected an integer 1..{top}, got {value!r}")
        numbers[name] = value
    return Schedules(crons["reconcile"], crons["probe"], store, **numbers)
