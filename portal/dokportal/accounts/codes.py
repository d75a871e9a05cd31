"""One-time activation codes: easy to type from a letter, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

# Crockford's base32 without look-alikes (no I, L, O, U): 32 symbols, 5 bits each.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 3
GROUP_LENGTH = 4  # 12 symbols = 60 bits, enough with throttling and expiry.


def new_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH))


def normalise(code: str) -> str:
    """Accept lower case, spaces, dashes and the usual look-alike mistakes."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()
