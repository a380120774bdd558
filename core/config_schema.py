"""The circle.toml reference: what each field means, joined with what the parsers accept.

The parsers own the field names and the defaults: :func:`fields` reads the names from the field lists
the parsers check (``core.config.TOP_LEVEL``, ``RULE_FIELDS``, ``HTTP_FIELDS``, ...; for ``[secrets]``
and ``[dead_letter]`` from the parser's own unknown-field error) and the defaults by parsing a minimal
document. This module holds only what code cannot say: a type name for a reader and a one-line
description. A field a parser accepts without a description here, or a description of a field no
parser accepts, makes :func:`fields` raise, so ``python -m core.docs_tables --check`` (and
tests/test_docs_tables.py) fails until the reference is updated.

Read by the docs generator (``core.docs_tables``) only: ``core.config`` never imports it (cold start).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

REQUIRED = object()  # a field the parser refuses to go without


class FieldDoc(NamedTuple):
    type: str
    doc: str
    default: str | None = None  # shown as written; None: the parsed default (``required`` when REQUIRED)
    required: bool = False


class Field(NamedTuple):
    """One row of a reference table."""

    name: str
    type: str
    default: str
    doc: str


_TOP = {
    "stores": FieldDoc("table of tables", "The stores, by name ([`[stores.<name>]`](#storesname))."),
    "replication": FieldDoc("array of tables", "The replication rules ([`[[replication]]`](#replication))."),
    "rotation": FieldDoc(
        "array of tables", "Secret rotations ([`[[rotation]]`](#rotation), [rotation.md](rotation.md))."
    ),
    "env": FieldDoc(
        "table of tables", "Overlays: `[env.<name>]` holds any of these fields and is merged over the base.", "`{}`"
    ),
    "secrets": FieldDoc("table", "The secrets store behind `secret://vault/...` references ([`[secrets]`](#secrets))."),
    "dead_letter": FieldDoc(
        "table", "Where permanent and configuration failures are written ([`[dead_letter]`](#dead_letter))."
    ),
    "required_env": FieldDoc(
        "boolean", "`true`: `CIRCLE_ENV` must be set and name an overlay, otherwise loading fails."
    ),
    "monitoring": FieldDoc(
        "table",
        "Metrics, thresholds and alert webhooks ([`[monitoring]`](#monitoring), [monitoring.md](monitoring.md)).",
    ),
    "http": FieldDoc(
        "table",
        "The HTTP API: limits, `[http.jwt]`, `api_keys`, `[[http.grants]]` "
        "([`[http]`](#http), [http-api.md](http-api.md)).",
    ),
    "schedules": FieldDoc("table", "When the scheduled jobs run ([`[schedules]`](#schedules), [jobs.md](jobs.md))."),
}
_STORE = {
    "url": FieldDoc(
        "string",
        "`s3://bucket[/prefix]`, `az://container[/prefix]`, `gs://bucket[/prefix]`, `file:///abs/path`, "
        "`memory://[name][/prefix]` (or a registered provider's scheme).",
        required=True,
    ),
}
_RULE = {
    "name": FieldDoc("string", "A label for logs and results.", '`"<source>-><targets>"`'),
    "source": FieldDoc("string", "The store whose events are replicated.", required=True),
    "targets": FieldDoc("array of strings", "Stores to copy into (at least one; not the source).", required=True),
    "prefix": FieldDoc("string", "Only keys (relative to the source store) starting with this."),
    "suffix": FieldDoc("string", 'Only keys ending with this (`".csv"`).'),
    "glob": FieldDoc("string", "Only keys matching this `fnmatch` pattern (`*` crosses `/`)."),
    "target_prefix": FieldDoc("string", "Prepended to the key in each target (see below)."),
    "propagate_deletes": FieldDoc("boolean", "Delete the replica when the source object is deleted."),
    "verify": FieldDoc("boolean", "Verify each copy against the source after writing it."),
}
_SECRETS = {
    "url": FieldDoc(
        "string",
        "The secrets store behind `secret://vault/<name>[#field]` references: `aws-sm://[region]`, "
        "`keyvault://<vault>`, `gcp-sm://<project>`, `env://[PREFIX]`, `file:///path.json`.",
    ),
}
_DEAD_LETTER = {
    "store": FieldDoc(
        "string",
        "A store named in `[stores]`; events that fail permanently or for a configuration reason are "
        "written there, one JSON object per event.",
        required=True,
    ),
    "prefix": FieldDoc("string", "Key prefix of the records in that store."),
}
_ROTATION = {
    "secrets": FieldDoc(
        "string", "A secrets URL (`aws-sm://eu-west-1`) or the name of a registered secrets store.", required=True
    ),
    "secret": FieldDoc("string", "The secret's name in that store (an AWS ARN also matches).", required=True),
    "rotator": FieldDoc(
        "string", "What creates and revokes the credential (`core.secrets.rotation.rotators.ROTATORS`).", required=True
    ),
    "strategy": FieldDoc("string", '`"dual"` (two valid credentials overlap) or `"single"`.'),
    "params": FieldDoc("table", 'The rotator\'s parameters (`user_name = "circle-replicator"`).'),
    "expires_in_days": FieldDoc(
        "integer, 31 .. 3650",
        "Key Vault: the expiry written on each new version (`SecretNearExpiry` fires 30 days before it).",
    ),
}
_MONITORING = {
    "enabled": FieldDoc("boolean", "`false`: the NULL monitor (no storage layer, no metrics, no alerts)."),
    "storage_metrics": FieldDoc(
        "boolean", "The per-request storage layer (`StorageRequests`, `StorageLatency`, `StorageBytes`)."
    ),
    "alert_budget_seconds": FieldDoc(
        "number, >= 0", "Time one flush may spend sending webhooks, all of them together."
    ),
    "thresholds": FieldDoc(
        "table", "Alarm and alert thresholds ([`[monitoring.thresholds]`](#monitoringthresholds)).", "defaults below"
    ),
    "webhooks": FieldDoc("array of tables", "Alert webhooks ([`[[monitoring.webhooks]]`](#monitoringwebhooks))."),
}
_THRESHOLDS = {
    "window_seconds": FieldDoc("number, >= 0", "Failure window: one alert per (kind, key) per window, per instance."),
    "failed_replications": FieldDoc("integer, >= 0", "Failures of one rule/target within the window before an alert."),
    "replication_lag_seconds": FieldDoc("number, >= 0", "Alarm: the worst replication lag in 5 minutes."),
    "queue_age_seconds": FieldDoc("number, >= 0", "Alarm: age of the oldest queued event."),
    "dlq_depth": FieldDoc("integer, >= 0", "Alarm: dead-lettered events waiting."),
    "errors": FieldDoc("integer, >= 0", "Alarm: function errors in 5 minutes."),
    "throttles": FieldDoc("integer, >= 0", "Alarm: throttled invocations in 5 minutes."),
}
_WEBHOOK = {
    "url": FieldDoc("string", "The `https://` (or `http://`) endpoint alerts are POSTed to.", required=True),
    "secret": FieldDoc("string", "A `secret://` reference to the HMAC signing key (a literal key is refused)."),
    "kinds": FieldDoc(
        "array of strings", "Only these alert kinds (`replication`, `probe`, `rotation`); empty: every kind."
    ),
}
_HTTP = {
    "max_body_bytes": FieldDoc(
        "integer, > 0", "Largest PUT body; above it answers 413 (use a presigned PUT).", "the adapter's platform limit"
    ),
    "redirect_above_bytes": FieldDoc(
        "integer, > 0", "GETs of larger objects answer 307 to a presigned URL.", "the adapter's platform limit"
    ),
    "redirect_expires": FieldDoc("integer, > 0", "Seconds a redirect's presigned URL lives."),
    "max_presign_seconds": FieldDoc("integer, > 0", "The longest expiry `POST /presign` grants."),
    "reconcile_seconds": FieldDoc(
        "integer, > 0",
        "Seconds `POST /admin/reconcile` may run; then it checkpoints and answers `complete: false` "
        "(keep it under the platform's HTTP timeout: API Gateway 29 s).",
    ),
    "jwt": FieldDoc("table", "Bearer JWTs from one OIDC issuer ([`[http.jwt]`](#httpjwt)); absent: no JWTs accepted."),
    "api_keys": FieldDoc(
        "array of strings", "Names of secrets (in the `[secrets] url` store) holding hashed API keys."
    ),
    "grants": FieldDoc(
        "array of tables", "Who may do what where ([`[[http.grants]]`](#httpgrants)); none: nobody reaches a store."
    ),
}
_JWT = {
    "issuer": FieldDoc("string", "The `iss` tokens must carry.", required=True),
    "audience": FieldDoc("string", "The `aud` tokens must carry.", required=True),
    "jwks_url": FieldDoc("string", "The issuer's JWKS (`https://`).", "discovered from the issuer"),
    "algorithms": FieldDoc(
        "array of strings", "Accepted signature algorithms: asymmetric only (never `none` or `HS*`)."
    ),
    "groups_claim": FieldDoc("string", "The claim holding the caller's groups (for `group:` grants)."),
    "leeway_seconds": FieldDoc("integer, 0 .. 300", "Clock skew allowed on `exp` and `nbf`."),
    "refresh_seconds": FieldDoc("number, >= 0", "An unknown `kid` refetches the JWKS at most this often."),
}
_GRANT = {
    "principal": FieldDoc("string", "`sub:<subject>`, `group:<group>` or `key:<api key id>`.", required=True),
    "stores": FieldDoc("array of strings", 'Store names, or `"*"` for every store.', required=True),
    "prefixes": FieldDoc("array of strings", 'Key prefixes, each `""` or ending in `/`.'),
    "actions": FieldDoc("array of strings", "Some of `read`, `write`, `delete`, `presign`, `admin`.", required=True),
}
_SCHEDULES = {
    "reconcile": FieldDoc("string (5-field cron)", "When the reconciliation runs (each platform's form is derived)."),
    "probe": FieldDoc("string (5-field cron)", "When the health probe runs."),
    "checkpoint_store": FieldDoc(
        "string", "A store named in `[stores]` holding the reconciliation checkpoints.", "each rule's source store"
    ),
    "fanout_ranges": FieldDoc(
        "integer, 1 .. 1000", "> 1: the reconcile schedule fans out this many key ranges per rule."
    ),
    "parallel": FieldDoc("integer, 1 .. 64", "Transfers the reconciliation runs at once."),
    "alert_window_seconds": FieldDoc(
        "integer, 1 .. 604800", "A failing probe alerts at most once per store per window."
    ),
}


# -- what the parsers accept (read at call time, so a changed parser is seen) ----------------------------
def _config() -> Any:
    import core.config

    return core.config


def _names_from_error(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields a parser accepts, from its unknown-field error (``...; expected some of a, b``)."""
    from core.documents import ConfigError

    try:
        _config().parse_config(document)
    except ConfigError as exc:
        found = re.search(r"expected (?:some|one) of (.+)$", str(exc))
        if found:
            return tuple(n.strip() for n in found.group(1).split(","))
        raise ValueError(f"cannot read the accepted fields from {exc}") from None
    raise ValueError(f"the parser accepted an unknown field in {document}")


