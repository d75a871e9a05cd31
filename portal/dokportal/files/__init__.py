"""Ingest a stream into an encrypted blob plus metadata; open one as a decrypted stream."""

from dokportal.files import sniffing
from dokportal.files.ingest import FileIngest, Ingested
from dokportal.files.reading import open_decrypted

__all__ = ["FileIngest", "Ingested", "open_decrypted", "sniffing"]
