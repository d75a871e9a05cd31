"""What a file really is, judged by its first bytes rather than its name (OWASP upload)."""

from __future__ import annotations

from pathlib import PurePath

# Content type → (magic prefix, the extensions that may honestly carry it).
SIGNATURES: dict[str, tuple[bytes, frozenset[str]]] = {
    "application/pdf": (b"%PDF-", frozenset({".pdf"})),
    "image/jpeg": (b"\xff\xd8\xff", frozenset({".jpg", ".jpeg", ".jfif"})),
    "image/png": (b"\x89PNG\r\n\x1a\n", frozenset({".png"})),
}
# Bytes needed to decide.
SNIFF_BYTES = 8

# Extensions that name a type we know; anything else (e.g. "scan" or ".heic") is judged by
# content alone, since phones name photos inconsistently.
KNOWN_EXTENSIONS = {ext: kind for kind, (_, exts) in SIGNATURES.items() for ext in exts}


def sniff(head: bytes) -> str | None:
    """The content type the first bytes prove, or None."""
    for content_type, (magic, _) in SIGNATURES.items():
        if head.startswith(magic):
            return content_type
    return None


def extension_contradicts(filename: str, content_type: str) -> bool:
    """True when the name claims one allowed type and the content is another (disguise)."""
    claimed = KNOWN_EXTENSIONS.get(PurePath(filename).suffix.lower())
    return claimed is not None and claimed != content_type
