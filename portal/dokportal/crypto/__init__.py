"""Encryption at rest: tenant keyrings, wrapped data keys, streaming AES-256-GCM.

Import from here, not from the submodules: this is the package's public surface.
"""

from dokportal.crypto.envelope import (
    WrappedKey,
    new_data_key,
    rewrap,
    unwrap_data_key,
    wrap_data_key,
)
from dokportal.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyringError,
    UnknownKeyError,
)
from dokportal.crypto.keyring import Keyring
from dokportal.crypto.segments import (
    FORMAT_VERSION,
    SEGMENT_BYTES,
    SegmentDecryptor,
    SegmentEncryptor,
    blob_aad,
    ciphertext_size,
    plaintext_size,
)

__all__ = [
    "FORMAT_VERSION",
    "SEGMENT_BYTES",
    "CryptoError",
    "DecryptionError",
    "Keyring",
    "KeyringError",
    "SegmentDecryptor",
    "SegmentEncryptor",
    "UnknownKeyError",
    "WrappedKey",
    "blob_aad",
    "ciphertext_size",
    "new_data_key",
    "plaintext_size",
    "rewrap",
    "unwrap_data_key",
    "wrap_data_key",
]
