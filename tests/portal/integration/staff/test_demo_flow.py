"""The issue's "done when", on the `make run` appliance as a real process.

A caseworker signs in with TOTP (secret from the demo banner), creates a customer and prints
the letter; the customer activates with it, consents, uploads; the caseworker processes the
submission and sends a notice; the mail arrives (the in-process worker writes it to
var/mail); the customer opens the notice; the caseworker sees opened-at and the
deemed-received date; the export API hands the submission over and acknowledges it; the
admin sees it all in the audit trail and `dokportal audit verify` passes.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from pypdf import PdfReader

from tests.support import documents
from tests.support.appliance import cli, running_appliance

CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
STAFF_RE = re.compile(
    r"Demo (caseworker|admin):\s+(\S+) / (\S+)\s+\(shown once\)\n\s+TOTP secret:\s+(\w+)"
)
TOKEN_RE = re.compile(r"Demo API token:\s+(dkp_\S+)")
CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
PASSWORD = "Sonnenblume-2026"


def csrf(browser: httpx.Client, path: str) -> str:
    match = CSRF_RE.search(browser.get(path).text)
    assert match, path
    return match.group(1)


def post(browser: httpx.Client, path: str, page: str, **data: str) -> httpx.Response:
    return browser.post(path, data={"_csrf": csrf(browser, page), **data})


def staff_sign_in(browser: httpx.Client, username: str, password: str, secret: str) -> None:
    first = post(browser, "/staff/signin", "/staff/signin", username=username, password=password)
    assert first.status_code == 303 and first.headers["location"] == "/staff/signin/code"
    code = pyotp.TOTP(secret).now()
    done = post(browser, "/staff/signin/code", "/staff/signin/code", code=code)
    assert done.status_code == 303 and done.headers["location"] == "/staff", done.text[:300]


def wait_for_mail(folder: Path, deadline: float) -> list[Path]:
    """The worker runs every second in this appliance: wait for its effect, bounded."""
    while True:
        found = sorted(folder.glob("*.eml")) if folder.exists() else []
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.timeout(240)
def test_done_when_on_the_demo(tmp_path: Path) -> None:
    with running_appliance(tmp_path, env={"DOKPORTAL_WORKER__INTERVAL_SECONDS": "1"}) as app:
        people = {m.group(1): m.groups()[1:] for m in STAFF_RE.finditer(app.output)}
        token_match = TOKEN_RE.search(app.output)
        assert "caseworker" in people and "admin" in people and token_match, app.output
        api_token = token_match.group(1)
        worker = httpx.Client(base_url=app.url, headers={"accept-language": "de"})
        citizen = httpx.Client(base_url=app.url, headers={"accept-language": "ar"})

        # The caseworker signs in with TOTP and creates a customer.
        staff_sign_in(worker, *people["caseworker"])
        created = post(
            worker,
            "/staff/customers",
            "/staff/customers/new",
            number="999E000001",
            name="Layla Haddad",
            language="ar",
            email="layla@example.org",
        )
        assert created.status_code == 303
        letter = post(worker, "/staff/customers/999E000001/letter", "/staff/customers/999E000001")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(letter.content)).pages)
        code_match = CODE_RE.search(text)
        assert code_match and "999E000001" in text

        # The customer activates with the letter, consents, uploads.
        activated = post(
            citizen,
            "/activate",
            "/activate",
            customer_number="999E000001",
            code=code_match.group(0),
            password=PASSWORD,
            password_repeat=PASSWORD,
        )
        assert activated.status_code == 303
        assert post(citizen, "/profile/consent", "/profile", consent="1").status_code == 303
        payslip = documents.pdf("Lohnabrechnung Mai")
        sent = citizen.post(
            "/documents",
            data={"_csrf": csrf(citizen, "/documents/new"), "category": "payslip"},
            files=[("files", ("lohn.pdf", payslip, "application/pdf"))],
        )
        assert sent.status_code == 303
        reference = sent.headers["location"].split("/")[2].split("?")[0]

        # The caseworker processes it and sends a notice.
        assert reference in worker.get("/staff").text
        page = f"/staff/submissions/{reference}"
        assert worker.get(f"{page}/files/0").content == payslip
        assert post(worker, f"{page}/assign", page, assignee="me").status_code == 303
        assert post(worker, f"{page}/status", page, status="done").status_code == 303
        notice = worker.post(
            "/staff/customers/999E000001/notices",
            data={"_csrf": csrf(worker, "/staff/customers/999E000001"), "title": "Bescheid"},
            files=[("file", ("bescheid.pdf", documents.pdf("Bescheid"), "application/pdf"))],
        )
        assert notice.headers["location"].endswith("?sent=electronic")

        # The mail arrives: no content, a link to sign in, in the customer's language.
        mails = wait_for_mail(tmp_path / "var" / "mail", time.monotonic() + 60)
        assert len(mails) == 1
        message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
        assert message["To"] == "layla@example.org"
        assert message["Content-Language"] == "ar"
        assert "Bescheid" not in message.as_string()

        # The customer opens the notice; the caseworker sees opened-at and the deemed date.
        inbox = citizen.get("/notices/")
        notice_id = re.search(r'href="/notices/(\d+)"', inbox.text)
        assert notice_id
        assert citizen.get(f"/notices/{notice_id.group(1)}").status_code == 200
        overview = worker.get("/staff/notices").text
        assert re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", overview), overview  # deemed received
        assert overview.count("<td>-</td>") == 1  # only downloaded-at is still empty

        # The export API hands it over and acknowledges it.
        api = httpx.Client(base_url=app.url, headers={"authorization": f"Bearer {api_token}"})
        listing = api.get("/api/v1/submissions").json()
        assert reference in [item["reference"] for item in listing["items"]]
        meta = api.get(f"/api/v1/submissions/{reference}").json()
        stream = api.get(meta["files"][0]["url"])
        assert hashlib.sha256(stream.content).hexdigest() == meta["files"][0]["sha256"]
        ack = api.post(f"/api/v1/submissions/{reference}/acknowledge").json()
        assert ack["status"] == "transferred"

        # The admin sees all of it in the audit trail, and the chain holds.
        admin = httpx.Client(base_url=app.url, headers={"accept-language": "en"})
        staff_sign_in(admin, *people["admin"])
        trail = admin.get("/staff/admin/audit?verify=1").text
        for action in (
            "staff.signin.totp",
            "customer.created",
            "customer.letter",
            "customer.activated",
            "customer.consent_given",
            "submission.received",
            "file.downloaded",
            "submission.status.done",
            "notice.sent",
            "mail.sent.notice",
            "notice.opened",
            "api.file_read",
            "api.acknowledged",
        ):
            assert action in trail, action
        assert "The chain is intact" in trail
        verified = cli(tmp_path, "audit", "verify")
        assert verified.returncode == 0 and "intact" in verified.stdout, verified.stderr

        # Recovery: a lost phone. After `staff reset-2fa` the next sign-in enrols again.
        reset = cli(tmp_path, "staff", "reset-2fa", people["caseworker"][0])
        assert reset.returncode == 0, reset.stderr
        assert worker.get("/staff").status_code == 303  # their sessions ended
        again = post(
            worker,
            "/staff/signin",
            "/staff/signin",
            username=people["caseworker"][0],
            password=people["caseworker"][1],
        )
        assert again.headers["location"] == "/staff/enrol"
        # The first admin of a real installation comes from the CLI.
        made = cli(
            tmp_path,
            "staff",
            "create",
            "--username",
            "it.admin",
            "--name",
            "IT",
            "--role",
            "admin",
            env={"DOKPORTAL_STAFF_PASSWORD": "Lange-Geheime-Phrase-1"},
        )
        assert made.returncode == 0 and "Created admin it.admin" in made.stdout, made.stderr
        # Retention, run by hand with zero days: the transferred submission goes.
        swept = cli(tmp_path, "retention", "run", "--days", "0")
        assert swept.returncode == 0 and "deleted 1 submissions" in swept.stdout, swept.stderr
        assert api.get(f"/api/v1/submissions/{reference}").status_code == 404
        assert cli(tmp_path, "audit", "verify").returncode == 0
        for client in (worker, citizen, api, admin):
            client.close()
