"""Append-only, hash-chained audit trail: who did what to which record, never the content."""

from dokportal.audit.services import Actor, record, verify_chain

__all__ = ["Actor", "record", "verify_chain"]
