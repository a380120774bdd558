"""Cloud-agnostic rotation handlers: each native trigger's contract, mapped onto one ``RotationEngine``.

- ``aws_step``: Secrets Manager's four-step Lambda contract (``createSecret`` ... ``finishSecret``, also
  the snake_case names), with the checks the aws-samples rotation template makes first: rotation must be
  enabled on the secret and the token must be a version Secrets Manager staged as ``AWSPENDING``.
- ``rotate_near_expiry``: Key Vault ``Microsoft.KeyVault.SecretNearExpiry`` (Event Grid): rotate, writing
  the new version with a new expiry, so the next warning comes one period later.
- ``rotate_on_pubsub``: Secret Manager ``SECRET_ROTATE`` Pub/Sub messages: rotate (a new version becomes
  current). Other event types (``TOPIC_CONFIGURED``, ``SECRET_UPDATE``, ...) are ignored.
- ``force_rotation``: rotate now (the HTTP trigger, after ``forceable``: only secrets ``[[rotation]]`` names).

Which rotator runs comes from a ``[[rotation]]`` spec for the secret or, without one, from the ``kind``
field of the current secret document (so a secret seeded as ``{"kind": "aws_iam_access_key",
"user_name": ...}`` rotates with no other configuration). No cloud SDK is imported here: adapters pass
the stores (and the few service calls outside ``SecretStore``) in.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from core.secrets import SecretNotFound, SecretsInvalidArgument, SecretStore
from core.secrets.rotation import RotationEngine, RotationResult, rotator_for, strategy_for, token_for
from core.secrets.rotation.config import RotationSpec, find_forced, find_spec
from core.secrets.rotation.engine import new_token
from core.secrets.rotation.errors import RotationRefused

if TYPE_CHECKING:
    from core.monitoring import Monitor

log = logging.getLogger("circle.rotation")
T = TypeVar("T")

AWS_STEPS = {
    "createSecret": "create",
    "create_secret": "create",
    "setSecret": "set",
    "set_secret": "set",
    "testSecret": "test",
    "test_secret": "test",
    "finishSecret": "finish",
    "finish_secret": "finish",
}
NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
SECRET_ROTATE = "SECRET_ROTATE"

RotatorClients = Mapping[str, Mapping[str, Any]]  # rotator kind -> keyword clients (tests, custom SDK clients)


def observed(monitor: Monitor | None, secret: str, step: str, run: Callable[[], T]) -> T:
    """Run one rotation step through the monitoring hook ``rotation_step`` (``RotationStep`` with
    ``step``/``outcome``, ``RotationStepDuration``, an event, and an alert when it raises). The error
    text is the exception's class and its redacted reason, never a value."""
    if monitor is None:
        return run()
    from core.monitoring.hooks import rotation_step

    started = time.perf_counter()
    try:
        result = run()
    except Exception as exc:
        reason = getattr(exc, "reason", None)
        error = f"{type(exc).__name__}: {reason}" if isinstance(reason, str) and reason else type(exc).__name__
        rotation_step(monitor, secret, step, ok=False, seconds=time.perf_counter() - started, error=error)
        raise
    rotation_step(monitor, secret, step, ok=True, seconds=time.perf_counter() - started)
    return result


def engine_for(
    secrets: SecretStore,
    name: str,
    *,
    specs: Sequence[RotationSpec] = (),
    spec_name: str | None = None,
    clients: RotatorClients | None = None,
) -> tuple[RotationEngine, RotationSpec | None]:
    """The engine for ``name``: its ``[[rotation]]`` spec, else the ``kind`` of the current document."""
    spec = find_spec(specs, spec_name or name)
    if spec is not None:
        kind, params, strategy = spec.rotator, dict(spec.params), spec.strategy
    else:
        try:
            doc = secrets.get_json(name)
        except SecretsInvalidArgument:
            doc = {}
        found = doc.get("kind")
        kind = found if isinstance(found, str) else ""
        if not kind:
            raise SecretsInvalidArgument(
                "no [[rotation]] entry names this secret and its value has no 'kind' "
                "field: cannot tell which rotator to run",
                operation="rotate",
                name=name,
                provider=secrets.provider,
            )
        params, strategy = {}, str(doc.get("strategy", "dual"))
    rotator = rotator_for(kind, params, **dict((clients or {}).get(kind, {})))
    return RotationEngine(secrets, name, rotator, strategy_for(strategy)), spec


