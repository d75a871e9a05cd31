"""Online access requests: a customer without credentials asks for them.

The answer is the same whether or not the data matched a customer, so the form cannot be
used to find out who is a customer; requests are throttled per client and each is audited.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from dokportal.accounts.services import issue_activation_code
from dokportal.accounts.tables import AccessRequest, Customer
from dokportal.mail.services import enqueue
from dokportal.sessions import limits, policy
from dokportal.settings import Settings


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


async def request_access(
    *, number: str, name: str, birth: str, client: str, settings: Settings
) -> AccessRequest | None:
    """Queue a letter (or mail a one-time link) when everything matches; else nothing."""
    rules = settings.security
    await limits.take(policy.per_client(rules, "access", client), settings.tenant.timezone)
    try:
        born = date.fromisoformat(birth.strip())
    except ValueError:
        return None
    customer = (
        await Customer.objects()
        .where(Customer.customer_number == number.strip().upper()[:32])
        .first()
    )
    if (
        customer is None
        or customer.date_of_birth != born
        or not _same_name(customer.display_name, name)
        or customer.activated_at is not None
        or customer.disabled_at is not None
        or customer.team is None
    ):
        return None
    if settings.delivery.activation_links_by_mail and customer.email:
        code = await issue_activation_code(customer.id, settings.security.activation_code_days)
        query = urlencode({"customer_number": customer.customer_number, "code": code})
        await enqueue(
            kind="activation",
            recipient=customer.email,
            language=customer.preferred_language,
            object_type="customer",
            object_id=customer.customer_number,
            secret=query,
        )
        row = AccessRequest(customer=customer.id, channel="mail")
    else:
        row = AccessRequest(customer=customer.id, channel="letter")
    await row.save()
    return row
