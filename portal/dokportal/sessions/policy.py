"""Which counters each guessable form passes, built from the settings.

Kept apart from :mod:`dokportal.sessions.limits` (the mechanism) so the settings can check
the numbers against each other without importing the database layer.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from dokportal.sessions.limits import LONGEST_WINDOW_SECONDS, Limit, counter_key, doubling

if TYPE_CHECKING:
    from dokportal.settings import SecuritySettings

# A pair's history lasts a day: long enough that its pauses do not start over every window;
# a correct password clears it at once.
PAIR_WINDOW_SECONDS = LONGEST_WINDOW_SECONDS
# The pair is slowed by its pauses, not capped: a cap would be a lockout again.
PAIR_UNCAPPED = 1_000_000


def client_of(address: str) -> str:
    """The unit a client is counted in: its IPv4 address, or its IPv6 /64 (one household
    or server usually holds a whole /64, so single IPv6 addresses cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def pair_limit(rules: SecuritySettings) -> Limit:
    return Limit(
        attempts=PAIR_UNCAPPED,
        window_seconds=PAIR_WINDOW_SECONDS,
        free=rules.signin_free_attempts,
        pauses=doubling(rules.signin_first_pause_seconds, rules.signin_longest_pause_seconds),
    )


def client_limit(rules: SecuritySettings) -> Limit:
    return Limit(rules.client_attempts_per_window, rules.client_window_minutes * 60)


def account_limit(rules: SecuritySettings) -> Limit:
    return Limit(rules.account_attempts_per_window, rules.account_window_minutes * 60)


def sign_in(
    rules: SecuritySettings, scope: str, name: str, client: str
) -> tuple[list[tuple[str, Limit]], str]:
    """The counters of a password sign-in (pair, client, account) and the pair's key.

    ``name`` is what was typed, normalised by the caller; it need not exist.
    """
    client = client_of(client)
    pair = counter_key(f"{scope}-pair", name, client)
    counters = [
        (pair, pair_limit(rules)),
        (counter_key(f"{scope}-client", client), client_limit(rules)),
        (counter_key(f"{scope}-account", name), account_limit(rules)),
    ]
    return counters, pair


def per_client(rules: SecuritySettings, scope: str, client: str) -> list[tuple[str, Limit]]:
    """Only the client cap: activation codes and access requests."""
    return [(counter_key(f"{scope}-client", client_of(client)), client_limit(rules))]


def second_factor(
    rules: SecuritySettings, max_failed: int, account_id: int, client: str
) -> list[tuple[str, Limit]]:
    """TOTP and recovery codes: per client, and per account from anywhere. Only someone
    who already has the password gets here, so the account cap is a plain lockout."""
    return [
        (counter_key("code-client", client_of(client)), client_limit(rules)),
        (second_factor_account(account_id), Limit(max_failed, rules.lockout_minutes * 60)),
    ]


def second_factor_account(account_id: int) -> str:
    """The per-account code counter (cleared when an admin resets the second factor)."""
    return counter_key("code-account", str(account_id))
