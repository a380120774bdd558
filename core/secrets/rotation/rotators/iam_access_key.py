"""AWS IAM access key pairs (boto3 IAM), e.g. the key the replication functions use for S3.

IAM allows two keys per user, which is exactly the dual strategy: the current key keeps working while
a second one is created and tested. ``create`` first makes room by deactivating then deleting every key
but the current one (the previous key, kept through the last overlap, or an orphan a crash left
behind); ``finish`` deletes keys beyond what the strategy keeps. ``test`` asks STS who the new key is
(it must be the rotated user, not an unknown key) and, with ``probe_bucket``, lists that bucket with it.
The stored document is ``{"access_key_id", "secret_access_key", "user_name", ...}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import SecretsInvalidArgument
from ...redaction import install_sdk_log_redaction
from ..errors import RotationError, RotationTestFailed
from . import Credential, RotatorContext, carry_over, require

KIND = "aws_iam_access_key"
_PARAMS = {"user_name", "endpoint_url", "region", "probe_bucket", "test_timeout"}

ClientFactory = Callable[..., Any]


def _default_factory(service: str, **kwargs: Any) -> Any:
    import boto3  # lazy: only when this rotator runs

    session: Any = boto3.session.Session()
    return session.client(service, **kwargs)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", type(exc).__name__))


class IamAccessKeyRotator:
    kind = KIND
    credential_fields = ("access_key_id", "secret_access_key")

    def __init__(
        self, params: Mapping[str, Any], *, iam: Any = None, client_factory: ClientFactory | None = None
    ) -> None:
        unknown = set(params) - _PARAMS
        if unknown:
            raise SecretsInvalidArgument(f"{KIND}: unknown parameter(s) {', '.join(sorted(unknown))}")
        install_sdk_log_redaction()  # CreateAccessKey's response body holds the new secret key
        self.params = dict(params)
        self._factory = client_factory or _default_factory
        self._kwargs: dict[str, Any] = {
            k: v for k, v in (("endpoint_url", params.get("endpoint_url")), ("region_name", params.get("region"))) if v
        }
        self._iam = iam
        self.test_timeout = float(params.get("test_timeout", 0))

    @property
    def iam(self) -> Any:
        if self._iam is None:
            self._iam = self._factory("iam", **self._kwargs)
        return self._iam

    def _user(self, ctx: RotatorContext) -> str:
        return require(self.params, "user_name", KIND, ctx.current)

    def _keys(self, user: str) -> list[dict[str, Any]]:
        keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return sorted(keys, key=lambda k: k["CreateDate"])

    def _delete(self, user: str, key_id: str) -> None:
        """Deactivate, then delete (the order IAM's own guidance gives); a missing key is fine."""
        for call, extra in ((self.iam.update_access_key, {"Status": "Inactive"}), (self.iam.delete_access_key, {})):
            try:
                call(UserName=user, AccessKeyId=key_id, **extra)
            except Exception as exc:
                if _code(exc) != "NoSuchEntity":
                    raise RotationError(
                        f"IAM refused to retire a key of user {user!r} [{_code(exc)}]", provider="iam"
                    ) from None
                return

    def _retire_except(self, user: str, keep: set[str]) -> None:
        for key in self._keys(user):
            if key["AccessKeyId"] not in keep:
                self._delete(user, key["AccessKeyId"])

    @staticmethod
    def _key_id(doc: Credential | None) -> str | None:
        value = (doc or {}).get("access_key_id")
        return value if isinstance(value, str) else None

    # -- the rotator protocol ---------------------------------------------------------------------------
    def create(self, ctx: RotatorContext) -> Credential:
        user = self._user(ctx)
        current = self._key_id(ctx.current)
        self._retire_except(user, {current} if current else set())
        if len(self._keys(user)) >= 2:  # the current document names no key of this user: keep the newest
            self._delete(user, self._keys(user)[0]["AccessKeyId"])
        try:
            made = self.iam.create_access_key(UserName=user)["AccessKey"]
        except Exception as exc:
            raise RotationError(
                f"IAM could not create a key for user {user!r} [{_code(exc)}]", provider="iam"
            ) from None
        return carry_over(
            ctx.current,
            KIND,
            {"user_name": user, "access_key_id": made["AccessKeyId"], "secret_access_key": made["SecretAccessKey"]},
        )

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        return None  # IAM keys are active on creation

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        user = self._user(ctx)
        key_id = self._key_id(pending)
        status = {k["AccessKeyId"]: k["Status"] for k in self._keys(user)}
        if key_id is None or status.get(key_id) != "Active":
            raise RotationTestFailed(f"{KIND}: the new key is not an active key of user {user!r}")
        creds = {"aws_access_key_id": key_id, "aws_secret_access_key": pending.get("secret_access_key")}
        deadline = time.monotonic() + self.test_timeout  # IAM is eventually consistent on real AWS
        while True:
            try:
                arn = str(self._factory("sts", **self._kwargs, **creds).get_caller_identity()["Arn"])
                break
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise RotationTestFailed(f"{KIND}: STS rejected the new key [{_code(exc)}]") from None
                time.sleep(2)
        if not arn.endswith(f"/{user}"):
            raise RotationTestFailed(f"{KIND}: the new key does not authenticate as user {user!r}")
        bucket = self.params.get("probe_bucket")
        if bucket:
            try:
                self._factory("s3", **self._kwargs, **creds).list_objects_v2(Bucket=bucket, MaxKeys=1)
            except Exception as exc:
                raise RotationTestFailed(f"{KIND}: the new key cannot list bucket {bucket!r} [{_code(exc)}]") from None

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        keep = {self._key_id(current)}
        if ctx.strategy.keep_previous:
            keep.add(self._key_id(ctx.previous))
        self._retire_except(self._user(ctx), {k for k in keep if k})

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        key_id = self._key_id(pending)
        if key_id and key_id != self._key_id(ctx.current):
            self._delete(self._user(ctx), key_id)
