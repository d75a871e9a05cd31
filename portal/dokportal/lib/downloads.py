"""Headers for handing files to a browser safely (security.md item 9, RFC 6266)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

# A downloaded document must never run script in our origin, even if a browser sniffs it.
SANDBOX_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def ascii_fallback(filename: str) -> str:
    """The name for clients without RFC 5987: accents dropped (``März`` → ``Marz``), every
    other character outside printable ASCII, and ``"``, ``\\``, ``;``, replaced by ``_``."""
    decomposed = unicodedata.normalize("NFKD", filename)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in base)


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """ASCII fallback plus the exact UTF-8 name (``filename*``) so umlauts and Arabic survive."""
    fallback = ascii_fallback(filename)
    kind = "inline" if inline else "attachment"
    exact = quote(filename, safe="")
    return f"{kind}; filename=\"{fallback or 'document'}\"; filename*=UTF-8''{exact}"


def attachment_headers(filename: str, *, inline: bool = False) -> dict[str, str]:
    return {
        "content-disposition": content_disposition(filename, inline=inline),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-security-policy": SANDBOX_CSP,
    }
