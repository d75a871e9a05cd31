"""Every customer belongs to a team: those without one go to the tenant's default team.

A customer without a team is in no inbox, so their submissions reached nobody (customers
made by ``dokportal customer create`` before it asked for a team). The default team is
``DOKPORTAL_TENANT__DEFAULT_TEAM`` of the process running the migrations (the same
environment as the portal), created when a customer needs it.
"""

from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.engine.finder import engine_finder
from piccolo.table import Table

ID = "2026-12-01T05:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customers without a team go to the default team"


class Team(Table, tablename="team", schema=None):
    id = Serial(primary_key=True)
    slug = Varchar(length=64)
    name = Varchar(length=200)
    created_at = Timestamptz()


class Customer(Table, tablename="customer", schema=None):
    id = Serial(primary_key=True)
    team = ForeignKey(references=Team, null=True)


def default_team_slug() -> str:
    from dokportal.settings import TenantSettings, get_settings

    try:
        return get_settings().tenant.default_team
    except ValueError:  # settings incomplete in this process: the documented default
        return TenantSettings().default_team


async def assign_default_team(slug: str) -> int:
    """Put every customer without a team into team ``slug``; returns how many moved."""
    engine = engine_finder()  # the engine of this run (tables cache the first one they saw)
    assert engine is not None
    for table in (Team, Customer):
        table._meta.db = engine
    orphans = await Customer.count().where(Customer.team.is_null())
    if not orphans:
        return 0
    team = await Team.select(Team.id).where(Team.slug == slug).first()
    if team is None:
        await Team.insert(Team(slug=slug, name=slug, created_at=datetime.now(UTC)))
        team = await Team.select(Team.id).where(Team.slug == slug).first()
        assert team is not None
    await Customer.update({Customer.team: team["id"]}).where(Customer.team.is_null())
    return int(orphans)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)

    async def run() -> None:
        await assign_default_team(default_team_slug())

    manager.add_raw(run)
    return manager
