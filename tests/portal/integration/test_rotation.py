"""A full key rotation (new primary, rewrap, old key removed) breaks nothing.

Before the rotation the portal holds one of each wrapped secret: a customer's upload, a notice
and a staff member's TOTP secret. After `rewrap_all` and retiring the old key, a fresh app
(loading the new keyring file, as restarted pods do) must serve every feature that unwraps
something. And a missing key answers 503 before any byte of a download.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

from dokportal.api.services import create_token
from dokportal.app import create_app
from dokportal.crypto import Keyring
from dokportal.files.tables import StoredFile
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.staff import totp
from dokportal.staff.services import ensure_team
from dokportal.staff.tables import StaffAccount
from dokportal.wrapped_secrets import KINDS, missing_key_ids, rewrap_all
from tests.portal.conftest import Person, PortalClient, csrf_of, portal_client, sign_in
from tests.portal.integration.staff.conftest import (
    StaffMember,
    make_staff,
    put_in_team,
    staff_post,
    upload,
    use,
)
from tests.support import documents

PORTAL = Path(__file__).resolve().parents[3] / "portal" / "dokportal"


async def _staff_sign_in(client: PortalClient, member: StaffMember, ahead: int = 0) -> None:
    """Password, then the TOTP code: the second step unwraps the secret. A code is single-use,
    so a second sign-in within 30 seconds uses the next step's (inside the window)."""
    client.cookies.clear()
    first = await staff_post(
        client, "/staff/signin", {"username": member.username, "password": "Arbeitsplatz-2026!"}
    )
    assert first.headers["location"] == "/staff/signin/code", first.text[:300]
    done = await staff_post(
        client,
        "/staff/signin/code",
        {"code": member.code(totp.current_step() + ahead)},
        "/staff/signin/code",
    )
    assert done.status_code == 303 and done.headers["location"] == "/staff", done.text[:300]


async def _send_notice(client: PortalClient, number: str, content: bytes) -> Notice:
    token = await csrf_of(client, f"/staff/customers/{number}")
    sent = await client.post(
        f"/staff/customers/{number}/notices",
        data={"_csrf": token, "title": "Bescheid", "message": "Bitte lesen"},
        files=[("file", ("bescheid.pdf", content, "application/pdf"))],
    )
    assert sent.status_code == 303, sent.text[:300]
    notice = await Notice.objects().order_by(Notice.id, ascending=False).first()
    assert notice is not None
    return notice


