"""The log of a whole journey holds no personal data: no file name, message, title, password,
customer number, name, mail address or search term, in JSON or in text format.

Every value a person types or sends carries a marker; the log output (our handler, at the
production level INFO) is searched for each marker afterwards. The log is not empty: every
request left its access line with request id, tenant, route template, status and duration.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from dokportal import logs, tasks
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import PortalClient, activate, csrf_of, new_customer, sign_in
from tests.portal.integration.staff.conftest import smtp_settings
from tests.portal.integration.staff.test_customers_notices import (
    _consent,
    _customer_in_team,
    _lead,
    _send_notice,
)
from tests.support import documents
from tests.support.mailserver import Mailbox

NUMBER = "987Z000042"
MARKERS = {
    "customer number": NUMBER,
    "name": "Quokkawitz",
    "password": "Zebrafink-Passwort-2026",
    "wrong password": "Falsches-Okapi-2026",
    "file name": "Narwalbrief",
    "message": "Axolotl-Nachricht",
    "notice title": "Pangolin-Bescheid",
    "notice file": "Tapirakte",
    "mail address": "kakapo@example.org",
    "search": "Gürteltier",
    "path": "Lemurpfad",
}


@pytest.fixture(params=["json", "text"])
def captured(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[tuple[str, io.StringIO]]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    # The test's own SMTP server (aiosmtpd) logs each envelope; it is not the portal.
    smtpd = logging.getLogger("mail.log")
    smtpd.disabled = True
    logs.configure("INFO", request.param, settings.tenant.slug, stream=stream)
    try:
        yield request.param, stream
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "dokportal":
                root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        smtpd.disabled = False


# Piccolo warns on every ILIKE under SQLite (it falls back to LIKE); the test suite turns
# warnings into errors, production only prints it.
@pytest.mark.filterwarnings("ignore:.*SQLite doesn't support ILIKE")
async def test_journey_leaves_no_personal_data_in_the_log(
    client: PortalClient,
    settings: Settings,
    mailbox: Mailbox,
    captured: tuple[str, io.StringIO],
) -> None:
    fmt, stream = captured
    person = await new_customer(number=NUMBER, name=f"Erika {MARKERS['name']}")
    assert (await activate(client, person, MARKERS["password"])).status_code == 303
    await _customer_in_team(client, person, email=MARKERS["mail address"])
    await _consent(client)
    token = await csrf_of(client, "/documents/new")
    sent = await client.post(
        "/documents",
        data={"_csrf": token, "category": "payslip", "message": MARKERS["message"]},
        files=[("files", (f"{MARKERS['file name']}.pdf", documents.pdf(), "application/pdf"))],
    )
    assert sent.status_code == 303
    refused = await client.post(
        "/documents",
        data={"_csrf": token, "category": "payslip", "message": MARKERS["message"]},
        files=[("files", (f"{MARKERS['file name']}.exe", b"MZ\x90\x00" + b"\0" * 64, "x/y"))],
    )
    assert refused.status_code == 415
    customer_cookies = dict(client.cookies)
    assert (await client.get(f"/{MARKERS['path']}?q={MARKERS['search']}")).status_code == 404

    async with PortalClient(client.app) as stranger:
        failed = await sign_in(stranger, NUMBER, MARKERS["wrong password"])
        assert failed.status_code == 401

    await _lead(client, settings)
    notice_pdf = documents.pdf("Bescheid")
    response = await client.post(
        f"/staff/customers/{NUMBER}/notices",
        data={
            "_csrf": await csrf_of(client, f"/staff/customers/{NUMBER}"),
            "title": MARKERS["notice title"],
            "message": MARKERS["message"],
        },
        files=[("file", (f"{MARKERS['notice file']}.pdf", notice_pdf, "application/pdf"))],
    )
    assert response.status_code == 303, response.text
    assert (await client.get(f"/staff/customers?q={MARKERS['search']}")).status_code == 200
    # Mail: once through a real SMTP server, once to a closed port (the failure is logged).
    live = smtp_settings(settings, mailbox)
    await tasks.run_once(live, build_store(live.storage))
    assert len(mailbox.messages) == 1
    await _send_notice(client, NUMBER, MARKERS["notice title"], notice_pdf)
    broken = smtp_settings(settings, mailbox, port=1)
    await tasks.run_once(broken, build_store(broken.storage))

    client.cookies.clear()
    for name, value in customer_cookies.items():
        client.cookies.set(name, value)
    notice = await Notice.objects().first()
    assert notice is not None
    assert (await client.get(f"/notices/{notice.id}")).status_code == 200
    assert (await client.get(f"/notices/{notice.id}/file")).status_code == 200

    output = stream.getvalue()
    for what, marker in MARKERS.items():
        assert marker not in output, f"{what} in the log"
    lines = output.splitlines()
    if fmt == "json":
        events = [json.loads(line) for line in lines]
        access = [event for event in events if event["logger"] == "dokportal.access"]
        assert len(access) >= 15
        for event in access:
            assert event["tenant"] == settings.tenant.slug
            assert len(event["request_id"]) == 16
            assert {"route", "method", "status", "duration_ms", "time", "level"} <= event.keys()
        routes = {(event["route"], event["status"]) for event in access}
        assert ("/documents", 303) in routes and ("/documents", 415) in routes
        assert ("unmatched", 404) in routes
        assert ("/notices/{notice_id}", 200) in routes
        assert len({event["request_id"] for event in access}) == len(access)
        mail = [event for event in events if event["logger"] == "dokportal.mail"]
        assert mail, output
        # The worker ran after the requests, outside any: it inherits no request id.
        assert all("request_id" not in event for event in mail)
    else:
        assert any(" dokportal.access " in line and "/documents 303" in line for line in lines)
