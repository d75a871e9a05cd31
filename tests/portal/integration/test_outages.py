"""Outages read as outages: PostgreSQL stopped, or the link to S3 cut, mid-session.

Every request then answers 503 with a page in the user's language ("temporarily unavailable,
nothing was lost") and ``Retry-After``, and leaves exactly one log line (no traceback). When
the service is back, the same requests work again without restarting the portal.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dokportal import db
from dokportal.app import create_app
from dokportal.i18n.negotiation import NATIVE_NAMES
from dokportal.lib.web import translate
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from tests.portal.conftest import (
    Person,
    activate,
    csrf_of,
    make_settings,
    new_customer,
    portal_client,
)
from tests.portal.integration.staff.conftest import (
    make_staff,
    put_in_team,
    staff_cookies,
    upload,
    use,
)
from tests.support import documents
from tests.support.postgres import PostgresServer, find_bindir, postgres_server
from tests.support.seaweed import SeaweedS3
from tests.support.services import unavailable
from tests.support.tcp_link import tcp_link

READ = "The portal is temporarily unavailable. Nothing was lost. Please try again in a few minutes."
SENT = (
    "The portal is temporarily unavailable. Nothing was lost, but what you just sent was not "
    "saved. Please send it again in a few minutes."
)
LANGUAGES = sorted(NATIVE_NAMES)


def capture(caplog: pytest.LogCaptureFixture) -> None:
    """Creating the app configures logging (Litestar's dictConfig replaces the root logger's
    handlers): put pytest's capturing handler back, from here on."""
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)
    caplog.clear()
    caplog.set_level(logging.INFO)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL of this module's own: stopping it disturbs no other test."""
    if find_bindir() is None:
        unavailable("PostgreSQL", "initdb not found; run `make system-deps`")
    with postgres_server() as server:
        yield server


def unavailable_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def assert_outage_page(response: httpx.Response, lang: str, message: str = READ) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["retry-after"] == "120"
    text = html.unescape(response.text)
    assert translate(lang, message) in text
    assert translate(lang, "Temporarily unavailable") in text
    if lang != "en":
        assert translate(lang, message) != message  # really translated
    assert "frame-ancestors" in response.headers["content-security-policy"]


def assert_one_line_each(caplog: pytest.LogCaptureFixture, requests: int) -> None:
    errors = unavailable_lines(caplog)
    assert len(errors) == requests, [r.getMessage() for r in errors]
    for record in errors:
        assert record.exc_info is None and record.exc_text is None
        assert record.getMessage().startswith("unavailable: "), record.getMessage()
        assert "\n" not in record.getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.timeout(180)
async def test_database_down_answers_503_and_recovers_without_restart(
    private_postgres: tuple[PostgresServer, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, url = private_postgres
    settings = make_settings(tmp_path, url)
    db.configure(settings)
    await db.migrate()
    app = create_app(settings)
    async with portal_client(app) as client:
        person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        customer_cookies = dict(client.cookies)
        await ensure_team("team-a")
        lead = await make_staff(settings, "lena", "team_lead", "team-a")
        lead_cookies = await staff_cookies(settings, lead)
        from dokportal.api.services import create_token

        api_token, _ = await create_token("e-Akte", ["read"], None)
        form_token = await csrf_of(client, "/profile")

        server.stop()
        try:
            capture(caplog)
            for lang in LANGUAGES:
                page = await client.get("/documents/new", headers={"accept-language": lang})
                assert_outage_page(page, lang)
            sent = await client.post(
                "/profile/consent",
                data={"_csrf": form_token, "consent": "1"},
                headers={"accept-language": "uk"},
            )
            assert_outage_page(sent, "uk", SENT)
            use(client, lead_cookies)
            workspace = await client.get("/staff", headers={"accept-language": "de"})
            assert_outage_page(workspace, "de")
            client.cookies.clear()
            api = await client.get(
                "/api/v1/submissions", headers={"authorization": f"Bearer {api_token}"}
            )
            assert api.status_code == 503 and api.headers["retry-after"] == "120"
            assert api.json() == {"error": READ}
            assert_one_line_each(caplog, len(LANGUAGES) + 3)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and "database" in ready.json()
        finally:
            server.start()

        # Back: the same session, the same pages, no restart.
        use(client, customer_cookies)
        page = await client.get("/documents/new")
        assert page.status_code == 200, page.text[:300]
        assert (await client.get("/readyz")).status_code == 200
        use(client, lead_cookies)
        assert (await client.get("/staff")).status_code == 200
        client.cookies.clear()
        api = await client.get(
            "/api/v1/submissions", headers={"authorization": f"Bearer {api_token}"}
        )
        assert api.status_code == 200


@pytest.fixture
def linked_settings(
    tmp_path: Path, database_url: str, seaweed: SeaweedS3, s3_bucket: str
) -> Iterator[tuple[Settings, object]]:
    endpoint = urlsplit(seaweed.endpoint_url)
    assert endpoint.hostname is not None and endpoint.port is not None
    with tcp_link((endpoint.hostname, endpoint.port)) as link:
        settings = make_settings(
            tmp_path,
            database_url,
            storage={
                "kind": "s3",
                "s3_endpoint": link.url,
                "s3_bucket": s3_bucket,
                "s3_access_key": seaweed.access_key,
                "s3_secret_key": seaweed.secret_key,
            },
        )
        yield settings, link


@pytest.mark.s3
@pytest.mark.timeout(180)
async def test_storage_down_answers_503_and_recovers_without_restart(
    linked_settings: tuple[Settings, object], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.portal.conftest import _empty_tables
    from tests.support.tcp_link import TcpLink

    settings, link = linked_settings
    assert isinstance(link, TcpLink)
    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app) as client:
        person: Person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        await ensure_team("team-a")
        await put_in_team(person.number, "team-a")
        customer_cookies = dict(client.cookies)
        letter = documents.pdf("Kontoauszug")
        reference = await upload(client, ("konto.pdf", letter, "application/pdf"))
        member = await make_staff(settings, "sb1", "caseworker", "team-a")
        member_cookies = await staff_cookies(settings, member)

        link.cut()
        try:
            capture(caplog)
            use(client, member_cookies)
            for lang in ("de", "ar"):
                download = await client.get(
                    f"/staff/submissions/{reference}/files/0", headers={"accept-language": lang}
                )
                assert_outage_page(download, lang)
                assert "content-disposition" not in download.headers
            use(client, customer_cookies)
            token = await csrf_of(client, "/documents/new")
            sent = await client.post(
                "/documents",
                data={"_csrf": token, "category": "payslip"},
                files=[("files", ("a.pdf", documents.pdf(), "application/pdf"))],
                headers={"accept-language": "tr"},
            )
            assert_outage_page(sent, "tr", SENT)
            assert_one_line_each(caplog, 3)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and "storage" in ready.json()
        finally:
            link.restore()

        use(client, member_cookies)
        download = await client.get(f"/staff/submissions/{reference}/files/0")
        assert download.status_code == 200 and download.content == letter
        use(client, customer_cookies)
        assert await upload(client)
