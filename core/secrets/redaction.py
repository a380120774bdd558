"""Keep the AWS SDK's wire logs from printing credentials: the one log filter for every secrets path.

At DEBUG, botocore logs each request's parameters (``botocore.endpoint``: "Making request for ... with
params", which holds PutSecretValue's ``SecretString``), the prepared request ("Sending http request",
whose Authorization header names the access key id) and each response (``botocore.parsers``: "Response
headers"/"Response body", which hold GetSecretValue's value and CreateAccessKey's secret key). Those
records, and any record on these loggers that mentions a value field, are withheld (their text is
replaced, so the call still shows in the log); every other SDK debug line stays.

``install_sdk_log_redaction()`` is called by whatever hands secrets to botocore: the ``aws-sm://``
provider when a store is opened and the IAM access key rotator. Filters cost nothing above DEBUG.
"""

from __future__ import annotations

import logging

LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth")
#: records that carry request parameters, headers or bodies
WIRE_PREFIXES = ("Making request for", "Sending http request", "Response body", "Response headers")
#: fields whose value is a credential, wherever a record mentions them
VALUE_MARKERS = ("SecretString", "SecretBinary", "SecretAccessKey")
WITHHELD = "[circle: SDK wire record withheld: it may carry a credential]"


class SdkWireFilter(logging.Filter):
    """Replace the text of SDK records that carry request/response data (and so secret values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(WIRE_PREFIXES):
            withhold = True
        else:
            try:
                text = record.getMessage()
            except Exception:  # a record that cannot render cannot leak either
                return True
            withhold = any(marker in text for marker in VALUE_MARKERS)
        if withhold:
            record.msg, record.args = WITHHELD, ()
        return True


def install_sdk_log_redaction() -> None:
    """Attach the filter to the loggers that echo wire data (idempotent, once per process)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SdkWireFilter) for f in logger.filters):
            logger.addFilter(SdkWireFilter())


__all__ = ["LOGGERS", "VALUE_MARKERS", "WIRE_PREFIXES", "WITHHELD", "SdkWireFilter", "install_sdk_log_redaction"]