_BOGUS = "\x00"  # no parser accepts this field name
_TWO = {"a": {"url": "memory://schema-a"}, "b": {"url": "memory://schema-b"}}


def _top() -> tuple[tuple[str, ...], dict[str, Any]]:
    config = _config().parse_config({})
    given = {
        "stores": config.stores,
        "replication": config.replication,
        "rotation": (),
        "env": {},
        "secrets": config.secrets_url,
        "dead_letter": config.dead_letter,
        "required_env": config.required_env,
        "monitoring": config.monitoring,
        "http": config.http,
        "schedules": config.schedules,
    }
    return _config().TOP_LEVEL, given


def _store() -> tuple[tuple[str, ...], dict[str, Any]]:
    return ("url",), {}


def _rule() -> tuple[tuple[str, ...], dict[str, Any]]:
    cfg = _config().parse_config({"stores": _TWO, "replication": [{"source": "a", "targets": ["b"]}]})
    return _config().RULE_FIELDS, _attrs(cfg.replication[0])


def _secrets() -> tuple[tuple[str, ...], dict[str, Any]]:
    return _names_from_error({"secrets": {_BOGUS: 1}}), {"url": _config().parse_config({"secrets": {}}).secrets_url}


def _dead_letter() -> tuple[tuple[str, ...], dict[str, Any]]:
    names = _names_from_error({"stores": _TWO, "dead_letter": {_BOGUS: 1}})
    _, prefix = _config().parse_config({"stores": _TWO, "dead_letter": {"store": "a"}}).dead_letter
    return names, {"prefix": prefix}