async def test_everything_works_after_rotation_rewrap_and_retiring_the_old_key(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    customer_cookies = dict(client.cookies)
    letter = documents.pdf("Lohnabrechnung")
    reference = await upload(client, ("lohn.pdf", letter, "application/pdf"))
    lead = await make_staff(settings, "lena", "team_lead", "team-a")
    await _staff_sign_in(client, lead)
    old_notice = documents.pdf("Alter Bescheid")
    notice_before = await _send_notice(client, customer.number, old_notice)
    api_token, _ = await create_token("e-Akte", ["read"], None)

    old = Keyring.load(settings.keyring_path)
    rotated = old.with_new_primary()
    rotated.save(settings.keyring_path)
    counts = {count.label: count for count in await rewrap_all(rotated, settings.tenant.slug)}
    assert counts["stored files"].rewrapped == 2  # the upload and the notice
    assert counts["staff TOTP secrets"].rewrapped == 1
    assert not any(count.rewrapped for count in await rewrap_all(rotated, settings.tenant.slug))
    retired = rotated.without_key(old.primary_id)
    retired.save(settings.keyring_path)
    assert await missing_key_ids(retired) == []
    assert {row["key_id"] for row in await StoredFile.select(StoredFile.key_id)} == {
        retired.primary_id
    }

    # A restarted portal: only the new key.
    app = create_app(settings)
    async with portal_client(app) as after:
        assert (await after.get("/readyz")).status_code == 200
        await _staff_sign_in(after, lead, ahead=1)
        staff_view = await after.get(f"/staff/submissions/{reference}/files/0")
        assert staff_view.status_code == 200 and staff_view.content == letter
        with zipfile.ZipFile(
            io.BytesIO((await after.get(f"/staff/submissions/{reference}/bundle.zip")).content)
        ) as bundle:
            assert bundle.read("01-lohn.pdf") == letter
        export = await after.get(f"/staff/submissions/{reference}/xdomea.zip")
        assert export.status_code == 200
        with zipfile.ZipFile(io.BytesIO(export.content)) as handover:
            assert handover.read("01-lohn.pdf") == letter
            assert hashlib.sha256(letter).hexdigest().encode() in handover.read("manifest.xml")
        merged = await after.get(f"/staff/submissions/{reference}/bundle.pdf")
        assert merged.status_code == 200 and merged.content.startswith(b"%PDF")
        new_notice = documents.pdf("Neuer Bescheid")
        notice_after = await _send_notice(after, customer.number, new_notice)

        api = await after.get(
            f"/api/v1/submissions/{reference}/files/0",
            headers={"authorization": f"Bearer {api_token}"},
        )
        assert api.status_code == 200 and api.content == letter

        use(after, customer_cookies)
        assert (await sign_in(after, customer.number)).status_code == 303
        receipt = await after.get(f"/documents/{reference}")
        assert receipt.status_code == 200 and hashlib.sha256(letter).hexdigest() in receipt.text
        assert (await after.get(f"/documents/{reference}/receipt.pdf")).status_code == 200
        for notice, content in ((notice_before, old_notice), (notice_after, new_notice)):
            assert (await after.get(f"/notices/{notice.id}")).status_code == 200
            read = await after.get(f"/notices/{notice.id}/file")
            assert read.status_code == 200 and read.content == content


async def test_a_missing_key_answers_503_before_any_byte(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """The keyring lost the key: every download is a 503 page, never 200 with no body."""
    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    customer_cookies = dict(client.cookies)
    reference = await upload(client)
    lead = await make_staff(settings, "lena", "team_lead", "team-a")
    await _staff_sign_in(client, lead)
    notice = await _send_notice(client, customer.number, documents.pdf("Bescheid"))
    api_token, _ = await create_token("e-Akte", ["read"], None)
    staff_cookies = dict(client.cookies)

    needed = Keyring.load(settings.keyring_path).primary_id
    stranger = Keyring.generate()
    stranger.save(settings.keyring_path)
    assert await missing_key_ids(stranger) == [needed]
    app = create_app(settings)
    async with portal_client(app) as after:
        ready = await after.get("/readyz")
        assert ready.status_code == 503
        assert needed in ready.json()["keys_missing"]

        use(after, staff_cookies)
        for path in (
            f"/staff/submissions/{reference}/files/0",
            f"/staff/submissions/{reference}/bundle.zip",
            f"/staff/submissions/{reference}/bundle.pdf",
            f"/staff/submissions/{reference}/xdomea.zip",
        ):
            response = await after.get(path)
            assert response.status_code == 503, path
            assert "content-disposition" not in response.headers
            assert "key to decrypt it is not available" in response.text
            assert response.headers["retry-after"].isdigit()
        api = await after.get(
            f"/api/v1/submissions/{reference}/files/0",
            headers={"authorization": f"Bearer {api_token}"},
        )
        assert api.status_code == 503 and "x-content-sha256" not in api.headers
        assert "not available" in api.json()["error"]
        # The TOTP step cannot unwrap either: a 503 page, not a 500.
        after.cookies.clear()
        await staff_post(
            after, "/staff/signin", {"username": "lena", "password": "Arbeitsplatz-2026!"}
        )
        code = await staff_post(
            after,
            "/staff/signin/code",
            {"code": lead.code(totp.current_step() + 1)},
            "/staff/signin/code",
        )
        assert code.status_code == 503 and "Two-factor sign-in is not possible" in code.text

        use(after, customer_cookies)
        download = await after.get(f"/notices/{notice.id}/file")
        assert download.status_code == 503 and download.headers["content-type"].startswith(
            "text/html"
        )
        unread = await Notice.objects().where(Notice.id == notice.id).first()
        assert unread is not None and unread.downloaded_at is None


def test_every_wrapped_secret_is_known_to_rewrap() -> None:
    """Whoever wraps a secret with the keyring must list its column in wrapped_secrets.KINDS;
    these are the only modules that do, and each is covered there."""
    wrapping = sorted(
        str(path.relative_to(PORTAL))
        for path in PORTAL.rglob("*.py")
        if re.search(r"\bwrap_data_key\(", path.read_text()) and "crypto" not in path.parts
    )
    assert wrapping == ["files/ingest.py", "staff/totp.py"], wrapping
    labels = {kind.label for kind in KINDS}
    assert labels == {"stored files", "staff TOTP secrets"}
    assert {kind.table for kind in KINDS} == {StoredFile, StaffAccount}