# -- AWS Secrets Manager ---------------------------------------------------------------------------------
def aws_step(
    step: str,
    secret_id: str,
    token: str,
    *,
    secrets: SecretStore,
    describe: Callable[[str], Mapping[str, Any]],
    specs: Sequence[RotationSpec] = (),
    clients: RotatorClients | None = None,
    monitor: Monitor | None = None,
) -> RotationResult:
    """Run one step of Secrets Manager's rotation contract for ``secret_id`` (name or ARN).

    ``describe`` is ``DescribeSecret`` (the adapter passes the boto3 client's method): Secrets Manager's
    ``RotationEnabled`` and ``VersionIdsToStages`` are not part of the portable ``SecretStore``.
    ``monitor`` records the step (``RotationStep``) and alerts when it fails, refusals included.
    """
    action = AWS_STEPS.get(step) if isinstance(step, str) else None
    if action is None:
        raise SecretsInvalidArgument(
            f"unknown rotation step {step!r}; expected one of {', '.join(sorted(AWS_STEPS))}", operation="rotate"
        )
    if not isinstance(token, str) or not token:
        raise SecretsInvalidArgument("ClientRequestToken is required", operation=action)
    return observed(
        monitor,
        secret_id,
        action,
        lambda: _aws_step(action, secret_id, token, secrets=secrets, describe=describe, specs=specs, clients=clients),
    )


def _aws_step(
    action: str,
    secret_id: str,
    token: str,
    *,
    secrets: SecretStore,
    describe: Callable[[str], Mapping[str, Any]],
    specs: Sequence[RotationSpec],
    clients: RotatorClients | None,
) -> RotationResult:
    meta = describe(secret_id)
    name = str(meta.get("Name") or secret_id)
    if not meta.get("RotationEnabled"):
        raise RotationRefused("rotation is not enabled for this secret", operation=action, name=name, provider="aws-sm")
    stages = (meta.get("VersionIdsToStages") or {}).get(token)
    if stages is None:
        raise RotationRefused(
            f"version {token} has no stage for rotation of this secret", operation=action, name=name, provider="aws-sm"
        )
    if "AWSCURRENT" in stages and action != "finish":
        log.info(
            "rotation version already current", extra={"secret_name": name, "rotation_token": token, "step": action}
        )
        return RotationResult(name, token, token, "already-current")
    if "AWSCURRENT" not in stages and "AWSPENDING" not in stages:
        raise RotationRefused(
            f"version {token} is not staged as AWSPENDING", operation=action, name=name, provider="aws-sm"
        )
    engine, _ = engine_for(secrets, name, specs=specs, spec_name=secret_id, clients=clients)
    log.info("rotation step", extra={"secret_name": name, "rotation_token": token, "step": action})
    result: RotationResult = getattr(engine, action)(token)
    return result


# -- Azure Key Vault -------------------------------------------------------------------------------------
def _strip_keys(data: Any) -> dict[str, Any]:
    """Key Vault event data, with keys and string values stripped (samples carry ``"ObjectName "``)."""
    if not isinstance(data, Mapping):
        return {}
    return {str(k).strip(): v.strip() if isinstance(v, str) else v for k, v in data.items()}


