"""Azure Functions rotation triggers, as a Blueprint (``app.register_functions(bp)`` in app.py).

- ``secret_near_expiry``: Event Grid ``Microsoft.KeyVault.SecretNearExpiry`` (Key Vault publishes it 30
  days before a version's ``expires``): rotate, then give the new version a new expiry.
- ``force_rotation``: ``POST /api/rotate/{name}?vault=<vault>`` (function key) rotates now.

Thin: the work is ``core.handlers.rotation``. Raising makes Event Grid retry (and dead-letter) the event;
a redelivery resumes the same rotation (the token derives from the event id).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

from core.handlers.rotation_monitor import RotationMonitor

if TYPE_CHECKING:  # the rotation engine is imported on first use: the app's cold start skips it
    from core.monitoring import Sink
    from core.secrets import SecretStore

log = logging.getLogger("circle.azure.rotation")
bp = func.Blueprint()

#: vault name -> SecretStore; replaceable with ``use_vaults``
VaultOpener = Callable[[str], "SecretStore"]


def _open_vault(vault: str) -> SecretStore:
    """``CIRCLE_KEYVAULT_URL`` (sovereign clouds, tests) or the public vault URL; DefaultAzureCredential."""
    from core.secrets import open_secrets

    url = os.environ.get("CIRCLE_KEYVAULT_URL")
    options = {"vault_url": url} if url else {}
    return open_secrets(f"keyvault://{vault}", max_age=0, **options)


_opener: VaultOpener = _open_vault
_vaults: dict[str, SecretStore] = {}


def use_vaults(opener: VaultOpener | None) -> None:
    """Replace how a vault name becomes a store (tests, sovereign clouds)."""
    global _opener
    _opener = opener or _open_vault
    _vaults.clear()


def _vault(vault: str) -> SecretStore:
    if vault not in _vaults:
        _vaults[vault] = _opener(vault)
    return _vaults[vault]


def _sink() -> Sink:
    from azure_functions.monitoring import AzureSink

    return AzureSink()


#: the function's monitor, built once per worker: ``[monitoring]`` of CIRCLE_CONFIG over the platform
#: sink (``RotationStep`` metrics; a failed step alerts the webhooks once per window)
monitor = RotationMonitor(_sink)
reset_monitor = monitor.reset


def event_grid_dict(event: func.EventGridEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


def handle_near_expiry(event: func.EventGridEvent) -> dict[str, Any] | None:
    """Rotate the secret a SecretNearExpiry event names (other Key Vault events are ignored)."""
    from core.handlers.rotation import rotate_near_expiry
    from core.secrets.rotation.config import load_rotations

    observer = monitor()
    try:
        result = rotate_near_expiry(
            event_grid_dict(event), secrets_for_vault=_vault, specs=load_rotations(), monitor=observer
        )
    finally:
        observer.flush()  # metrics and alerts once per invocation
    return None if result is None else {"secret": result.name, "version": result.version, "outcome": result.outcome}


def handle_force(req: func.HttpRequest) -> func.HttpResponse:
    """Rotate ``{name}`` in ``?vault=`` (or ``CIRCLE_ROTATION_VAULT``) now, if a ``[[rotation]]`` entry
    names that secret in that vault (``secrets = "keyvault://<vault>"``); anything else is 404 before any
    vault is opened. Answers never carry values."""
    from core.config import ConfigError
    from core.handlers.rotation import force_rotation, forceable
    from core.secrets import SecretsError
    from core.secrets.providers.key_vault import KeyVaultBackend
    from core.secrets.rotation.config import load_rotations

    name = req.route_params.get("name", "")
    vault = req.params.get("vault") or os.environ.get("CIRCLE_ROTATION_VAULT", "")
    if req.method != "POST":
        return _json(405, {"error": "use POST"})
    if not vault:
        return _json(400, {"error": "name the vault with ?vault= or CIRCLE_ROTATION_VAULT"})
    if not KeyVaultBackend.name_pattern.match(name) or not _VAULT_NAME.match(vault):
        return _json(400, {"error": "a secret name is 1-127 of [0-9A-Za-z-]; a vault name 3-24 of [0-9A-Za-z-]"})
    try:
        spec = forceable(load_rotations(), "keyvault", vault, name)  # before any vault is touched
        try:
            result = force_rotation(_vault(vault), name, specs=(spec,), monitor=monitor())
        finally:
            monitor().flush()
    except ConfigError:
        log.error("forced rotation: the configuration is invalid", extra={"secret_name": name})
        return _json(500, {"error": "the configuration is invalid"})
    except SecretsError as exc:
        status = _status(exc)
        if status >= 500:
            log.error("forced rotation failed", extra={"secret_name": name, "error": exc.reason})
            return _json(status, {"error": "rotation failed"})
        log.warning("forced rotation refused", extra={"secret_name": name, "status": status, "error": exc.reason})
        return _json(status, {"error": exc.reason})
    return _json(200, {"secret": result.name, "version": result.version, "outcome": result.outcome})


#: Key Vault names: 3-24 characters, letters, digits and dashes (a host is not accepted here)
_VAULT_NAME = re.compile(r"^[0-9A-Za-z-]{3,24}$")


def _status(exc: BaseException) -> int:
    """HTTP status for a secrets/rotation error: the core's one mapping."""
    from core.handlers.http_events import http_status

    return http_status(exc)


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name(name="secret_near_expiry")
@bp.event_grid_trigger(arg_name="event")
def secret_near_expiry(event: func.EventGridEvent) -> None:
    handle_near_expiry(event)


@bp.function_name(name="force_rotation")
@bp.route(route="rotate/{name}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def force_rotation_http(req: func.HttpRequest) -> func.HttpResponse:
    return handle_force(req)