def _rotation() -> tuple[tuple[str, ...], dict[str, Any]]:
    from core.secrets.rotation import config as rotation
    from core.secrets.rotation.rotators import ROTATORS

    minimal = {"secrets": "env://", "secret": "s", "rotator": next(iter(ROTATORS))}
    spec = rotation.parse_rotations({"rotation": [minimal]})
    names = tuple(n for n in _attrs(spec[0]) if n in rotation._FIELDS)
    return names + tuple(sorted(set(rotation._FIELDS) - set(names))), _attrs(spec[0])


def _monitoring(part: str) -> Callable[[], tuple[tuple[str, ...], dict[str, Any]]]:
    def read() -> tuple[tuple[str, ...], dict[str, Any]]:
        from core.monitoring import settings

        if part == "webhooks":
            hook = settings.parse_monitoring({"webhooks": [{"url": "https://example.com/"}]})
            return settings._HOOK, _attrs(hook.webhooks[0])  # type: ignore[union-attr]
        parsed = settings.parse_monitoring({})
        if part == "thresholds":
            values = _attrs(parsed.thresholds)  # type: ignore[union-attr]
            return tuple(values), values
        return settings._TOP, _attrs(parsed)

    return read


def _http(part: str) -> Callable[[], tuple[tuple[str, ...], dict[str, Any]]]:
    def read() -> tuple[tuple[str, ...], dict[str, Any]]:
        config = _config()
        if part == "jwt":
            jwt = {"issuer": "https://issuer.example/", "audience": "circle"}
            return config.JWT_FIELDS, _attrs(config.parse_http({"jwt": jwt}, {}).jwt)
        if part == "grants":
            grant = {"principal": "sub:x", "stores": ["*"], "actions": ["read"]}
            return config.GRANT_FIELDS, _attrs(config.parse_http({"grants": [grant]}, {}).grants[0])
        return config.HTTP_FIELDS, _attrs(config.parse_http({}, {}))

    return read


