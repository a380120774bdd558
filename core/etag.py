"""The one ETag normaliser: ETags travel unquoted inside Circle Core and are quoted only on the wire.

Storage providers, ``ObjectStore``, the event parsers and the HTTP API all use these two functions, so
an ETag read from one cloud compares equal to the same ETag given back by a caller, quoted or not,
strong or weak. This module imports nothing, so every package (``core.events`` included) may use it.

The forms follow RFC 7232 / RFC 9110 section 8.8.3: an entity tag is ``"opaque"`` (strong) or
``W/"opaque"`` (weak): ``W/`` marks a weak tag only when a quoted string follows it. A bare value is
taken as the opaque part itself, whatever it starts with: fake-gcs-server's ETags are base64 MD5s, and
one in 4096 of them starts with ``W/`` (``W/BP6+LVXxUmXjJlgeYWCA==``), which is data, not a weak marker.
Quotes are stripped only as a pair around the whole value.
"""

from __future__ import annotations


def unquote_etag(value: str | None) -> str | None:
    """``"abc"``, ``W/"abc"``, `` abc `` -> ``abc``; ``W/abc`` and ``"W/abc"`` -> ``W/abc``;
    a lone quote (``"abc``) is kept; None or an empty value -> None."""
    if not value:
        return None
    text = value.strip()
    if len(text) >= 4 and text.startswith('W/"') and text.endswith('"'):
        text = text[3:-1]
    elif len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text or None


def quote_etag(value: str) -> str:
    """The wire form of an ETag condition: ``"abc"`` (``*`` and already quoted values unchanged)."""
    text = value.strip()
    if text == "*":
        return text
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text
    if len(text) >= 4 and text.startswith('W/"') and text.endswith('"'):
        return text
    return f'"{text}"'


__all__ = ["quote_etag", "unquote_etag"]
