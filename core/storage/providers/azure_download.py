"""The rest of a large blob read in one streamed Get Blob, sent through the SDK's own pipeline.

Why not the SDK's downloader for all of it: ``StorageStreamDownloader.chunks()`` asks for the blob one
``max_chunk_get_size`` range at a time (4 MiB here, each buffered whole), so 100 MiB cost 25 requests,
and Azurite spent about four times the CPU rclone's single GET costs it. The first request stays the
SDK's (``download_blob``: the blob's properties and its first chunk); everything after it is one ranged
GET pinned with ``If-Match`` to the ETag that first answer gave, read as the stored bytes (no content
decoding) in the pipeline's blocks. Authentication, timeouts, the API version and the endpoint are the
client's, as for the listing (``azure_listing``). A body cut short (a dropped connection, a read
timeout) is asked for again from the byte where it stopped, still pinned to the ETag, up to
``_common.RESUMES`` times per read, as rclone's reader does; each new request has the store's retries.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

import requests
import urllib3
from azure.core.exceptions import AzureError, HttpResponseError, ServiceResponseError
from azure.core.rest import HttpRequest
from azure.storage.blob import BlobClient

from ..etag import quote_etag
from ._common import resumed

# what a body cut short raises while it is read (azure-core wraps some of the transport's errors)
_CUT_SHORT = (AzureError, requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def open_range(blob: BlobClient, first: int, last: int, etag: str | None) -> Any:
    """Start one GET of bytes ``first``-``last`` (inclusive), pinned to ``etag``: the streamed response.
    A non-2xx answer raises ``HttpResponseError`` carrying the response, as the SDK's own errors do."""
    headers = {"x-ms-version": blob.api_version, "x-ms-range": f"bytes={first}-{last}"}
    if etag:
        headers["If-Match"] = quote_etag(etag)
    # the generated client's raw-request entry point: the blob client's pipeline, without its deserializer
    response = blob._client._send_request(HttpRequest("GET", blob.url, headers=headers), stream=True)
    if response.status_code not in (200, 206):
        response.read()
        response.close()
        raise HttpResponseError(response=response)
    return response


def streamed(first_chunk: bytes, rest: Callable[[int], Any] | None, start: int, last: int) -> Generator[bytes]:
    """``first_chunk``, then bytes ``start``-``last`` from the response ``rest(offset)`` opens (again from
    where it stopped after a cut, ``_common.resumed``), closed when done or when the reader is."""
    if first_chunk:
        yield first_chunk
    if rest is None or start > last:
        return

    def open_at(offset: int) -> tuple[Iterable[bytes], Callable[[], None]]:
        response = rest(offset)
        return response.iter_raw(), response.close

    yield from resumed(open_at(start), open_at, start, last, _CUT_SHORT, _incomplete)


def _incomplete(got: int, expected: int) -> ServiceResponseError:
    """The answer kept ending early (a transient error, as the SDK's own response errors are)."""
    return ServiceResponseError(f"the body ended after {got} of {expected} bytes")
