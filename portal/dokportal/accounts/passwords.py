"""Password hashing (argon2id) and the password rules shown to customers up front."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dokportal.i18n import N_

# argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()

# A valid hash to verify against when the account does not exist, so timing does not
# tell an attacker which customer numbers are real.
_DUMMY_HASH = _hasher.hash("dokportal-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(
    password: str, repeat: str, min_length: int, customer_number: str
) -> list[str]:
    """Untranslated msgids for every rule the password breaks (empty when it is fine)."""
    problems: list[str] = []
    if password != repeat:
        problems.append(N_("The two passwords are not the same."))
    if len(password) < min_length:
        problems.append(N_("The password must have at least %(min)s characters."))
    if len(password) > 256:
        problems.append(N_("The password must not be longer than 256 characters."))
    if customer_number and customer_number.lower() in password.lower():
        problems.append(N_("The password must not contain your customer number."))
    if len(set(password)) < 4:
        problems.append(N_("The password must not repeat the same few characters."))
    return problems
