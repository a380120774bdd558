"""Keep SDK wire logs from printing credentials.

At DEBUG, botocore logs every request's parameters (``botocore.endpoint``: "Making request ... with
params", which holds PutSecretValue's ``SecretString``) and every response body (``botocore.parsers``:
"Response body", which holds GetSecretValue's value and CreateAccessKey's secret key), and the prepared
request (``Sending http request``, whose Authorization header names the access key id). A rotation
handles exactly those calls, so these two record kinds are dropped; every other SDK debug line stays.
"""

from __future__ import annotations

import logging

#: logger name -> message prefixes whose records carry request/response bodies
_WIRE = {
    "botocore.endpoint": ("Making request for", "Sending http request"),
    "botocore.parsers": ("Response body", "Response headers"),
}


class SdkBodyFilter(logging.Filter):
    """Drop the SDK's request/response body records (they contain secret values)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.prefixes))


def install_sdk_log_redaction() -> None:
    """Idempotent: attach the filter to the SDK loggers once per process."""
    for name, prefixes in _WIRE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, SdkBodyFilter) for f in logger.filters):
            logger.addFilter(SdkBodyFilter(prefixes))
