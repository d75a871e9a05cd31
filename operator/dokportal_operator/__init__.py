"""Dokportal operator (Kopf)."""
