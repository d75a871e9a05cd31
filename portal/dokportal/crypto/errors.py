"""The crypto error tree.

One base class lets the web layer map every crypto failure to one response, while the
subclasses keep "the ciphertext is bad" apart from "the keyring is misconfigured": the
first is a tampered or corrupt document, the second an operator mistake.
"""


class CryptoError(Exception):
    """Base class of every error raised by `dokportal.crypto`."""


class DecryptionError(CryptoError):
    """Ciphertext or a wrapped key failed authentication, or is malformed.

    Deliberately vague: telling an attacker *which* check failed only helps them.
    """


class KeyringError(CryptoError):
    """The keyring file is missing, unreadable or inconsistent."""


class UnknownKeyError(KeyringError, KeyError):
    """A key id is not in the keyring (a ``KeyError``, so mapping-style code works)."""

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message, quoting it twice in logs.
        return str(self.args[0]) if self.args else ""
