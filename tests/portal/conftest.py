"""The portal under test: one app per test on SQLite and on PostgreSQL, real blob store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from dokportal import db
from dokportal.accounts.services import issue_activation_code
from dokportal.accounts.tables import Customer
from dokportal.app import create_app
from dokportal.crypto import Keyring
from dokportal.settings import Settings

CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
PASSWORD = "Sonnenblume-2026"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Every database-backed test runs twice: embedded SQLite and PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "portal.sqlite3"
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    settings = Settings(database_url=url)
    db.configure(settings)
    await db.migrate()
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    keyring_path = tmp_path / "keyring.json"
    if not keyring_path.exists():
        Keyring.generate().save(keyring_path)
    (tmp_path / "blobs").mkdir(mode=0o700, exist_ok=True)
    values: dict[str, object] = {
        "database_url": database_url,
        "keyring_path": keyring_path,
        "session_secret": "test-secret-" + "x" * 40,
        "storage": {"kind": "folder", "folder": tmp_path / "blobs"},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


async def _empty_tables() -> None:
    for table in reversed(db.all_tables()):
        await table.delete(force=True)


class PortalClient(httpx.AsyncClient):
    """An HTTP client talking to the app in the test's own event loop.

    Litestar's AsyncTestClient runs the app in a second thread and loop; a PostgreSQL pool
    started there cannot be shared with the test's own queries, so we drive the ASGI app
    directly and run its lifespan here.
    """

    def __init__(self, app: Litestar, address: str = "127.0.0.1") -> None:
        super().__init__(
            transport=httpx.ASGITransport(app=app, client=(address, 50000)),  # type: ignore[arg-type]
            base_url="http://testserver",
            # Tests look at each redirect themselves: where it points is part of the behaviour.
            follow_redirects=False,
            # Assertions read English text; the language tests set their own header.
            headers={"accept-language": "en"},
        )
        self.app = app


@asynccontextmanager
async def portal_client(app: Litestar) -> AsyncIterator[PortalClient]:
    """The app's database pool around a client. Litestar's own lifespan uses an anyio task
    group, which cannot span pytest-asyncio's separate setup and teardown tasks; the real
    lifespan runs in the tests that start `dokportal run` as a process."""
    engine = db.current_engine()
    await db.open_pool(engine)
    try:
        async with PortalClient(app) as test_client:
            yield test_client
    finally:
        await db.close_pool(engine)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[PortalClient]:
    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app) as test_client:
        yield test_client


async def csrf_of(client: PortalClient, path: str = "/signin") -> str:
    """Load a page and return its form token (the CSRF cookie is kept by the client)."""
    page = await client.get(path)
    match = CSRF_RE.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


@dataclass
class Person:
    number: str
    code: str
    id: int


async def new_customer(number: str = "123A000001", name: str = "Erika Mustermann") -> Person:
    row = Customer(customer_number=number, display_name=name)
    await row.save()
    code = await issue_activation_code(row.id, 30)
    return Person(number=number, code=code, id=row.id)


async def activate(client: PortalClient, person: Person, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, "/activate")
    return await client.post(
        "/activate",
        data={
            "_csrf": token,
            "customer_number": person.number,
            "code": person.code,
            "password": password,
            "password_repeat": password,
        },
    )


async def sign_in(client: PortalClient, number: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = await csrf_of(client)
    return await client.post(
        "/signin", data={"_csrf": token, "customer_number": number, "password": password}
    )


@pytest.fixture
async def customer(client: PortalClient) -> Person:
    """An activated, signed-in customer in ``client``."""
    person = await new_customer()
    response = await activate(client, person)
    assert response.status_code == 303, response.text
    return person
