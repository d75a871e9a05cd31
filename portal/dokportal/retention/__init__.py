"""Deleting transferred submissions on schedule: blobs first, then rows."""
