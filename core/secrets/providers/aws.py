"""``aws-sm://[region]``: AWS Secrets Manager through boto3.

Stages are Secrets Manager's own staging labels (``AWSCURRENT``/``AWSPENDING``/``AWSPREVIOUS``) and a
rotation token is the ``ClientRequestToken``, i.e. the version id, exactly as AWS's rotation contract
expects. Promoting moves ``AWSCURRENT``; the service moves ``AWSPREVIOUS`` by itself.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, NoReturn

from ..api import CURRENT, PENDING, PREVIOUS, SecretBackend, SecretValue, SecretVersion
from ..errors import (
    SecretNotFound,
    SecretsConflict,
    SecretsError,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretsTransientError,
    SecretsUnauthenticated,
)
from ..redaction import install_sdk_log_redaction

AWS_LABEL = {CURRENT: "AWSCURRENT", PENDING: "AWSPENDING", PREVIOUS: "AWSPREVIOUS"}
PORTABLE = {v: k for k, v in AWS_LABEL.items()}

_CODES: dict[str, type[SecretsError]] = {
    "ResourceNotFoundException": SecretNotFound,
    "AccessDeniedException": SecretsPermissionDenied,
    "AccessDenied": SecretsPermissionDenied,
    "DecryptionFailure": SecretsPermissionDenied,
    "UnrecognizedClientException": SecretsUnauthenticated,
    "InvalidClientTokenId": SecretsUnauthenticated,
    "InvalidSignatureException": SecretsUnauthenticated,
    "SignatureDoesNotMatch": SecretsUnauthenticated,
    "ExpiredTokenException": SecretsUnauthenticated,
    "ResourceExistsException": SecretsConflict,
    "PreconditionNotMetException": SecretsConflict,
    "InvalidParameterException": SecretsInvalidArgument,
    "InvalidRequestException": SecretsInvalidArgument,
    "ValidationException": SecretsInvalidArgument,
    "LimitExceededException": SecretsConflict,
    "ThrottlingException": SecretsTransientError,
    "InternalServiceError": SecretsTransientError,
    "ServiceUnavailable": SecretsTransientError,
}
_OPTIONS = {
    "region",
    "endpoint_url",
    "profile",
    "client",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "max_attempts",
}


class AwsSecretsBackend(SecretBackend):
    provider = "aws-sm"
    name_pattern = re.compile(r"^[A-Za-z0-9/_+=.@\-]{1,512}$")
    max_value_bytes = 65536

    def __init__(self, region: str, options: dict[str, Any]) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise SecretsInvalidArgument(
                f"unknown aws-sm:// options: {', '.join(sorted(unknown))}", provider=self.provider
            )
        install_sdk_log_redaction()  # botocore logs request and response bodies at DEBUG
        self._client: Any = options.get("client")
        if self._client is None:
            import boto3  # lazy: only when an aws-sm:// store is opened
            from botocore.config import Config

            session = boto3.session.Session(
                profile_name=options.get("profile"),
                region_name=region or options.get("region"),
                aws_access_key_id=options.get("aws_access_key_id"),
                aws_secret_access_key=options.get("aws_secret_access_key"),
                aws_session_token=options.get("aws_session_token"),
            )
            config = Config(retries={"mode": "standard", "max_attempts": int(options.get("max_attempts", 5))})
            self._client = session.client("secretsmanager", endpoint_url=options.get("endpoint_url"), config=config)
        self._region = str(self._client.meta.region_name or region or "")

    def describe(self) -> str:
        return f"aws-sm://{self._region}"

    # -- error translation ----------------------------------------------------------------------------
    def _call(self, operation: str, name: str, method: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self._client, method)(**params)
        except ClientError as exc:
            self._raise(exc, operation, name)
        except NoCredentialsError:
            raise SecretsUnauthenticated(
                "no AWS credentials found", provider=self.provider, operation=operation, name=name
            ) from None
        except BotoCoreError as exc:  # connection errors and the like; their text holds no parameters
            raise SecretsTransientError(
                type(exc).__name__, provider=self.provider, operation=operation, name=name
            ) from None

    def _raise(self, exc: Any, operation: str, name: str) -> NoReturn:
        err = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(err.get("Code", ""))
        status = meta.get("HTTPStatusCode")
        cls = _CODES.get(code) or (SecretsTransientError if (status or 500) >= 500 else SecretsError)
        raise cls(
            str(err.get("Message", ""))[:300],
            provider=self.provider,
            operation=operation,
            name=name,
            code=code,
            status=status,
            request_id=meta.get("RequestId"),
        ) from None

    def _labels(self, name: str, operation: str) -> dict[str, list[str]]:
        out = self._call(operation, name, "describe_secret", SecretId=name)
        return dict(out.get("VersionIdsToStages") or {})

    # -- operations -----------------------------------------------------------------------------------
    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        params: dict[str, Any] = {"SecretId": name}
        if version is not None:
            params["VersionId"] = version
        else:
            params["VersionStage"] = AWS_LABEL[stage or CURRENT]
        out = self._call("get", name, "get_secret_value", **params)
        if "SecretString" in out:
            text = out["SecretString"]
        else:
            try:
                text = bytes(out["SecretBinary"]).decode("utf-8")
            except (KeyError, UnicodeDecodeError):
                raise SecretsInvalidArgument(
                    "the secret is binary, not UTF-8 text", provider=self.provider, operation="get", name=name
                ) from None
        return SecretValue(text, out.get("VersionId"))

    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        token = str(uuid.uuid4())
        try:
            out = self._call(
                "put", name, "put_secret_value", SecretId=name, ClientRequestToken=token, SecretString=value
            )
        except SecretNotFound:
            try:
                out = self._call("put", name, "create_secret", Name=name, ClientRequestToken=token, SecretString=value)
            except SecretsConflict:  # created concurrently: add our version to it
                out = self._call(
                    "put", name, "put_secret_value", SecretId=name, ClientRequestToken=token, SecretString=value
                )
        return str(out["VersionId"])

    def list_versions(self, name: str) -> list[SecretVersion]:
        versions: list[dict[str, Any]] = []
        params: dict[str, Any] = {"SecretId": name, "IncludeDeprecated": True}
        while True:
            out = self._call("versions", name, "list_secret_version_ids", **params)
            versions.extend(out.get("Versions", []))
            if not out.get("NextToken"):
                break
            params["NextToken"] = out["NextToken"]
        versions.sort(key=lambda v: (v.get("CreatedDate") is None, v.get("CreatedDate")))
        return [
            SecretVersion(
                str(v["VersionId"]),
                tuple(PORTABLE[s] for s in v.get("VersionStages", []) if s in PORTABLE),
                v.get("CreatedDate"),
                True,
                {"labels": ",".join(v.get("VersionStages", []))},
            )
            for v in versions
        ]

    def expiry(self, name: str) -> datetime | None:
        """Secrets Manager has no expiry: the next rotation date (``DescribeSecret`` ``NextRotationDate``)
        stands for it when rotation is enabled, else None (unknown)."""
        out = self._call("expiry", name, "describe_secret", SecretId=name)
        when = out.get("NextRotationDate") if out.get("RotationEnabled") else None
        if not isinstance(when, datetime):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def stages(self, name: str) -> dict[str, str]:
        found = {}
        for vid, labels in self._labels(name, "stages").items():
            for label in labels:
                if label in PORTABLE:
                    found[PORTABLE[label]] = vid
        return found

    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        # RotateSecret stages the token's version as AWSPENDING *without a value* before it invokes the
        # rotation function, so "the token is staged" does not mean "the value is stored": ask for it.
        try:
            self._call("put_pending", name, "get_secret_value", SecretId=name, VersionId=token)
            return token  # this token's version has a value: the first value wins
        except SecretNotFound:
            pass  # no such version yet, or the empty one RotateSecret staged: write the value into it
        try:
            self._call(
                "put_pending",
                name,
                "put_secret_value",
                SecretId=name,
                ClientRequestToken=token,
                SecretString=value,
                VersionStages=[AWS_LABEL[PENDING]],
            )
        except SecretsConflict as exc:
            if exc.code != "ResourceExistsException":
                raise
            # written concurrently by a redelivered step: that value stays (first value wins)
        return token

    def promote(self, name: str, version: str) -> None:
        labels = self._labels(name, "promote")
        if version not in labels and not any(v.id == version for v in self.list_versions(name)):
            # checked first: moto (and a half-done call) would otherwise strip AWSCURRENT from the secret
            raise SecretNotFound(f"no version {version!r}", provider=self.provider, operation="promote", name=name)
        current = next((v for v, ls in labels.items() if "AWSCURRENT" in ls), None)
        if current != version:
            params: dict[str, Any] = {"SecretId": name, "VersionStage": "AWSCURRENT", "MoveToVersionId": version}
            if current is not None:
                params["RemoveFromVersionId"] = current
            self._call("promote", name, "update_secret_version_stage", **params)
        for label in ("AWSPENDING", "AWSPREVIOUS"):
            if label in labels.get(version, []):
                self._call(
                    "promote",
                    name,
                    "update_secret_version_stage",
                    SecretId=name,
                    VersionStage=label,
                    RemoveFromVersionId=version,
                )

    def discard(self, name: str, version: str) -> None:
        labels = self._labels(name, "discard")
        mine = labels.get(version)
        if mine is None:
            if not any(v.id == version for v in self.list_versions(name)):
                raise SecretNotFound(f"no version {version!r}", provider=self.provider, operation="discard", name=name)
            return
        if "AWSCURRENT" in mine:
            raise SecretsConflict(
                "cannot discard the current version", provider=self.provider, operation="discard", name=name
            )
        for label in ("AWSPENDING", "AWSPREVIOUS"):
            if label in mine:
                self._call(
                    "discard",
                    name,
                    "update_secret_version_stage",
                    SecretId=name,
                    VersionStage=label,
                    RemoveFromVersionId=version,
                )

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
