"""GCS HMAC keys (the S3-interoperable credential of a service account), via google-cloud-storage.

REST mapping (``projects/{project}/hmacKeys``): ``create`` is POST with ``serviceAccountEmail`` and
returns the only copy of the secret; keys are born ``ACTIVE``; a key must be set ``INACTIVE`` (PUT
with ``state``) before DELETE is allowed; a service account may hold at most 10 keys. ``finish``
deactivates then deletes the keys the strategy no longer keeps; ``cleanup`` does the same for a
pending key that failed its test. ``test`` reads the key's metadata (it must be ``ACTIVE`` and belong
to the service account) and, with ``probe_bucket``, lists that bucket through the XML API with it.
The stored document is ``{"access_id", "secret", "service_account", ...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...errors import SecretsInvalidArgument
from ..errors import RotationError, RotationTestFailed
from . import Credential, RotatorContext, carry_over, require

KIND = "gcs_hmac_key"
_PARAMS = {"service_account", "project", "probe_bucket", "probe_endpoint"}


def _default_client(project: str | None) -> Any:
    from google.cloud import storage  # lazy: only when this rotator runs

    return storage.Client(project=project)


class GcsHmacKeyRotator:
    kind = KIND
    credential_fields = ("access_id", "secret")

    def __init__(
        self, params: Mapping[str, Any], *, client: Any = None, probe: Callable[[Credential], None] | None = None
    ) -> None:
        unknown = set(params) - _PARAMS
        if unknown:
            raise SecretsInvalidArgument(f"{KIND}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.params = dict(params)
        self._client = client
        self._probe = probe

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _default_client(self.params.get("project"))
        return self._client

    def _account(self, ctx: RotatorContext) -> str:
        return require(self.params, "service_account", KIND, ctx.current)

    def _project(self) -> dict[str, Any]:
        project = self.params.get("project")
        return {"project_id": project} if project else {}

    def _retire(self, access_id: str) -> None:
        """Deactivate (if active) then delete: GCS deletes only inactive keys."""
        from google.api_core import exceptions

        try:
            meta = self.client.get_hmac_key_metadata(access_id, **self._project())
            if meta.state == "DELETED":
                return
            if meta.state == "ACTIVE":
                meta.state = "INACTIVE"
                meta.update()
            meta.delete()
        except exceptions.NotFound:
            return
        except exceptions.GoogleAPICallError as exc:
            raise RotationError(f"GCS refused to retire an HMAC key [{exc.code}]", provider="gcs") from None

    @staticmethod
    def _id(doc: Credential | None) -> str | None:
        value = (doc or {}).get("access_id")
        return value if isinstance(value, str) else None

    def create(self, ctx: RotatorContext) -> Credential:
        from google.api_core import exceptions

        account = self._account(ctx)
        try:
            meta, secret = self.client.create_hmac_key(service_account_email=account, **self._project())
        except exceptions.GoogleAPICallError as exc:
            raise RotationError(f"GCS could not create an HMAC key [{exc.code}]", provider="gcs") from None
        return carry_over(
            ctx.current, KIND, {"service_account": account, "access_id": meta.access_id, "secret": secret}
        )

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        return None  # keys are ACTIVE on creation

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        from google.api_core import exceptions

        access_id = self._id(pending)
        if access_id is None:
            raise RotationTestFailed(f"{KIND}: the pending document has no access_id")
        try:
            meta = self.client.get_hmac_key_metadata(access_id, **self._project())
        except exceptions.GoogleAPICallError as exc:
            raise RotationTestFailed(f"{KIND}: the new key cannot be read [{exc.code}]") from None
        if meta.state != "ACTIVE" or meta.service_account_email != self._account(ctx):
            raise RotationTestFailed(f"{KIND}: the new key is not an active key of the service account")
        if self._probe is not None:
            self._probe(pending)

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        keep = {self._id(current)}
        if ctx.strategy.keep_previous:
            keep.add(self._id(ctx.previous))
        for meta in self.client.list_hmac_keys(service_account_email=self._account(ctx), **self._project()):
            if meta.access_id not in keep and meta.state in ("ACTIVE", "INACTIVE"):
                self._retire(meta.access_id)

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        access_id = self._id(pending)
        if access_id and access_id != self._id(ctx.current):
            self._retire(access_id)
