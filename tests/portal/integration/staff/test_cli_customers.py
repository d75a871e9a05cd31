"""The command line keeps the staff side's rules: every customer is in a team (so every
submission reaches an inbox), and `notice send` delivers electronically only with consent."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dokportal.accounts.piccolo_migrations.accounts_2026_12_01t05_30_00_000000 import (
    assign_default_team,
)
from dokportal.accounts.tables import Customer
from dokportal.documents.tables import Submission
from dokportal.mail.tables import MailJob
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.staff.tables import StaffAccount, Team
from tests.portal.conftest import Person, PortalClient, activate, new_customer
from tests.portal.integration.staff.conftest import (
    StaffMember,
    make_staff,
    staff_cookies,
    upload,
    use,
)
from tests.support import documents
from tests.support.appliance import cli

CODE_RE = re.compile(r"Activation code for \S+: (\S+)")


async def _cli(settings: Settings, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dokportal …` as a process, against the test's database, keyring and blob folder."""
    env = {
        "DOKPORTAL_DATABASE_URL": settings.database_url.get_secret_value(),
        "DOKPORTAL_KEYRING_PATH": str(settings.keyring_path),
        "DOKPORTAL_STORAGE__KIND": "folder",
        "DOKPORTAL_STORAGE__FOLDER": str(settings.storage.folder),
        "DOKPORTAL_SESSION_SECRET": settings.session_secret.get_secret_value(),
    }
    return await asyncio.to_thread(cli, workdir, *args, env=env)


async def _assert_every_submission_reaches_a_caseworker(
    client: PortalClient, settings: Settings
) -> None:
    """For each submission: its customer has a team, and the team's caseworkers see it."""
    submissions = await Submission.objects()
    assert submissions
    for submission in submissions:
        customer = await Customer.objects().where(Customer.id == submission.customer).first()
        assert customer is not None and customer.team is not None
        caseworkers = await StaffAccount.objects().where(
            (StaffAccount.team == customer.team) & (StaffAccount.role == "caseworker")
        )
        assert caseworkers, f"nobody in the team of {customer.customer_number}"
        for account in caseworkers:
            member = StaffMember(username=account.username, id=account.id, secret=b"")
            use(client, await staff_cookies(settings, member))
            assert submission.reference in (await client.get("/staff")).text


async def test_a_cli_customer_is_in_the_default_team_and_their_submission_in_its_inbox(
    client: PortalClient, settings: Settings, tmp_path: Path
) -> None:
    await make_staff(settings, "sb.default", "caseworker", settings.tenant.default_team)
    made = await _cli(
        settings,
        tmp_path,
        "customer",
        "create",
        "--number",
        "123C000001",
        "--name",
        "Olena Kovalenko",
    )
    assert made.returncode == 0, made.stderr
    match = CODE_RE.search(made.stdout)
    assert match
    row = await Customer.objects().where(Customer.customer_number == "123C000001").first()
    assert row is not None
    team = await Team.objects().where(Team.slug == settings.tenant.default_team).first()
    assert team is not None and row.team == team.id
    client.cookies.clear()
    person = Person(number="123C000001", code=match.group(1), id=row.id)
    assert (await activate(client, person)).status_code == 303
    await upload(client)
    await _assert_every_submission_reaches_a_caseworker(client, settings)


async def test_cli_team_must_exist(
    client: PortalClient, settings: Settings, tmp_path: Path
) -> None:
    await make_staff(settings, "sb.b", "caseworker", "team-b")
    typo = await _cli(
        settings,
        tmp_path,
        "customer",
        "create",
        "--number",
        "123C000002",
        "--name",
        "X",
        "--team",
        "tem-b",
    )
    assert typo.returncode != 0 and "no team 'tem-b'" in typo.stderr and "team-b" in typo.stderr
    assert not await Customer.exists().where(Customer.customer_number == "123C000002")
    right = await _cli(
        settings,
        tmp_path,
        "customer",
        "create",
        "--number",
        "123C000002",
        "--name",
        "X",
        "--team",
        "team-b",
    )
    assert right.returncode == 0, right.stderr
    row = await Customer.objects().where(Customer.customer_number == "123C000002").first()
    team = await Team.objects().where(Team.slug == "team-b").first()
    assert row is not None and team is not None and row.team == team.id


async def test_the_migration_routes_teamless_customers_to_the_default_team(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """A customer from before (no team) who already sent documents: after the migration
    step their submission is in the default team's inbox."""
    await upload(client)
    row = await Customer.objects().where(Customer.id == customer.id).first()
    assert row is not None and row.team is None
    await make_staff(settings, "sb.default", "caseworker", settings.tenant.default_team)
    other = await new_customer("123A000002", "Zweite Person")
    assert await assign_default_team(settings.tenant.default_team) == 2
    assert await assign_default_team(settings.tenant.default_team) == 0  # nothing left
    for person_id in (customer.id, other.id):
        moved = await Customer.objects().where(Customer.id == person_id).first()
        assert moved is not None and moved.team is not None
    await _assert_every_submission_reaches_a_caseworker(client, settings)


async def test_cli_notice_without_consent_goes_by_post(
    client: PortalClient, customer: Person, settings: Settings, tmp_path: Path
) -> None:
    await Customer.update({Customer.email: "erika@example.org"}).where(Customer.id == customer.id)
    letter = tmp_path / "Bescheid.pdf"
    letter.write_bytes(documents.pdf("Bescheid"))
    sent = await _cli(
        settings, tmp_path, "notice", "send", "--customer", customer.number, str(letter)
    )
    assert sent.returncode == 0, sent.stderr
    notice = await Notice.objects().first()
    assert notice is not None and notice.delivery == "post"
    assert await MailJob.count() == 0


async def test_cli_notice_with_consent_is_electronic_and_notified(
    client: PortalClient, customer: Person, settings: Settings, tmp_path: Path
) -> None:
    await Customer.update(
        {Customer.email: "erika@example.org", Customer.e_delivery_consent_at: datetime.now(UTC)}
    ).where(Customer.id == customer.id)
    letter = tmp_path / "Bescheid.pdf"
    letter.write_bytes(documents.pdf("Bescheid"))
    sent = await _cli(
        settings, tmp_path, "notice", "send", "--customer", customer.number, str(letter)
    )
    assert sent.returncode == 0, sent.stderr
    notice = await Notice.objects().first()
    assert notice is not None and notice.delivery == "electronic" and notice.sent_by is None
    job = await MailJob.objects().first()
    assert job is not None and job.object_id == str(notice.id) and job.kind == "notice"