def parse_key_vault_event(event: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """(event type, vault name, secret name, event id) of an Event Grid-schema Key Vault event."""
    event_type = str(event.get("eventType") or event.get("type") or "").strip()
    data = _strip_keys(event.get("data"))
    if data.get("ObjectType", "Secret") != "Secret":
        return None
    name = data.get("ObjectName") or str(event.get("subject") or "").strip().removeprefix("secrets/")
    vault = data.get("VaultName") or ""
    if not vault and isinstance(data.get("Id"), str):  # https://<vault>.vault.azure.net/secrets/...
        vault = data["Id"].split("//", 1)[-1].split(".", 1)[0]
    if not name or not vault:
        raise SecretsInvalidArgument("Key Vault event without ObjectName/VaultName", operation="near_expiry")
    return event_type, str(vault), str(name).strip(), str(event.get("id") or new_token())


def rotate_near_expiry(
    event: Mapping[str, Any],
    *,
    secrets_for_vault: Callable[[str], SecretStore],
    specs: Sequence[RotationSpec] = (),
    clients: RotatorClients | None = None,
    now: datetime | None = None,
    monitor: Monitor | None = None,
) -> RotationResult | None:
    """Rotate the secret a ``SecretNearExpiry`` event names; other events are ignored (None).

    A redelivered event (same id) resumes the same rotation. The new version is written with an expiry
    ``expires_in_days`` (spec, default 90) from now, so the next warning comes one period later.
    """
    parsed = parse_key_vault_event(event)
    if parsed is None or parsed[0] != NEAR_EXPIRY:
        log.info("key vault event ignored", extra={"event_type": parsed[0] if parsed else None})
        return None
    _, vault, name, event_id = parsed

    def rotate() -> RotationResult:
        secrets = secrets_for_vault(vault)
        engine, spec = engine_for(secrets, name, specs=specs, clients=clients)
        expires_on = (now or datetime.now(UTC)) + timedelta(days=spec.expires_in_days if spec else 90)
        return engine.rotate(token_for(f"keyvault:{vault}:{event_id}"), expires_on=expires_on)

    result = observed(monitor, f"keyvault://{vault}/{name}", "rotate", rotate)
    log.info("secret rotated on near expiry", extra={"secret_name": name, "secret_version": result.version})
    return result


# -- GCP Secret Manager ----------------------------------------------------------------------------------
def parse_pubsub_message(message: Mapping[str, Any]) -> tuple[str, str, str, str, dict[str, Any]]:
    """(event type, project, secret, message id, Secret resource) of a Secret Manager notification.

    Accepts the push envelope ``{"message": {...}, "subscription": ...}`` or the message itself.
    """
    inner = message.get("message", message)
    if not isinstance(inner, Mapping):
        raise SecretsInvalidArgument("a Pub/Sub message is an object", operation="pubsub")
    attributes = inner.get("attributes") or {}
    event_type = str(attributes.get("eventType", ""))
    secret_id = str(attributes.get("secretId", ""))
    parts = secret_id.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "secrets" or not parts[1] or not parts[3]:
        raise SecretsInvalidArgument(
            f"secretId {secret_id!r} is not projects/<project>/secrets/<name>", operation="pubsub"
        )
    resource: dict[str, Any] = {}
    data = inner.get("data")
    if isinstance(data, str) and data:
        try:
            decoded = json.loads(base64.b64decode(data, validate=True))
            resource = decoded if isinstance(decoded, dict) else {}
        except (binascii.Error, ValueError):
            resource = {}
    message_id = str(inner.get("messageId") or inner.get("message_id") or "")
    return event_type, parts[1], parts[3], message_id, resource


def rotate_on_pubsub(
    message: Mapping[str, Any],
    *,
    secrets_for_project: Callable[[str], SecretStore],
    specs: Sequence[RotationSpec] = (),
    clients: RotatorClients | None = None,
    monitor: Monitor | None = None,
) -> RotationResult | None:
    """Rotate on ``SECRET_ROTATE`` (a new version becomes current); ignore every other event type."""
    event_type, project, name, message_id, _ = parse_pubsub_message(message)
    if event_type != SECRET_ROTATE:
        log.info("secret manager event ignored", extra={"event_type": event_type, "secret_name": name})
        return None

    def rotate() -> RotationResult:
        secrets = secrets_for_project(project)
        engine, _ = engine_for(secrets, name, specs=specs, clients=clients)
        token = token_for(f"gcp-sm:{project}:{name}:{message_id}") if message_id else new_token()
        return engine.rotate(token)

    result = observed(monitor, f"gcp-sm://{project}/{name}", "rotate", rotate)
    log.info("secret rotated on SECRET_ROTATE", extra={"secret_name": name, "secret_version": result.version})
    return result


class NotForceable(SecretNotFound):
    """A forced rotation named a store or secret that no ``[[rotation]]`` entry declares (answer 404)."""


def forceable(specs: Sequence[RotationSpec], scheme: str, store: str, name: str) -> RotationSpec:
    """The ``[[rotation]]`` spec that allows forcing ``name`` in ``store``; ``NotForceable`` otherwise.
    Checked before any store is opened, so an unlisted vault or secret is never touched."""
    spec = find_forced(specs, scheme, store, name)
    if spec is None:
        raise NotForceable(
            "no [[rotation]] entry names this secret in this store", operation="force_rotation", provider=scheme
        )
    return spec


def force_rotation(
    secrets: SecretStore,
    name: str,
    *,
    specs: Sequence[RotationSpec] = (),
    clients: RotatorClients | None = None,
    monitor: Monitor | None = None,
) -> RotationResult:
    """Rotate ``name`` now, outside any schedule (an operator). HTTP triggers check ``forceable`` first
    and pass only that spec, so the rotator comes from the configuration, never from the document."""

    def rotate() -> RotationResult:
        engine, _ = engine_for(secrets, name, specs=specs, clients=clients)
        return engine.rotate()

    return observed(monitor, name, "rotate", rotate)
