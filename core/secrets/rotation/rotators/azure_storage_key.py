"""Azure storage account keys (key1/key2) through the management API (azure-mgmt-storage).

Two calls: ``storage_accounts.list_keys(resource_group, account)`` and
``storage_accounts.regenerate_key(resource_group, account, {"keyName": "key1"|"key2"})`` (both return
``{"keys": [{"keyName", "value", "permissions"}]}``). The dual strategy regenerates the key *not* named
by the current document, so clients on the current key never notice; the old key stays valid until the
next rotation regenerates it. There is no emulator for the management plane (Azurite serves data
only), so tests drive this with a plain fake client; see docs/rotation.md.
The stored document is ``{"account_name", "key_name", "key", "connection_string"?, ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import SecretsInvalidArgument
from ..errors import RotationError, RotationTestFailed
from . import Credential, RotatorContext, carry_over, require

KIND = "azure_storage_key"
SLOTS = ("key1", "key2")
_PARAMS = {"subscription_id", "resource_group", "account_name", "endpoint_suffix"}


def _default_client(subscription_id: str) -> Any:
    from azure.identity import DefaultAzureCredential  # lazy: only when this rotator runs
    from azure.mgmt.storage import StorageManagementClient

    return StorageManagementClient(DefaultAzureCredential(), subscription_id)


def _keys(result: Any) -> dict[str, str]:
    """keyName -> value from a ListKeys result (a mapping in azure-mgmt-storage >= 22, a model before)."""
    items = result["keys"] if isinstance(result, Mapping) else getattr(result, "keys_property", None) or []
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, Mapping):
            out[str(item["keyName"])] = str(item["value"])
        else:
            out[str(item.key_name)] = str(item.value)
    return out


class AzureStorageKeyRotator:
    kind = KIND
    credential_fields = ("key", "connection_string")

    def __init__(self, params: Mapping[str, Any], *, client: Any = None) -> None:
        unknown = set(params) - _PARAMS
        if unknown:
            raise SecretsInvalidArgument(f"{KIND}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.params = dict(params)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _default_client(require(self.params, "subscription_id", KIND))
        return self._client

    def _where(self, ctx: RotatorContext) -> tuple[str, str]:
        return (
            require(self.params, "resource_group", KIND, ctx.current),
            require(self.params, "account_name", KIND, ctx.current),
        )

    def _call(self, what: str, fn: Any, *args: Any) -> dict[str, str]:
        try:
            return _keys(fn(*args))
        except Exception as exc:
            code = getattr(getattr(exc, "error", None), "code", None) or type(exc).__name__
            raise RotationError(f"{KIND}: {what} failed [{code}]", provider="azure-mgmt") from None

    def _document(self, ctx: RotatorContext, slot: str, value: str) -> Credential:
        group, account = self._where(ctx)
        suffix = self.params.get("endpoint_suffix", "core.windows.net")
        connection = f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={value};EndpointSuffix={suffix}"
        return carry_over(
            ctx.current,
            KIND,
            {
                "resource_group": group,
                "account_name": account,
                "key_name": slot,
                "key": value,
                "connection_string": connection,
            },
        )

    def create(self, ctx: RotatorContext) -> Credential:
        group, account = self._where(ctx)
        in_use = (ctx.current or {}).get("key_name")
        slot = ctx.strategy.choose_slot(SLOTS, in_use if isinstance(in_use, str) else None)
        keys = self._call(
            "regenerate_key", self.client.storage_accounts.regenerate_key, group, account, {"keyName": slot}
        )
        if slot not in keys:
            raise RotationError(f"{KIND}: regenerate_key returned no {slot}", provider="azure-mgmt")
        return self._document(ctx, slot, keys[slot])

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        return None  # the account already holds the regenerated key

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        group, account = self._where(ctx)
        keys = self._call("list_keys", self.client.storage_accounts.list_keys, group, account)
        if keys.get(str(pending.get("key_name"))) != pending.get("key"):
            raise RotationTestFailed(f"{KIND}: the account does not hold the new key (regenerated again?)")

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        if ctx.strategy.keep_previous:
            return None  # the other key stays valid until the next rotation regenerates it
        old = (ctx.previous or {}).get("key_name")
        if isinstance(old, str) and old in SLOTS and old != current.get("key_name"):
            group, account = self._where(ctx)
            self._call(
                "regenerate_key", self.client.storage_accounts.regenerate_key, group, account, {"keyName": old}
            )  # revoke the old value: regenerating is Azure's only revocation

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        slot = pending.get("key_name")
        if isinstance(slot, str) and slot in SLOTS and slot != (ctx.current or {}).get("key_name"):
            group, account = self._where(ctx)
            self._call("regenerate_key", self.client.storage_accounts.regenerate_key, group, account, {"keyName": slot})
