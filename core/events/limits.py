"""Bounds on what ``core.events`` will read, so hostile or broken input fails as an EventError.

The parser never walks vendor data recursively: it reads fixed paths, and each envelope that holds
another one counts one level of ``MAX_NESTING``. JSON text is decoded by the stdlib C decoder, whose
own recursion guard is reported as an EventError. Keys and bucket names longer than any cloud allows
are refused before they reach a store.
"""

from __future__ import annotations

MAX_TEXT_BYTES = 64 * 1024 * 1024  # one JSON text (a payload, an SQS body, an SNS Message)
MAX_NESTING = 8  # envelopes inside envelopes: SQS -> SNS -> S3 is 2; real deliveries stay under 4
MAX_RECORDS = 100_000  # items of one array (SQS batches hold at most 10,000 messages)
MAX_KEY_CHARS = 1024  # S3, GCS, Azure, OSS, COS, OCI and IBM COS all stop at 1,024 bytes or less
MAX_BUCKET_CHARS = 256  # the longest bucket/container name any of them allows (OCI: 256)