def _schedules() -> tuple[tuple[str, ...], dict[str, Any]]:
    config = _config()
    return config.SCHEDULE_FIELDS, _attrs(config.parse_config({"schedules": {}}).schedules)


def _attrs(obj: Any) -> dict[str, Any]:
    from dataclasses import fields as dataclass_fields

    return {f.name: getattr(obj, f.name) for f in dataclass_fields(obj)}


#: section -> (descriptions, what the parser accepts and its parsed defaults)
SECTIONS: dict[str, tuple[dict[str, FieldDoc], Callable[[], tuple[tuple[str, ...], dict[str, Any]]]]] = {
    "top": (_TOP, _top),
    "stores": (_STORE, _store),
    "replication": (_RULE, _rule),
    "rotation": (_ROTATION, _rotation),
    "secrets": (_SECRETS, _secrets),
    "dead_letter": (_DEAD_LETTER, _dead_letter),
    "monitoring": (_MONITORING, _monitoring("top")),
    "monitoring.thresholds": (_THRESHOLDS, _monitoring("thresholds")),
    "monitoring.webhooks": (_WEBHOOK, _monitoring("webhooks")),
    "http": (_HTTP, _http("top")),
    "http.jwt": (_JWT, _http("jwt")),
    "http.grants": (_GRANT, _http("grants")),
    "schedules": (_SCHEDULES, _schedules),
}


def fields(section: str) -> list[Field]:
    """The rows of ``section``'s table, in the parser's order; raises ValueError when the descriptions
    and the parser disagree on the field names."""
    if section not in SECTIONS:
        raise ValueError(f"unknown configuration section {section!r}; known: {', '.join(SECTIONS)}")
    described, read = SECTIONS[section]
    names, parsed = read()
    missing = [n for n in names if n not in described]
    extra = [n for n in described if n not in names]
    if missing or extra:
        problems = [f"no description for {', '.join(missing)}"] if missing else []
        problems += [f"described but not accepted by the parser: {', '.join(extra)}"] if extra else []
        raise ValueError(f"[{section}] in core/config_schema.py: {'; '.join(problems)}")
    rows = []
    for name in names:
        doc = described[name]
        if doc.default is not None:
            default = doc.default
        elif doc.required:
            default = "required"
        else:
            default = format_value(parsed.get(name))
        rows.append(Field(name, doc.type, default, doc.doc))
    return rows


def table(section: str) -> str:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.type} | {f.default} | {f.doc} |" for f in fields(section)]
    if section == "stores":
        rows.append("| any other key | per provider | | An option of the store's provider, checked at load (below). |")
    return "\n".join(rows) + "\n"


def format_value(value: Any) -> str:
    """A parsed default as TOML would spell it (``none`` for an absent table or value)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, int):
        return f"`{value}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(format_value(v).strip("`") for v in value) + "]`"
    if isinstance(value, Mapping):
        return "`{}`" if not value else "`{...}`"
    raise TypeError(f"no spelling for a default of type {type(value).__name__}")
