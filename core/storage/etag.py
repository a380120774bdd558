"""The storage package's name for the one ETag normaliser, which lives in ``core.etag`` (shared with
``core.events`` and the HTTP API, which may not import storage)."""

from __future__ import annotations

from core.etag import quote_etag, unquote_etag

__all__ = ["quote_etag", "unquote_etag"]
