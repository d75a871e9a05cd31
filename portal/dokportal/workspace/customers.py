"""Customer accounts as the team sees them: create, look up, lock, unlock. No HTTP types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dokportal.accounts.services import end_all_sessions, issue_activation_code
from dokportal.accounts.tables import Customer
from dokportal.documents.tables import Submission
from dokportal.i18n import N_
from dokportal.lib.errors import BadRequest, NotFound
from dokportal.notices.tables import Notice

NUMBER = re.compile(r"^[0-9A-Z]{4,32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")


@dataclass(frozen=True)
class NewCustomer:
    number: str
    name: str
    language: str
    email: str
    date_of_birth: date | None


def parse_new_customer(
    *, number: str, name: str, language: str, email: str, birth: str, languages: list[str]
) -> tuple[NewCustomer | None, list[str]]:
    """Validate the form; returns the customer or the msgids of every problem."""
    problems: list[str] = []
    number = number.strip().upper()
    if not NUMBER.fullmatch(number):
        problems.append(N_("The customer number must have 4 to 32 letters or digits."))
    name = " ".join(name.split())
    if not name or len(name) > 200:
        problems.append(N_("Please enter the customer's name."))
    if language not in languages:
        problems.append(N_("Please choose a language."))
    email = email.strip()
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        problems.append(N_("The e-mail address does not look right."))
    born: date | None = None
    if birth.strip():
        try:
            born = date.fromisoformat(birth.strip())
        except ValueError:
            problems.append(N_("The date of birth must be a date like 1980-03-31."))
    if problems:
        return None, problems
    return NewCustomer(number, name, language, email, born), []


async def create_customer(new: NewCustomer, team_id: int) -> Customer:
    if await Customer.exists().where(Customer.customer_number == new.number):
        raise BadRequest("A customer with this customer number already exists.")
    row = Customer(
        customer_number=new.number,
        display_name=new.name,
        preferred_language=new.language,
        email=new.email,
        date_of_birth=new.date_of_birth,
        team=team_id,
    )
    await row.save()
    return row


async def customers_of_team(team_id: int | None, search: str = "") -> list[Customer]:
    if team_id is None:
        return []
    query = Customer.objects().where(Customer.team == team_id)
    term = search.strip()[:64]
    if term:
        query = query.where(
            Customer.customer_number.ilike(f"%{term}%") | Customer.display_name.ilike(f"%{term}%")
        )
    rows: list[Customer] = await query.order_by(Customer.display_name).limit(500)
    return rows


async def customer_for_team(team_id: int | None, number: str) -> Customer:
    """A customer of the team; any other number is 'not found'."""
    if team_id is None:
        raise NotFound("This customer was not found.")
    row = (
        await Customer.objects()
        .where(
            (Customer.customer_number == number.strip().upper()[:32]) & (Customer.team == team_id)
        )
        .first()
    )
    if row is None:
        raise NotFound("This customer was not found.")
    return row


async def new_code(customer: Customer, valid_days: int) -> str:
    """A fresh activation code; every earlier unused code stops working."""
    return await issue_activation_code(customer.id, valid_days)


async def set_locked(customer: Customer, locked: bool) -> None:
    """Locked customers cannot sign in; their open sessions end at once."""
    await Customer.update({Customer.disabled_at: datetime.now(UTC) if locked else None}).where(
        Customer.id == customer.id
    )
    if locked:
        await end_all_sessions(customer.id)


async def submissions_of(customer_id: int) -> list[Submission]:
    rows: list[Submission] = (
        await Submission.objects()
        .where(Submission.customer == customer_id)
        .order_by(Submission.id, ascending=False)
    )
    return rows


async def notices_of(customer_id: int) -> list[Notice]:
    rows: list[Notice] = (
        await Notice.objects()
        .where(Notice.customer == customer_id)
        .order_by(Notice.id, ascending=False)
    )
    return rows
