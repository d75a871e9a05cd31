"""The numbers behind the sign-in limits (the database side is in test_signin_limits.py)."""

from __future__ import annotations

from dokportal.sessions.limits import Limit, doubling
from dokportal.sessions.policy import client_of, pair_limit
from dokportal.settings import SecuritySettings


def test_clients_are_counted_per_ipv4_address_or_ipv6_64() -> None:
    assert client_of("2001:db8:1:2:aaaa::1") == client_of("2001:db8:1:2:ffff::9")
    assert client_of("2001:db8:1:2::1") != client_of("2001:db8:1:3::1")
    assert client_of("::ffff:192.0.2.1") == client_of("192.0.2.1") == "192.0.2.1"
    assert client_of("192.0.2.1") != client_of("192.0.2.2")
    assert client_of("unknown") == "unknown"


def test_pauses_double_up_to_the_longest() -> None:
    assert doubling(2, 900) == (2, 4, 8, 16, 32, 64, 128, 256, 512, 900)
    limit = Limit(attempts=100, window_seconds=3600, free=3, pauses=doubling(2, 900))
    assert [limit.pause_after(n) for n in range(1, 7)] == [0, 0, 2, 4, 8, 16]
    assert limit.pause_after(50) == 900


def test_the_default_ceiling_needs_more_than_one_address() -> None:
    """What one address reaches on one account in a window, as the docs state it."""
    rules = SecuritySettings()
    one_window = pair_limit(rules).burst(rules.account_window_minutes * 60)
    assert one_window == 11
    assert rules.account_attempts_per_window > 2 * one_window
