"""The one error base and the one redaction rule for Circle Core (storage and secrets both build on it).

``CircleError`` carries where an error happened (``provider``, ``operation``), a redacted ``reason``,
whether a retry can help (``retryable``) and the service's ``request_id``/``status``. Each family adds
its own context (a bucket and key, a secret name) by overriding ``_where``/``_suffix``; pickling goes
through one ``__reduce__`` that restores every field (errors cross process pools and test workers).
This module imports nothing from the rest of ``core``, so every package may depend on it.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_PATTERNS = [
    # query-string signatures: S3 (SigV2/V4), GCS V4, Azure SAS
    re.compile(
        r"(?i)((?:x-amz-signature|x-goog-signature|signature|sig|x-amz-security-token|x-amz-credential|"
        r"x-goog-credential|awsaccesskeyid)=)[^&\s'\"]+"
    ),
    # connection strings and key material
    re.compile(
        r"(?i)((?:accountkey|sharedaccesssignature|sharedaccesskey|password|secret_access_key|"
        r"aws_secret_access_key|client_secret|private_key)['\"]?\s*[=:]\s*['\"]?)[^;&\s'\"]+"
    ),
    re.compile(r"(?i)(authorization\s*[=:]\s*['\"]?)[^'\"\n]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----"),
]


def redact(text: str) -> str:
    """Replace credential material in ``text`` (signed URLs, connection strings, keys) with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text) if pattern.groups else pattern.sub("***", text)
    return text


class CircleError(Exception):
    """Base of every Circle Core error. ``retryable`` says whether the same call may succeed later."""

    retryable_default = False

    def __init__(
        self,
        message: str = "",
        *,
        provider: str | None = None,
        operation: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.reason = redact(str(message))
        self.provider = provider
        self.operation = operation
        self.request_id = request_id
        self.status = status
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(self._render())

    def _where(self) -> str:
        """What the error is about (``s3://bucket/key``, ``aws-sm:name``); empty when unknown."""
        return self.provider or ""

    def _suffix(self) -> str:
        """Text after the reason (a provider error code)."""
        return ""

    def _render(self) -> str:
        head = " ".join(p for p in (self.operation, self._where()) if p)
        text = f"{head}: {self.reason}" if head else self.reason
        text += self._suffix()
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[CircleError], state: dict[str, Any]) -> CircleError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


__all__ = ["CircleError", "redact"]
