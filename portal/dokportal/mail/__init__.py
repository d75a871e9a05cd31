"""Notification mail: an outbox in the database, delivered with retries and backoff."""
