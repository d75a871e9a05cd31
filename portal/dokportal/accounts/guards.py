"""Who may see a page: a signed-in customer. Everything else goes to the sign-in page."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from dokportal.accounts.tables import Customer
from dokportal.lib.errors import SignInRequired
from dokportal.lib.web import page_state


async def provide_customer(request: Request[Any, Any, Any]) -> Customer:
    """The signed-in customer; raises :class:`SignInRequired` (→ redirect) otherwise."""
    session = page_state(request).session
    if session is None:
        raise SignInRequired()
    customer: Customer = session.customer
    return customer


# Handler parameter type for the signed-in customer (injected by name).
CurrentCustomer = NamedDependency[Customer]
