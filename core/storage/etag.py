"""The one ETag normaliser: ETags travel unquoted inside Circle Core and are quoted only on the wire.

Every provider, ``ObjectStore`` and the handlers use these two functions, so an ETag read from one cloud
compares equal to the same ETag given back by a caller, quoted or not, strong or weak.
"""

from __future__ import annotations


def unquote_etag(value: str | None) -> str | None:
    """``"abc"``, ``W/"abc"``, `` abc `` -> ``abc``; None or an empty value -> None."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    return text or None


def quote_etag(value: str) -> str:
    """The wire form of an ETag condition: ``"abc"`` (``*`` and already quoted values unchanged)."""
    text = value.strip()
    if text == "*" or text.startswith('"') or text.startswith('W/"'):
        return text
    return f'"{text}"'


__all__ = ["quote_etag", "unquote_etag"]
