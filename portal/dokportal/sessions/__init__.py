"""What customers and staff share about signing in: sessions and guessing limits.

Sits below the domains (accounts, staff) and above :mod:`dokportal.lib`: it knows session
tokens and attempt counters, never what a customer or a staff member is.
"""
