"""Parameters of ``Content-Disposition`` and ``Content-Type`` headers, as browsers send them.

Browsers write a multipart part's ``filename`` as raw UTF-8 inside quotes and escape only
``"``, CR and LF as ``%22``, ``%0D``, ``%0A`` (the HTML standard's multipart/form-data
encoding); other clients send RFC 5987/2231 ``filename*=UTF-8''…``, alone or beside an ASCII
``filename``, and then ``filename*`` wins (RFC 6266 § 4.3). python-multipart's
``parse_options_header`` encodes values as latin-1 and so failed on every Cyrillic or Arabic
name; this parser works on ``str`` throughout and never raises on any input.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Only the three escapes browsers produce are undone: a literal "100%25.pdf" stays as sent.
_BROWSER_ESCAPES = re.compile(r"%(22|0[dD]|0[aA])")
_UNESCAPE = {"22": '"', "0d": "\r", "0a": "\n"}


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type; key=value; key="quoted value"`` into the lower-cased type and parameters.

    Quoted values may contain ``;`` and ``\\"``; a backslash before anything else is kept,
    because old browsers sent Windows paths (``C:\\Users\\…``) unescaped. The first
    occurrence of a parameter counts. Malformed pieces are skipped, not fatal.
    """
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    position, length = 0, len(rest)
    while position < length:
        while position < length and rest[position] in " \t;":
            position += 1
        equals = rest.find("=", position)
        if equals < 0:
            break
        key = rest[position:equals].strip().lower()
        position = equals + 1
        while position < length and rest[position] in " \t":
            position += 1
        if position < length and rest[position] == '"':
            text, position = _quoted(rest, position + 1)
        else:
            end = rest.find(";", position)
            end = length if end < 0 else end
            text, position = rest[position:end].strip(), end
        if key and key not in params:
            params[key] = text
    return kind.strip().lower(), params


def _quoted(text: str, position: int) -> tuple[str, int]:
    """Read a quoted string starting after its opening quote; returns (value, next index)."""
    out: list[str] = []
    length = len(text)
    while position < length:
        char = text[position]
        if char == '"':
            return "".join(out), position + 1
        escaped = text[position + 1] if char == "\\" and position + 1 < length else ""
        if escaped == "\\" or (escaped == '"' and not _closes(text, position + 2)):
            out.append(escaped)
            position += 2
            continue
        out.append(char)
        position += 1
    return "".join(out), position  # unterminated: take what there is


def _closes(text: str, position: int) -> bool:
    """Whether a quote just before ``position`` ends the value (end or ``;`` follows).

    Browsers do not escape backslashes, so a name ending in ``\\`` arrives as ``"…\\"``."""
    rest = text[position:].lstrip(" \t")
    return not rest or rest[0] == ";"


def extended_value(value: str) -> str | None:
    """Decode an RFC 5987 ``charset'language'percent-encoded`` value; None if malformed."""
    charset, quote_sign, rest = value.partition("'")
    _language, quote_sign2, encoded = rest.partition("'")
    if not quote_sign or not quote_sign2:
        return None
    charset = charset.strip().lower()
    if charset not in ("utf-8", "iso-8859-1"):
        return None
    return unquote(encoded, encoding=charset, errors="replace")


def part_filename(params: dict[str, str]) -> str | None:
    """The file name of a multipart part: ``filename*`` if it decodes, else ``filename``."""
    if "filename*" in params:
        exact = extended_value(params["filename*"])
        if exact is not None:
            return exact
    if "filename" in params:
        return _BROWSER_ESCAPES.sub(lambda m: _UNESCAPE[m.group(1).lower()], params["filename"])
    return None
